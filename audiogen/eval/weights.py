"""Where evaluation weights live: a per-user cache, and checks that name what is missing.

Nothing here downloads: weights are either shipped inside an installed package (aisfx) or put
in a directory by the user (CLAP, the project's codec). Converted copies go to `cache_dir()`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$AUDIOGEN_CACHE, else $XDG_CACHE_HOME/audiogen, else ~/.cache/audiogen."""
    if os.environ.get("AUDIOGEN_CACHE"):
        return Path(os.environ["AUDIOGEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audiogen"


def default_clap_dir() -> Path:
    """Where a LAION-CLAP checkpoint (transformers format) is looked for by default."""
    return cache_dir() / "clap"
