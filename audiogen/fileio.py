"""Atomic writes: nothing already on disk is lost if a write is interrupted.

Every file the package writes (checkpoints, audio, codes, manifests, reports) goes through
`atomic_path`: the caller writes a temporary file beside the target, which is renamed over the
target only once the write finished. A rename within one directory is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audiogen.errors import AudiogenError, DamagedFileError


def plain_file_mode() -> int:
    """The mode an ordinary open() gives a new file: 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds.

    `suffix` defaults to the target's own suffix, so writers that infer a format from the file
    name (soundfile, safetensors) still see it.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
            dir=target.parent,
        )
    except OSError as e:
        raise write_error(target, e) from e
    os.close(fd)
    # mkstemp creates the file 0600; give it the mode an ordinary open() would
    os.chmod(tmp, plain_file_mode())
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as e:  # disk full, permissions, ...: a message, not a traceback
        tmp_path.unlink(missing_ok=True)
        raise write_error(target, e) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_error(target: str | os.PathLike, error: OSError) -> AudiogenError:
    """A failed write as a user-facing error: the file and the system's reason."""
    return AudiogenError(f"cannot write {target}: {error.strerror or error}.")


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...] = ()) -> Path:
    """Refuse, before any work, an output file that could not be written.

    suffixes: the allowed extensions (lower case, with the dot); empty allows any.
    """
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise AudiogenError(f"{path}: not a {'/'.join(suffixes)} file name; give a file name "
                            f"ending in {', '.join(suffixes)}.")
    if path.is_dir():
        raise AudiogenError(f"{path} is a folder; give a file name.")
    check_output_dir(path.parent)
    return path


def check_output_dir(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output folder that could not be created or written into."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the folders below it will be created
    if not existing.is_dir():
        raise AudiogenError(f"cannot write into {path}: {existing} is a file, not a folder.")
    try:  # os.access would not see a read-only file system, nor refuse anything to root
        fd, probe = tempfile.mkstemp(prefix=".audiogen-write-test.", dir=existing)
    except OSError as e:
        raise AudiogenError(f"cannot write into {path}: {existing}: {e.strerror or e}; "
                            "choose another output location.") from e
    os.close(fd)
    os.unlink(probe)
    return path


def write_json(target: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Parsed JSON; an unreadable, cut-short or non-JSON file is a DamagedFileError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise DamagedFileError(f"{path}: cannot read it ({e.strerror or e}).") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedFileError(f"{path}: damaged or not a JSON file ({e}); copy it again or "
                               f"write it again with the command that made it.") from e


def slug(text: str, limit: int = 48) -> str:
    """A file-name-safe short form of `text` (a prompt): lower case, dashes, at most `limit`."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")
    return s or "unconditional"


def short_names(paths: list[str]) -> list[str]:
    """Short distinct names: the last path component (the folder of a `manifest.jsonl`), with
    as many parent folders as it takes to tell the paths apart."""
    parts = []
    for path in paths:
        p = Path(path)
        p = p.parent if p.name == "manifest.jsonl" else p
        parts.append([q for q in (p.parts if p.suffix == "" else p.with_suffix("").parts)
                      if q not in ("", "/")])
    for depth in range(1, max(len(x) for x in parts) + 1):
        names = ["/".join(x[-depth:]) for x in parts]
        if len(set(names)) == len(names):
            return names
    raise AudiogenError(f"{', '.join(paths)}: the same path is given twice.")
