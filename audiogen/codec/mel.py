"""Mel spectrograms for the codec's reconstruction loss and its validation metrics.

A mel spectrogram here is the power STFT (Hann window, `win = n_fft`, hop `n_fft / 4`) projected
onto a bank of triangular mel filters. The filters come from `transformers.audio_utils`
(HTK mel scale, no area normalisation, triangles linear in Hz between mel-spaced edges), which
are exactly torchaudio's `melscale_fbanks` defaults (the reference's), with no torchaudio needed.

Framing (as audiocraft does it, so every frame is full and the frame count is ceil(T / hop)):

    |<- p ->|<------------- T samples ------------->|<- p ->|<- extra ->|
     reflect                                         reflect   zeros
    p = (n_fft - hop) // 2; `extra` pads the tail up to a whole number of hops.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.nn import functional as F


def mel_filters(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                f_max: float | None = None) -> torch.Tensor:
    """Triangular mel filter bank `[n_fft // 2 + 1, n_mels]` (float32)."""
    from transformers.audio_utils import mel_filter_bank

    with warnings.catch_warnings():
        # Small FFTs (64 points = 33 bins for 64 mels) leave some filters empty; that is expected
        # for the smallest scale of the multi-scale loss and harmless (those bins read 0).
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        bank = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=f_min,
            max_frequency=f_max if f_max is not None else sample_rate / 2,
            sampling_rate=sample_rate, norm=None, mel_scale="htk",
            triangularize_in_mel_space=False,
        )
    return torch.from_numpy(bank).float()


class MelSpectrogram(nn.Module):
    """Power mel spectrogram of a waveform.

    Args:
        sample_rate: Hz of the input.
        n_fft: FFT and window size in samples.
        hop_length: hop in samples (defaults to n_fft // 4).
        n_mels: number of mel bands.
        f_min / f_max: frequency range of the filters in Hz (f_max None = Nyquist).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int | None = None,
                 n_mels: int = 64, f_min: float = 0.0, f_max: float | None = None):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length or n_fft // 4
        # Buffers follow the module across devices but are not trained or saved.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filters(n_fft, n_mels, sample_rate, f_min, f_max),
                             persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav `[B, C, T]` -> mel power `[B, C * n_mels, ceil(T / hop)]`."""
        assert wav.dim() == 3, f"expected [B, C, T], got {tuple(wav.shape)}"
        batch, channels, _ = wav.shape
        pad = (self.n_fft - self.hop_length) // 2
        x = F.pad(wav, (pad, pad), mode="reflect")
        frames = math.ceil((x.shape[-1] - self.n_fft) / self.hop_length) + 1
        extra = (frames - 1) * self.hop_length + self.n_fft - x.shape[-1]
        x = F.pad(x, (0, extra))
        spec = torch.stft(x.reshape(batch * channels, -1), n_fft=self.n_fft,
                          hop_length=self.hop_length, window=self.window, center=False,
                          return_complex=True)
        power = spec.real.pow(2) + spec.imag.pow(2)  # [B*C, freq, frames]
        mel = torch.einsum("bft,fm->bmt", power, self.filters)
        return mel.reshape(batch, -1, mel.shape[-1])


class MultiScaleMel(nn.Module):
    """Mel spectrograms at FFT sizes 2**lo .. 2**hi, hop n_fft / 4 (audiocraft: 2^6..2^10)."""

    def __init__(self, sample_rate: int, lo: int = 6, hi: int = 10, n_mels: int = 64,
                 f_min: float = 0.0, f_max: float | None = None):
        super().__init__()
        self.scales = nn.ModuleList(
            MelSpectrogram(sample_rate, 2 ** i, n_mels=n_mels, f_min=f_min, f_max=f_max)
            for i in range(lo, hi + 1)
        )

    def forward(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """wav `[B, C, T]` -> one mel power `[B, C * n_mels, frames_i]` per scale."""
        return [scale(wav) for scale in self.scales]
