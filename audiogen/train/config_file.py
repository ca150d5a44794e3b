"""The YAML file format of training configurations (codec and LM), and the packaged presets.

A config file is YAML with one `key: value  # what it means` line per setting, grouped by
section, exactly what `config_to_yaml` writes: the comments come from the dataclass's source
(`name: type = default  # comment`, continued on `# ...` lines; `# --- section ---` lines), so
the file and the class never disagree. Settings left out keep their defaults; an unknown key is
an error listing the valid ones. The packaged presets live in audiogen/configs/, written by
tools/make_train_configs.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml

from audiogen.errors import AudiogenError
from audiogen.train.overrides import config_to_dict

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

Config = TypeVar("Config")

_FIELD = re.compile(r"^    (\w+): [^=]+= .*?(?:  # (.*))?$")
_MORE = re.compile(r"^    # (?!---)(.*)$")
_SECTION = re.compile(r"^    # (--- .* ---)$")


def _layout(cls: type) -> list[tuple[str, str, str]]:
    """("section", title, "") and ("field", name, comment) in the order of the class source."""
    out: list[tuple[str, str, str]] = []
    for line in inspect.getsource(cls).splitlines():
        if m := _SECTION.match(line):
            out.append(("section", m.group(1), ""))
        elif m := _FIELD.match(line):
            out.append(("field", m.group(1), m.group(2) or ""))
        elif (m := _MORE.match(line)) and out and out[-1][0] == "field":
            kind, name, comment = out[-1]
            out[-1] = (kind, name, f"{comment} {m.group(1)}".strip())
    return out


def config_to_yaml(config: Any, header: str = "") -> str:
    """The full dataclass config as commented YAML (what a person edits, and what a run
    prints); `header`: comment lines on top."""
    values = config_to_dict(config)
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    for kind, name, comment in _layout(type(config)):
        if kind == "section":
            lines += ["", f"# {name}"]
            continue
        value = yaml.safe_dump(values[name], default_flow_style=True, width=10_000).strip()
        value = value.removesuffix("\n...").strip()
        lines.append(f"{name}: {value}" + (f"  # {comment}" if comment else ""))
    return "\n".join(lines).lstrip("\n") + "\n"


def config_from_dict(cls: type[Config], data: dict[str, Any], where: str = "config") -> Config:
    """Build a `cls` config from parsed YAML, checking names and types against its defaults."""
    defaults = cls()
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise AudiogenError(f"{where}: unknown setting(s) {', '.join(unknown)}; "
                            f"valid settings: {', '.join(names)}.")
    values = {}
    for key, value in data.items():
        current = getattr(defaults, key)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(current, dict) and value is None:
            value = {}
        elif isinstance(current, str) and value is None:
            value = ""
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)  # YAML has lists only
        ok = type(value) is type(current) or (isinstance(current, list) and isinstance(value, list))
        if not ok:
            raise AudiogenError(f"{where}: {key}: expected a value like {current!r} "
                                f"({type(current).__name__}), got {value!r}.")
        values[key] = value
    return cls(**values)


def load_config(cls: type[Config], presets: dict[str, str],
                name_or_path: str | os.PathLike) -> Config:
    """Read a YAML config file, or a packaged preset by name (`presets`: name -> file name in
    audiogen/configs/)."""
    path = Path(name_or_path)
    if not path.is_file():
        if str(name_or_path) not in presets:
            raise AudiogenError(f"{name_or_path}: no such config file, nor a preset "
                                f"({', '.join(presets)}).")
        path = CONFIG_DIR / presets[str(name_or_path)]
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise AudiogenError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise AudiogenError(f"{path}: expected `key: value` lines at the top level.")
    return config_from_dict(cls, data, str(path))
