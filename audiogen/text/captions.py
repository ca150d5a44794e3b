"""Caption cleaning, shared by training and inference.

The reference lowercases captions in its training data but not at inference (audiocraft); using
this one function on both sides keeps the two in step.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def clean_caption(text: str | None) -> str:
    """Lowercase, NFKC-normalise, strip and collapse whitespace. None becomes ''.

    An empty result means "no condition" (unconditional generation).
    """
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    return _SPACES.sub(" ", text).strip().lower()


def join_captions(a: str, b: str) -> str:
    """Caption of a mix of two clips: both captions joined, once if they are the same (paper)."""
    a, b = clean_caption(a), clean_caption(b)
    if not a or a == b:
        return b
    if not b:
        return a
    return f"{a} and {b}"
