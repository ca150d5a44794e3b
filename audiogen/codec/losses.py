"""Codec training losses (EnCodec paper): reconstruction, adversarial and feature matching.

Every function returns a scalar tensor. The trainer collects them in a dict with namespaced keys
(`g/l1`, `g/mel`, `g/adv`, `g/feat`, `d/hinge`) and the balancer weights the generator ones.

Notation: `x` is the real waveform `[B, 1, T]`, `y` the decoded one; `logits` and `fmaps` are
what `MultiScaleSTFTDiscriminator` returns (a list per sub-discriminator).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.codec.mel import MultiScaleMel


def l1_time(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean absolute sample difference."""
    return F.l1_loss(y, x)


class MultiScaleMelLoss(nn.Module):
    """L1 on mel power plus MSE on log10(mel + floor), averaged over scales and both terms.

    Scales are n_fft = 2**lo .. 2**hi with hop n_fft / 4 and `n_mels` bands (audiocraft: 2^6..2^10,
    64 mels, floor 1e-5). The average (rather than a sum) keeps the value comparable when the
    number of scales changes; the balancer makes the overall scale irrelevant for training.
    """

    def __init__(self, sample_rate: int, lo: int = 6, hi: int = 10, n_mels: int = 64,
                 floor: float = 1e-5):
        super().__init__()
        self.mel = MultiScaleMel(sample_rate, lo, hi, n_mels)
        self.floor = floor

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        total = y.new_zeros(())
        mels_y, mels_x = self.mel(y), self.mel(x)
        for my, mx in zip(mels_y, mels_x):
            total = total + F.l1_loss(my, mx)
            total = total + F.mse_loss(torch.log10(my + self.floor), torch.log10(mx + self.floor))
        return total / (2 * len(mels_y))


def hinge_generator(logits_fake: list[torch.Tensor]) -> torch.Tensor:
    """Generator side of the hinge loss: mean over sub-discriminators of mean(relu(1 - D(y))).

    This is the EnCodec paper's form (audiocraft's default "hinge" uses -mean(D(y)) instead).
    """
    return torch.stack([F.relu(1 - lf).mean() for lf in logits_fake]).mean()


def hinge_discriminator(logits_fake: list[torch.Tensor],
                        logits_real: list[torch.Tensor]) -> torch.Tensor:
    """Discriminator side: mean over sub-discriminators of mean(relu(1 - D(x)) + relu(1 + D(y)))."""
    terms = [F.relu(1 - lr).mean() + F.relu(1 + lf).mean()
             for lf, lr in zip(logits_fake, logits_real)]
    return torch.stack(terms).mean()


def relative_feature_matching(fmaps_fake: list[list[torch.Tensor]],
                              fmaps_real: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean over all layers of all sub-discriminators of |f(y) - f(x)|_1 / |f(x)|_1 (EnCodec).

    Dividing by the real features' magnitude makes each layer count equally whatever its scale.
    The real features are treated as constants.
    """
    terms = []
    for layers_fake, layers_real in zip(fmaps_fake, fmaps_real, strict=True):
        for ff, fr in zip(layers_fake, layers_real, strict=True):
            fr = fr.detach()
            terms.append((ff - fr).abs().mean() / (fr.abs().mean() + 1e-8))
    return torch.stack(terms).mean()
