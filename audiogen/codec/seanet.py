"""SEANet encoder and decoder: the convolutional halves of the codec.

Encoder, for ratios [8, 5, 4, 2] (applied reversed: 2, 4, 5, 8) and n_filters C:

    wav [B, 1, T] -> conv k7 -> C
      -> EncoderBlock(C, 2)   residual units, ELU, conv k4 stride 2 -> 2C
      -> EncoderBlock(2C, 4)  ...                     k8 stride 4 -> 4C
      -> EncoderBlock(4C, 5)                          k10 stride 5 -> 8C
      -> EncoderBlock(8C, 8)                          k16 stride 8 -> 16C
      -> LSTM (with skip) -> ELU -> conv k7 -> latent [B, D, ceil(T / 320)]

The decoder mirrors it: conv k7 D -> 16C, LSTM, then per ratio (8, 5, 4, 2) an ELU, a
transposed conv halving the channels and upsampling, and residual units; ELU, conv k7 -> wav.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.codec.config import CodecConfig
from audiogen.codec.conv import Conv1d, ConvTranspose1d


class ResidualUnit(nn.Module):
    """x + conv1x1(ELU(dilated conv(ELU(x)))) at dim // compress hidden channels; [B, C, T] kept."""

    def __init__(self, dim: int, dilation: int, cfg: CodecConfig):
        super().__init__()
        hidden = dim // cfg.compress
        conv = {"causal": cfg.causal, "norm": cfg.norm, "pad_mode": cfg.pad_mode}
        self.conv1 = Conv1d(dim, hidden, cfg.residual_kernel_size, dilation=dilation, **conv)
        self.conv2 = Conv1d(hidden, dim, 1, **conv)
        self.shortcut = None if cfg.true_skip else Conv1d(dim, dim, 1, **conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.elu(self.conv1(F.elu(x))))
        return (x if self.shortcut is None else self.shortcut(x)) + y


class LSTM(nn.Module):
    """Multi-layer LSTM over frames with a skip connection; [B, C, F] -> [B, C, F]."""

    def __init__(self, dim: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(2, 0, 1)  # [F, B, C], the LSTM's sequence-first layout
        y, _ = self.lstm(x)
        return (y + x).permute(1, 2, 0)


def _residual_units(dim: int, cfg: CodecConfig) -> nn.ModuleList:
    return nn.ModuleList(
        ResidualUnit(dim, cfg.dilation_base ** j, cfg) for j in range(cfg.n_residual_layers))


class EncoderBlock(nn.Module):
    """Residual units, ELU, strided conv: [B, C, T] -> [B, 2C, ceil(T / ratio)]."""

    def __init__(self, dim: int, ratio: int, cfg: CodecConfig):
        super().__init__()
        self.residuals = _residual_units(dim, cfg)
        self.down = Conv1d(dim, 2 * dim, 2 * ratio, stride=ratio, causal=cfg.causal,
                           norm=cfg.norm, pad_mode=cfg.pad_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.residuals:
            x = unit(x)
        return self.down(F.elu(x))


class DecoderBlock(nn.Module):
    """ELU, transposed conv, residual units: [B, C, F] -> [B, C / 2, F * ratio]."""

    def __init__(self, dim: int, ratio: int, cfg: CodecConfig):
        super().__init__()
        self.up = ConvTranspose1d(dim, dim // 2, 2 * ratio, stride=ratio, causal=cfg.causal,
                                  norm=cfg.norm, trim_right_ratio=cfg.trim_right_ratio)
        self.residuals = _residual_units(dim // 2, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up(F.elu(x))
        for unit in self.residuals:
            x = unit(x)
        return x


class SEANetEncoder(nn.Module):
    """Waveform [B, channels, T] -> latent [B, dimension, ceil(T / hop_length)]."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        conv = {"causal": cfg.causal, "norm": cfg.norm, "pad_mode": cfg.pad_mode}
        width = cfg.n_filters
        self.conv_in = Conv1d(cfg.channels, width, cfg.kernel_size, **conv)
        blocks = []
        for ratio in reversed(cfg.ratios):
            blocks.append(EncoderBlock(width, ratio, cfg))
            width *= 2
        self.blocks = nn.ModuleList(blocks)
        self.lstm = LSTM(width, cfg.lstm_layers) if cfg.lstm_layers else None
        self.conv_out = Conv1d(width, cfg.dimension, cfg.last_kernel_size, **conv)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(wav)
        for block in self.blocks:
            x = block(x)
        if self.lstm is not None:
            x = self.lstm(x)
        return self.conv_out(F.elu(x))


class SEANetDecoder(nn.Module):
    """Latent [B, dimension, F] -> waveform [B, channels, F * hop_length]."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        conv = {"causal": cfg.causal, "norm": cfg.norm, "pad_mode": cfg.pad_mode}
        width = cfg.n_filters * 2 ** len(cfg.ratios)
        self.conv_in = Conv1d(cfg.dimension, width, cfg.kernel_size, **conv)
        self.lstm = LSTM(width, cfg.lstm_layers) if cfg.lstm_layers else None
        blocks = []
        for ratio in cfg.ratios:
            blocks.append(DecoderBlock(width, ratio, cfg))
            width //= 2
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = Conv1d(width, cfg.channels, cfg.last_kernel_size, **conv)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(latent)
        if self.lstm is not None:
            x = self.lstm(x)
        return self.tail(x)

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        """The upsampling part, after conv_in and the LSTM: [B, C, F] -> wav [B, channels,
        F * hop_length] (streaming decoding runs the head itself, carrying the LSTM state)."""
        for block in self.blocks:
            x = block(x)
        return self.conv_out(F.elu(x))
