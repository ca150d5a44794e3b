"""Exponential moving average of a model's weights (audiogen-medium: 0.99 every 10 steps).

    ema <- decay * ema + (1 - decay) * weights,   every `every` optimizer steps

The average is kept in float32 beside the model (same device, same sharding: under FSDP each
process averages its own shard), saved with every checkpoint, and used for the exported model
when the run asks for it. Averaging every few steps rather than every step is what the
reference does; it makes the average cheap and spans `every / (1 - decay)` steps (1,000 here).
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Args:
        module: the model whose parameters are averaged (names as in its named_parameters).
        decay: weight of the old average at each update.
        every: update on steps that are multiples of this.
    """

    def __init__(self, module: nn.Module, decay: float = 0.99, every: int = 10):
        if not 0 <= decay < 1 or every < 1:
            raise ValueError(f"EMA needs 0 <= decay < 1 and every >= 1, got {decay}, {every}")
        self.decay, self.every = decay, every
        self.shadow = {name: p.detach().float().clone()
                       for name, p in module.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> bool:
        """Average in the current weights if `step` (the number of updates done) is due."""
        if step % self.every:
            return False
        for name, p in module.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(p.detach().float(), 1 - self.decay)
        return True

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != set(self.shadow):
            missing, extra = set(self.shadow) - set(state), set(state) - set(self.shadow)
            raise KeyError(f"EMA state does not match the model (missing {sorted(missing)[:3]}, "
                           f"unexpected {sorted(extra)[:3]})")
        with torch.no_grad():
            for name, t in state.items():
                self.shadow[name].copy_(t)
