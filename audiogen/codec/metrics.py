"""Codec quality metrics: SI-SNR and multi-scale mel distance, one value per batch item.

Both compare a decoded waveform with its reference, shapes `[B, C, T]` (C channels folded into
the item). They are used for validation during codec training and by the evaluation tools.
"""

from __future__ import annotations

import functools

import torch

from audiogen.codec.mel import MultiScaleMel


def si_snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant signal-to-noise ratio in dB, `[B]` (higher is better).

    Both signals are made zero-mean; the estimate is split into its projection on the reference
    (target) and the rest (noise); SI-SNR = 10 log10(|target|^2 / |noise|^2).
    """
    assert estimate.shape == reference.shape, (estimate.shape, reference.shape)
    est = estimate.flatten(1).double()
    ref = reference.flatten(1).double()
    est = est - est.mean(dim=1, keepdim=True)
    ref = ref - ref.mean(dim=1, keepdim=True)
    scale = (est * ref).sum(dim=1, keepdim=True) / (ref.pow(2).sum(dim=1, keepdim=True) + eps)
    target = scale * ref
    noise = est - target
    ratio = (target.pow(2).sum(dim=1) + eps) / (noise.pow(2).sum(dim=1) + eps)
    return (10 * torch.log10(ratio)).float()


@functools.lru_cache(maxsize=8)
def _mel_bank(sample_rate: int, n_mels: int) -> MultiScaleMel:
    return MultiScaleMel(sample_rate, lo=6, hi=10, n_mels=n_mels)


def mel_distance(estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int,
                 n_mels: int = 64, floor: float = 1e-5) -> torch.Tensor:
    """Multi-scale log-mel L1 distance, `[B]` (lower is better; 0 for identical signals).

    Mean over the scales n_fft = 64 .. 1024 (hop n_fft / 4, `n_mels` bands) of the mean absolute
    difference of log10(mel power + floor).
    """
    assert estimate.shape == reference.shape, (estimate.shape, reference.shape)
    bank = _mel_bank(sample_rate, n_mels).to(estimate.device)
    with torch.no_grad():
        dists = [
            (torch.log10(me + floor) - torch.log10(mr + floor)).abs().flatten(1).mean(dim=1)
            for me, mr in zip(bank(estimate.float()), bank(reference.float()))
        ]
    return torch.stack(dists).mean(dim=0)
