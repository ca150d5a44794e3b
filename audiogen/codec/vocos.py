"""A Vocos-style decoder: latent frames -> STFT magnitude and phase -> inverse STFT.

Siuzdak 2023, "Vocos: Closing the gap between time-domain and Fourier-based neural vocoders".
Instead of upsampling 320x with transposed convolutions (SEANet), the network stays at the
frame rate (50 Hz) and predicts one spectrum per frame; the inverse STFT does the upsampling.
That makes it cheap on a CPU, and a predicted spectrum holds harmonic lines directly.

    latent [B, D, F] --replicate-pad P frames each side--> [B, D, F + 2P]
      --Conv1d k7--> LayerNorm --N x ConvNeXt block--> LayerNorm        [B, dim, F + 2P]
      --Linear--> log-magnitude, phase                         2 x [B, n_fft/2 + 1, F + 2P]
      --iSTFT (Hann, hop = the codec's hop)--> wav [B, 1, F * hop]

with P = n_fft / (2 hop) (2 for n_fft = 4 x hop). Frame f of the latent is centred on sample
f * hop + hop / 2 of the output, the middle of the hop-long stretch it encodes, so the output
has exactly F * hop samples. The P extra frames each side make every kept sample the sum of
n_fft / hop full windows (see `FrameISTFT`): no half-windowed edge, and the normalisation by
the windows' overlap is a constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.codec.config import CodecConfig, check_istft

KERNEL = 7  # embedding and depthwise convolutions (Vocos, ConvNeXt)
LAYER_NORM_EPS = 1e-6  # (Vocos)
MAX_MAGNITUDE = 1e2  # exp(log-magnitude) is clipped here, as Vocos does, against overflow


class ConvNeXtBlock(nn.Module):
    """x + scale * MLP(LayerNorm(depthwise conv(x))) on [B, dim, N] (Vocos' ConvNeXt block)."""

    def __init__(self, dim: int, intermediate: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, KERNEL, padding=KERNEL // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x).transpose(1, 2))  # [B, N, dim]
        y = self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + (self.gamma * y).transpose(1, 2)


class FrameISTFT(nn.Module):
    """Inverse STFT of spectra centred on sample f * hop + hop / 2 of the output.

    spec [B, n_fft/2 + 1, F + 2P] (complex) -> wav [B, 1, F * hop], P = `pad_frames`.

    Spectrum g (0-based) is the DFT of a Hann-windowed stretch of n_fft samples starting at
    output sample (g - P) * hop + hop / 2 - n_fft / 2, i.e. `torch.stft(center=False)` of the
    signal zero-padded by `trim` samples on both sides. Each output sample lies under exactly
    n_fft / hop such windows, all present, so overlap-add divided by the sum of the squared
    windows at that sample (periodic with period hop, computed once) inverts that STFT exactly,
    edges included.
    """

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        check_istft(n_fft, hop)
        self.n_fft, self.hop = n_fft, hop
        self.pad_frames = n_fft // (2 * hop)
        self.trim = self.pad_frames * hop + n_fft // 2 - hop // 2  # samples cut from each end
        window = torch.hann_window(n_fft)
        self.register_buffer("window", window, persistent=False)
        # envelope[n] = sum over the windows covering sample n (any hop-long stretch) of w^2
        self.register_buffer("envelope", window.pow(2).view(-1, hop).sum(0), persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        batch, frames = spec.shape[0], spec.shape[-1] - 2 * self.pad_frames
        chunks = torch.fft.irfft(spec, n=self.n_fft, dim=1) * self.window[:, None]
        length = (spec.shape[-1] - 1) * self.hop + self.n_fft
        wav = F.fold(chunks, (1, length), (1, self.n_fft), stride=(1, self.hop))
        wav = wav.view(batch, length)[:, self.trim:self.trim + frames * self.hop]
        return (wav.view(batch, frames, self.hop) / self.envelope).view(batch, 1, -1)

    def analysis(self, wav: torch.Tensor) -> torch.Tensor:
        """The STFT this inverts: wav [B, 1, F * hop] -> spec [B, n_fft/2 + 1, F + 2P]."""
        padded = F.pad(wav[:, 0], (self.trim, self.trim))
        return torch.stft(padded, self.n_fft, self.hop, window=self.window, center=False,
                          return_complex=True)


class VocosDecoder(nn.Module):
    """latent [B, D, F] -> wav [B, 1, F * hop]; see the module docstring."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        v = config.vocos
        if v is None:
            raise ValueError("VocosDecoder needs config.vocos (decoder='vocos')")
        self.embed = nn.Conv1d(config.dimension, v.dim, KERNEL, padding=KERNEL // 2)
        self.norm = nn.LayerNorm(v.dim, eps=LAYER_NORM_EPS)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(v.dim, v.intermediate, 1 / v.layers) for _ in range(v.layers))
        self.final_norm = nn.LayerNorm(v.dim, eps=LAYER_NORM_EPS)
        self.out = nn.Linear(v.dim, v.n_fft + 2)
        self.istft = FrameISTFT(v.n_fft, config.hop_length)
        self.apply(_init_weights)

    def reach(self) -> tuple[int, int]:
        """(left, right): the audio of frame f depends on latent frames [f - left, f + right]
        only (away from the signal's ends), through the convolutions and the iSTFT overlap."""
        convs = [self.embed, *(b.dwconv for b in self.blocks)]
        frames = sum(c.kernel_size[0] // 2 for c in convs) + self.istft.pad_frames
        return frames, frames

    def tail(self, latent: torch.Tensor) -> torch.Tensor:
        """The whole decoder: it has no recurrent head for streaming to run apart."""
        return self(latent)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        p = self.istft.pad_frames
        x = self.embed(F.pad(latent, (p, p), mode="replicate"))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.out(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # [B, n_fft + 2, N]
        log_mag, phase = x.float().chunk(2, dim=1)  # the iSTFT in float32 under autocast
        mag = log_mag.exp().clamp(max=MAX_MAGNITUDE)
        return self.istft(torch.polar(mag, phase))


def _init_weights(module: nn.Module) -> None:
    """Truncated normal (std 0.02), zero bias for convs and linears, as Vocos."""
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
