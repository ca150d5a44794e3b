"""On-disk cache of per-file embeddings, so a fixed reference set is embedded once.

A file's entry is keyed by the embedder's settings, the evaluation sample rate and the file's
absolute path, size and modification time: editing or replacing a file, or changing the
embedder, misses the cache. Entries are `.npz` files (frames `[F, D]` float64 and the clip's
peak, for the silence check), written atomically and read without pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from audiogen.fileio import atomic_path


class EmbeddingCache:
    def __init__(self, directory: str | os.PathLike, embedder: dict[str, Any],
                 eval_rate: int | None):
        self.directory = Path(directory)
        self.settings = json.dumps({"embedder": embedder, "eval_rate": eval_rate},
                                   sort_keys=True)

    def _entry(self, path: Path) -> Path:
        st = path.stat()
        key = f"{self.settings}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def get(self, path: Path) -> tuple[np.ndarray, float] | None:
        """(frames, peak) of `path`, or None when not cached (or the entry is damaged)."""
        entry = self._entry(path)
        if not entry.is_file():
            return None
        try:
            with np.load(entry, allow_pickle=False) as data:
                return data["frames"], float(data["peak"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            # a damaged entry is a miss: it is computed and written again
            return None

    def put(self, path: Path, frames: np.ndarray, peak: float) -> None:
        with atomic_path(self._entry(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, frames=frames, peak=np.float64(peak))
