"""Where evaluation weights live: a per-user cache, and checks that name what is missing.

Nothing here downloads: weights are either shipped inside an installed package (aisfx) or put
in a directory by the user (CLAP, the project's codec, VGGish, PANNs). Converted copies go to
`cache_dir()`.
"""

from __future__ import annotations

import os
from pathlib import Path

from audiogen.errors import AudiogenError, MissingFilesError


def cache_dir() -> Path:
    """$AUDIOGEN_CACHE, else $XDG_CACHE_HOME/audiogen, else ~/.cache/audiogen."""
    if os.environ.get("AUDIOGEN_CACHE"):
        return Path(os.environ["AUDIOGEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audiogen"


def default_clap_dir() -> Path:
    """Where a LAION-CLAP checkpoint (transformers format) is looked for by default."""
    return cache_dir() / "clap"


def find_weights_file(path: str | os.PathLike, names: list[str], what: str,
                      hint: str) -> Path:
    """The weights file `path` points to: the file itself, or the first of `names` inside it.

    A missing file or a directory holding none of `names` raises `MissingFilesError` listing
    the expected file names and the directory they go in.
    """
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for name in names:
            if (path / name).is_file():
                return path / name
        raise MissingFilesError(what, names, str(path), hint)
    raise MissingFilesError(what, [path.name if path.suffix else names[0]],
                            str(path.parent if path.suffix else path), hint)


def read_torch_weights(path: Path, what: str, hint: str = "") -> dict:
    """The dict pickled in a PyTorch checkpoint, read by torch's weights-only unpickler.

    Public checkpoints often store numpy arrays or scalars beside the tensors (PCA parameters,
    a data sampler's state), so numpy's array and scalar constructors are allowed; nothing
    else is, and numpy arrays come back as tensors. `hint` ends the message of a refusal.
    """
    import numpy as np
    import torch

    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core
    allowed = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "bool")]
    try:
        with torch.serialization.safe_globals(allowed):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError or RuntimeError depending on the file
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        # torch's message is long; its "WeightsUnpickler error" line names what was refused
        reason = next((ln.split(" Please use")[0] for ln in lines if "Unpickler error" in ln),
                      f"{type(e).__name__}: {lines[0]}")
        raise AudiogenError(f"{what}: cannot read {path} as a PyTorch weights file with the "
                            f"safe (weights-only) loader: {reason[:300]}"
                            + (f"\n{hint}" if hint else "")) from e
    if not isinstance(data, dict):
        raise AudiogenError(f"{what}: {path} holds a {type(data).__name__}, not a dict of "
                            "weights.")
    return {k: torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v
            for k, v in data.items()}
