"""Where the package's default model lives: audiogen/assets/default_model.

Commands that take `--model DIR` fall back to this directory when DIR is not given, so a fresh
install generates out of the box once the default model has been trained and placed there.
"""

from __future__ import annotations

from pathlib import Path

from audiogen.errors import MissingFilesError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "default_model"


def default_model_dir() -> Path:
    """The default model directory; MissingFilesError listing its files if any is absent."""
    from audiogen.api import MODEL_FILES  # here, not at import: audiogen.api imports torch

    missing = [f for f in MODEL_FILES if not (DEFAULT_MODEL_DIR / f).is_file()]
    if missing:
        raise MissingFilesError(
            "default model", missing, str(DEFAULT_MODEL_DIR),
            "The default model's files are missing from this installation (they ship in the "
            "repository): reinstall from a full checkout, pass --model DIR (a directory written "
            "by `audiogen train lm` or `audiogen convert-audiocraft`), or retrain the default "
            "model into that folder with `make train-default`.")
    return DEFAULT_MODEL_DIR
