"""Derived seeds: one deterministic seed per (run seed, purpose, step, ...) tuple.

Training draws its randomness step by step from seeds derived here rather than from one
long-running RNG stream, so a resumed run draws exactly what an uninterrupted one would, and
each process, micro-batch and purpose gets its own independent stream.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*parts: object) -> int:
    """A seed in [0, 2**63) from the parts' text (SHA-256, so nearby parts give unrelated
    seeds); e.g. `derive_seed(run_seed, "step", step, rank)`."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)


def host_uniform(*parts: object) -> float:
    """A number in [0, 1) from the seed `derive_seed(*parts)`, drawn on the host without a
    tensor: exactly what `torch.rand((), generator=torch.Generator().manual_seed(seed))` gives
    (the first output of a Mersenne Twister seeded with the seed's low 32 bits, 24 of its bits
    kept), so code that drew it from torch before keeps its numbers (tests/test_train_utils.py
    compares the two)."""
    seed = derive_seed(*parts) & 0xFFFFFFFF
    first = np.random.RandomState(seed).randint(2**32, dtype=np.uint64)
    return int(first & 0xFFFFFF) / 2**24
