"""Derived seeds: one deterministic seed per (run seed, purpose, step, ...) tuple.

Training draws its randomness step by step from seeds derived here rather than from one
long-running RNG stream, so a resumed run draws exactly what an uninterrupted one would, and
each process, micro-batch and purpose gets its own independent stream.
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A seed in [0, 2**63) from the parts' text (SHA-256, so nearby parts give unrelated
    seeds); e.g. `derive_seed(run_seed, "step", step, rank)`."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)
