"""Learning-rate schedules as multipliers of the base rate, a function of the step alone.

    inverse_sqrt (audiocraft):   linear warm-up to 1, then sqrt(warmup / step)
    cosine:                      linear warm-up to 1, then half a cosine down to min_ratio at total
    constant:                    linear warm-up to 1, then 1

A pure function of the step keeps resuming exact: the scheduler's only state is the step count.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("inverse_sqrt", "cosine", "constant")


def lr_factor(step: int, kind: str, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate for optimizer step `step` (0-based)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; expected one of {SCHEDULES}")
    step = step + 1  # the first update already gets a non-zero rate
    if warmup > 0 and step < warmup:
        return step / warmup
    if kind == "inverse_sqrt":
        return math.sqrt(max(warmup, 1) / step)
    if kind == "cosine":
        span = max(1, total - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, kind: str, warmup: int, total: int,
                    min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR applying `lr_factor`; call `.step()` once per optimizer step."""
    lr_factor(0, kind, warmup, total, min_ratio)  # fail early on a bad kind
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, kind, warmup, total, min_ratio))
