"""Model directories: one JSON file of settings and one safetensors file of weights per model.

The codec (`codec.json` + `codec.safetensors`), the LM (`lm.json` + `lm.safetensors`) and the
judge (`judge.json` + `judge.safetensors`) are all stored this way, described by a `ModelFiles`:

    STEM.json          {"format": FORMAT, "version": VERSION, "config": {...}, ...}
    STEM.safetensors   the state dict, with {"format": FORMAT} as safetensors metadata

A codec and an LM share one directory, so a save writes both files into a hidden temporary
folder inside the directory and then renames them into place, weights first and JSON last: an
interrupted save leaves the previous files (and, at worst, a stray temporary folder), never a
half-written one.

Reading is strict, because a damaged or hand-edited file must fail with a message naming the
file and the fault rather than a traceback or a silent default: unreadable JSON, a wrong
format, an unreadable weights file, and in a config section (`parse_config`) every missing,
unknown or mistyped setting. Keys beside the ones a reader needs (e.g. "trained_by") are the
writer's notes and are kept as they are.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file, save_file

from audiogen.errors import AudiogenError, DamagedFileError, MissingFilesError
from audiogen.fileio import plain_file_mode, read_json, write_json

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_value(value: Any, tp: Any, where: str) -> Any:
    """`value` (parsed JSON) checked against the annotation `tp`; ints are accepted (and
    converted) where a float is expected. Raises AudiogenError naming `where`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return check_value(value, options[0], where)
    elif origin is list:
        if isinstance(value, list):
            (item,) = typing.get_args(tp) or (Any,)
            return [check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is tuple:
        items = typing.get_args(tp)
        if isinstance(value, (list, tuple)) and len(value) == len(items):
            return tuple(check_value(v, t, f"{where}[{i}]")
                         for i, (v, t) in enumerate(zip(value, items)))
    elif dataclasses.is_dataclass(tp):
        return parse_config(tp, value, where)
    elif tp is Any:
        return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise AudiogenError(f"{where}: expected a finite number, got {value!r}.")
            return float(value)
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise AudiogenError(f"{where}: expected {_type_name(tp)}, got {value!r}.")


def parse_config(cls: type[T], data: Any, where: str, partial: bool = False) -> T:
    """The dataclass `cls` built from `data` (parsed JSON), checked field by field against
    the annotations: an unknown key, a missing one (unless `partial`: then the defaults fill
    in) or a mistyped value is an AudiogenError naming `where` and the key."""
    if not isinstance(data, dict):
        raise AudiogenError(f"{where}: expected an object of settings, got {data!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in hints or k not in names]
    if unknown:
        raise AudiogenError(f"{where}: unknown setting(s) {', '.join(map(str, unknown))} "
                            f"(valid: {', '.join(names)}).")
    missing = [n for n in names if n not in data]
    if missing and not partial:
        raise AudiogenError(f"{where}: missing setting(s) {', '.join(missing)}; the file is "
                            f"incomplete (write it again with the command that made it).")
    values = {k: check_value(v, hints[k], f"{where}: {k}") for k, v in data.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError, AudiogenError) as e:
        raise AudiogenError(f"{where}: inconsistent settings: {e}") from e


def require(meta: dict[str, Any], key: str, tp: Any, path: Path) -> Any:
    """meta[key] checked against the annotation `tp`; missing or mistyped: AudiogenError."""
    if key not in meta:
        raise AudiogenError(f"{path}: missing key {key!r}; the file is incomplete (write it "
                            f"again with the command that made it).")
    return check_value(meta[key], tp, f"{path}: {key}")


def read_weights(path: Path, device: str | torch.device = "cpu",
                 fix: str = "copy it again or write it again with the command that made it",
                 ) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a missing, empty, truncated or foreign file is a
    DamagedFileError naming it and `fix`."""
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors raises several types for a damaged file
        raise DamagedFileError(
            f"{path}: damaged or not a safetensors weights file ({one_line(e)}); {fix}.") from e


@dataclass(frozen=True)
class ModelFiles:
    """The two files of one model in a model directory, and how to read and write them."""

    stem: str  # file names: STEM.json and STEM.safetensors
    format: str  # the "format" value written in both files and required on reading
    version: int  # the "version" value written in the JSON and required on reading
    what: str  # the model's name in messages, e.g. "codec"
    hint: str  # how to make one, shown when the files are missing

    @property
    def config_file(self) -> str:
        return f"{self.stem}.json"

    @property
    def weights_file(self) -> str:
        return f"{self.stem}.safetensors"

    def save(self, directory: str | os.PathLike, tensors: dict[str, torch.Tensor],
             meta: dict[str, Any]) -> None:
        """Write STEM.safetensors (`tensors`, copied to the CPU) and STEM.json
        ({"format", "version", **meta}) through a temporary folder, JSON last."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.stem}.tmp-", dir=directory))
        try:
            tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
            save_file(tensors, str(tmp / self.weights_file), metadata={"format": self.format})
            write_json(tmp / self.config_file,
                       {"format": self.format, "version": self.version, **meta})
            for name in (self.weights_file, self.config_file):
                (tmp / name).chmod(plain_file_mode())  # safetensors creates its file 0600
                os.replace(tmp / name, directory / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def read_meta(self, directory: str | os.PathLike) -> dict[str, Any]:
        """STEM.json of `directory`, its format and version checked (both files must exist)."""
        directory = Path(directory)
        missing = [f for f in (self.config_file, self.weights_file)
                   if not (directory / f).is_file()]
        if missing:
            raise MissingFilesError(self.what, missing, str(directory), self.hint)
        path = directory / self.config_file
        meta = read_json(path)
        if not isinstance(meta, dict):
            raise AudiogenError(f"{path}: expected a JSON object, got {type(meta).__name__}.")
        if meta.get("format") != self.format or meta.get("version") != self.version:
            raise AudiogenError(
                f"{path}: not an {self.format} file of version {self.version} "
                f"(format={meta.get('format')!r}, version={meta.get('version')!r}).")
        return meta

    def config(self, directory: str | os.PathLike, meta: dict[str, Any], cls: type[T]) -> T:
        """meta["config"] parsed strictly into the dataclass `cls`."""
        path = Path(directory) / self.config_file
        return parse_config(cls, require(meta, "config", Any, path), f"{path}: config")

    def read_weights(self, directory: str | os.PathLike, device: str | torch.device = "cpu",
                     ) -> dict[str, torch.Tensor]:
        return read_weights(Path(directory) / self.weights_file, device)

    def build(self, directory: str | os.PathLike, make: typing.Callable[[], T]) -> T:
        """`make()` (a model built from a parsed config, loading weights strictly), with a
        config the model rejects or weights that do not fit it reported as an AudiogenError."""
        try:
            return make()
        except (RuntimeError, ValueError) as e:
            raise AudiogenError(
                f"{Path(directory) / self.weights_file} does not match its {self.config_file} "
                f"(one of the two is damaged or from another model): {one_line(e)}") from e


def one_line(error: Exception, limit: int = 300) -> str:
    """An exception's text on one line, cut to `limit` characters (torch lists every
    mismatched weight on its own line)."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."

