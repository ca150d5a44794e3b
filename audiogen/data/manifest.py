"""Dataset manifests: JSON lines, one clip per line.

Fields of a row (only `path` and `duration` are required):
    path         audio file, absolute or relative to the manifest's directory
    duration     seconds
    sample_rate  Hz of the file
    channels     channel count of the file
    captions     list of captions (one is drawn at random when training); may be empty
    split        "train" | "valid" | "test"
    group        source grouping: clips cut from one source file share it, so that a split
                 never holds one source file in two splits
    label        class label (for corpora that have one; used by the judge and KL)
    source       where it comes from (e.g. a Debian package name or "procedural")
    license      licence of the audio
    attribution  author / copyright line required by the licence
Unknown fields are kept, so tools can add their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from audiogen.errors import AudiogenError
from audiogen.fileio import atomic_path


@dataclass
class ManifestEntry:
    path: str
    duration: float
    sample_rate: int = 0
    channels: int = 0
    captions: list[str] = field(default_factory=list)
    split: str = "train"
    group: str = ""
    label: str = ""
    source: str = ""
    license: str = ""
    attribution: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        extra = row.pop("extra")
        row.update(extra)
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> ManifestEntry:
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in row.items() if k in known}
        if isinstance(kwargs.get("captions"), str):
            kwargs["captions"] = [kwargs["captions"]]
        return cls(**kwargs, extra={k: v for k, v in row.items() if k not in known})


def read_manifest(path: str | os.PathLike, split: str | None = None,
                  resolve_paths: bool = True) -> list[ManifestEntry]:
    """Read a JSONL manifest; relative audio paths are made absolute against its directory."""
    path = Path(path)
    if not path.is_file():
        raise AudiogenError(f"{path}: no such manifest. Build one with `audiogen data index`.")
    entries = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise AudiogenError(f"{path}: not a manifest (not UTF-8 text: {e}).") from e
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            entry = ManifestEntry.from_json(row)
        except (json.JSONDecodeError, TypeError, AttributeError) as e:
            raise AudiogenError(f"{path}:{lineno}: not a manifest row ({e}).") from e
        if resolve_paths and not os.path.isabs(entry.path):
            entry.path = str((path.parent / entry.path).resolve())
        if split is None or entry.split == split:
            entries.append(entry)
    return entries


def write_manifest(path: str | os.PathLike, entries: Iterable[ManifestEntry]) -> Path:
    """Write entries as JSONL, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.writelines(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in entries)
    return path
