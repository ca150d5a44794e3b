"""Multi-scale STFT discriminator (MS-STFTD, EnCodec paper).

Each sub-discriminator looks at one complex STFT of the waveform (real and imaginary parts as
two input channels) laid out as an image `[B, 2, frames, freq]`:

    conv (3, 9)                       2 -> F
    conv (3, 9), time dilation 1, stride (1, 2)   F -> F   (stride halves the frequency axis)
    conv (3, 9), time dilation 2, stride (1, 2)   F -> F
    conv (3, 9), time dilation 4, stride (1, 2)   F -> F
    conv (3, 3)                       F -> F
    conv (3, 3)                       F -> 1   (logits, no activation)

every conv but the first weight-normalised (as in audiocraft), LeakyReLU(0.2) after all but
the last. The activations after each
LeakyReLU are the feature maps used by feature matching. The five scales (n_fft 1024, 2048, 512,
256, 128; hop n_fft / 4; window n_fft) see different time/frequency trade-offs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass
class DiscriminatorConfig:
    filters: int = 32  # channels of every hidden conv
    n_ffts: list[int] = field(default_factory=lambda: [1024, 2048, 512, 256, 128])  # one per scale
    kernel_size: tuple[int, int] = (3, 9)  # (time, frequency)
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4])  # time dilations of the strided convs
    negative_slope: float = 0.2  # LeakyReLU slope


def _padding(kernel: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    return ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)


class STFTDiscriminator(nn.Module):
    """One scale: complex STFT -> 2D conv stack -> (logits `[B, 1, frames, freq']`, feature maps)."""

    def __init__(self, n_fft: int, filters: int = 32, kernel_size: tuple[int, int] = (3, 9),
                 dilations: list[int] = (1, 2, 4), negative_slope: float = 0.2):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        square = (kernel_size[0], kernel_size[0])
        # The first conv is left without weight norm, as in the reference (audiocraft's
        # DiscriminatorSTFT does not pass its `norm` to it); all the others have it.
        convs = [nn.Conv2d(2, filters, kernel_size, padding=_padding(kernel_size))]
        for d in dilations:
            convs.append(weight_norm(nn.Conv2d(
                filters, filters, kernel_size, stride=(1, 2), dilation=(d, 1),
                padding=_padding(kernel_size, (d, 1)))))
        convs.append(weight_norm(nn.Conv2d(filters, filters, square, padding=_padding(square))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(filters, 1, square, padding=_padding(square)))
        self.activation = nn.LeakyReLU(negative_slope)

    def spectrogram(self, wav: torch.Tensor) -> torch.Tensor:
        """wav `[B, 1, T]` -> `[B, 2, frames, n_fft // 2 + 1]` (real, imaginary).

        Normalised by the window's energy so the scales have comparable magnitudes.
        """
        spec = torch.stft(wav.reshape(-1, wav.shape[-1]), n_fft=self.n_fft,
                          hop_length=self.hop_length, window=self.window, center=False,
                          return_complex=True)
        spec = spec / self.window.pow(2).sum().sqrt()
        spec = torch.stack([spec.real, spec.imag], dim=1)  # [B, 2, freq, frames]
        return spec.transpose(2, 3)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z = self.spectrogram(wav)
        fmap = []
        for conv in self.convs:
            z = self.activation(conv(z))
            fmap.append(z)
        return self.post(z), fmap


class MultiScaleSTFTDiscriminator(nn.Module):
    """All scales. forward(wav `[B, 1, T]`) -> (list of logits, list of lists of feature maps)."""

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        self.config = config or DiscriminatorConfig()
        c = self.config
        self.discriminators = nn.ModuleList(
            STFTDiscriminator(n, c.filters, tuple(c.kernel_size), list(c.dilations),
                              c.negative_slope)
            for n in c.n_ffts
        )

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        assert wav.dim() == 3 and wav.shape[1] == 1, f"expected [B, 1, T], got {tuple(wav.shape)}"
        logits, fmaps = [], []
        for disc in self.discriminators:
            logit, fmap = disc(wav)
            logits.append(logit)
            fmaps.append(fmap)
        return logits, fmaps
