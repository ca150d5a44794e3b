"""The VGG-style block of the CNN embedders (aisfx, PANNs CNN14): one definition, the
checkpoints' parameter names (conv1, bn1, conv2, bn2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Module):
    """Two 3x3 conv (no bias) + batch norm + ReLU, then `pool` x `pool` pooling (`"max"`:
    aisfx, `"avg"`: CNN14). `[B, in_ch, H, W] -> [B, out_ch, H / pool, W / pool]`."""

    def __init__(self, in_ch: int, out_ch: int, pool: int, pooling: str = "max"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.pool = pool
        self._pool_fn = {"max": F.max_pool2d, "avg": F.avg_pool2d}[pooling]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self._pool_fn(x, self.pool) if self.pool > 1 else x
