"""Atomic writes: nothing already on disk is lost if a write is interrupted.

Every file the package writes (checkpoints, audio, codes, manifests, reports) goes through
`atomic_path`: the caller writes a temporary file beside the target, which is renamed over the
target only once the write finished. A rename within one directory is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audiogen.errors import DamagedFileError


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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    # mkstemp creates the file 0600; give it the mode an ordinary open() would
    os.chmod(tmp, plain_file_mode())
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


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
