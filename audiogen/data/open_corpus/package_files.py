"""The files of an installed package's sound folder or zip archive, listed the same way for
every user (the captioned corpus's sound tables and the codec's recordings set).

Some games keep their sounds in a zip archive rather than a folder: 0 A.D. in public.zip,
Warzone 2100 in base.wz, OpenArena in .pk3 files. All are read in place, without unpacking.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path


def is_present(root: Path, base: str) -> bool:
    """Whether `base` (a folder or a zip archive, relative to `root`) is installed."""
    return (root / base).exists()


def package_files(root: Path, base: str) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(path inside `base`, reader of its bytes) for every file of the folder or zip archive
    `root/base`, in sorted order; nothing when it is absent."""
    where = root / base
    if where.is_file() and zipfile.is_zipfile(where):
        archive = zipfile.ZipFile(where)
        for name in sorted(archive.namelist()):
            if not name.endswith("/"):
                yield name, (lambda n=name, a=archive: a.read(n))
    elif where.is_dir():
        for path in sorted(p for p in where.rglob("*") if p.is_file()):
            yield path.relative_to(where).as_posix(), path.read_bytes
