"""PaSST's input features: the log-mel spectrogram of hear21passt's `AugmentMelSTFT`, eval mode.

    wav [B, T] at 32 kHz
      -> pre-emphasis y[t] = x[t+1] - 0.97 x[t]                     (T - 1 samples)
      -> STFT: n_fft 1024, symmetric Hann window of 800 centred in it, hop 320,
         centre padding by reflection                               ((T - 1) // 320 + 1 frames)
      -> power |X|^2 (513 bins)
      -> 128 Kaldi mel triangles, 0 .. 15 kHz (the Nyquist bin gets weight 0)
      -> log(x + 1e-5), then (x + 4.5) / 5 (the package's fixed normalisation)
      -> mel [B, 128, frames]

In training the package jitters fmin/fmax and masks time/frequency stripes; none of that
happens in eval mode, which is the only mode here. fmax = 15 kHz is the package's default:
sr / 2 - fmax_aug_range / 2 with its fmax_aug_range of 2000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 32000  # Hz the network was trained at
    n_fft: int = 1024  # FFT size (window zero-padded to it)
    win_length: int = 800  # symmetric Hann window, 25 ms
    hop: int = 320  # 10 ms hop: 100 frames per second
    n_mels: int = 128  # mel bands
    fmin: float = 0.0  # lowest triangle edge, Hz
    fmax: float = 15000.0  # highest triangle edge, Hz
    preemphasis: float = 0.97  # y[t] = x[t+1] - 0.97 x[t]


def kaldi_mel(hz: torch.Tensor | float) -> torch.Tensor | float:
    """Kaldi's mel scale: 1127 ln(1 + f / 700)."""
    if isinstance(hz, torch.Tensor):
        return 1127.0 * torch.log(1.0 + hz / 700.0)
    return 1127.0 * math.log(1.0 + hz / 700.0)


def kaldi_mel_banks(n_mels: int, n_fft: int, sample_rate: float, fmin: float,
                    fmax: float) -> torch.Tensor:
    """Kaldi's triangular filters (no VTLN warp) -> weights `[n_mels, n_fft // 2 + 1]`.

    Triangles are equally spaced on the mel axis between fmin and fmax (n_mels + 2 edges) and
    are linear in mel, not in Hz. Kaldi builds them over the n_fft / 2 bins below Nyquist; the
    Nyquist bin gets a zero column, as hear21passt pads it. Computed in float32 in
    torchaudio's order of operations: the weights the network was trained with, to the bit
    (float64 would differ by about 1e-5).
    """
    mel_low, mel_high = kaldi_mel(float(fmin)), kaldi_mel(float(fmax))
    step = (mel_high - mel_low) / (n_mels + 1)
    index = torch.arange(n_mels, dtype=torch.float32).unsqueeze(1)  # [M, 1]
    left, centre, right = (mel_low + index * step, mel_low + (index + 1) * step,
                           mel_low + (index + 2) * step)
    bin_hz = (sample_rate / n_fft) * torch.arange(n_fft // 2, dtype=torch.float32)
    bin_mel = kaldi_mel(bin_hz).unsqueeze(0)  # [1, n_fft / 2]
    rising = (bin_mel - left) / (centre - left)
    falling = (right - bin_mel) / (right - centre)
    banks = torch.minimum(rising, falling).clamp_min(0.0)
    return torch.nn.functional.pad(banks, (0, 1))


class MelFrontEnd(nn.Module):
    """Waveforms `[B, T]` at `config.sample_rate` -> normalised log-mel `[B, n_mels, frames]`."""

    def __init__(self, config: MelConfig | None = None):
        super().__init__()
        self.config = config or MelConfig()
        c = self.config
        # derived constants, not weights: nothing of this is in a checkpoint
        self.register_buffer("window", torch.hann_window(c.win_length, periodic=False),
                             persistent=False)
        self.register_buffer("mel_banks", kaldi_mel_banks(c.n_mels, c.n_fft, c.sample_rate,
                                                          c.fmin, c.fmax), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() != 2:
            raise ValueError(f"expected waveforms [B, T], got {tuple(wav.shape)}")
        c = self.config
        x = wav[:, 1:] - c.preemphasis * wav[:, :-1]
        spec = torch.stft(x, c.n_fft, hop_length=c.hop, win_length=c.win_length,
                          window=self.window, center=True, pad_mode="reflect",
                          normalized=False, return_complex=True)
        power = spec.real.square() + spec.imag.square()  # [B, n_fft / 2 + 1, frames]
        mel = torch.matmul(self.mel_banks, power)
        return (torch.log(mel + 1e-5) + 4.5) / 5.0
