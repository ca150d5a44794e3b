"""Views of one codec that locate where its reconstructions lose detail (`evaluate-codec
--bottleneck`): the decoder fed the encoder's latent without quantization, and the codes cut
to their first k codebooks. Each view has the `encode`/`decode`/`bitrate`/`sample_rate` of a
codec, so it is measured like one.

If the unquantized latent decodes much better than the codes, the quantizer is what loses the
detail (more bits or a better quantizer help; a new decoder on the same codes cannot); if it
decodes no better, the encoder and decoder are (more training or capacity help).
"""

from __future__ import annotations

import torch

FLOAT_BITS = 32  # the unquantized latent, counted as float32 numbers


class Unquantized:
    """wav [B, 1, T] -> the encoder's latent [B, D, F] (float) -> the decoder."""

    def __init__(self, codec):
        self.codec = codec
        self.sample_rate = codec.sample_rate
        self.bitrate = float(codec.config.dimension * FLOAT_BITS * codec.frame_rate)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.codec.encoder(wav)

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.codec.decoder(latent)


class FirstCodebooks:
    """The codec with only its first `k` codebooks: codes [B, k, F] (a lower bitrate)."""

    def __init__(self, codec, k: int):
        self.codec, self.k = codec, k
        self.sample_rate = codec.sample_rate
        self.bitrate = float(codec.bitrate) * k / codec.num_codebooks

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.codec.encode(wav)[:, : self.k]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.codec.decode(codes)


def bottleneck_views(name: str, codec) -> dict:
    """`{NAME/latent: Unquantized, NAME/qK: FirstCodebooks}` for k = 1 .. K - 1."""
    views = {f"{name}/latent": Unquantized(codec)}
    views |= {f"{name}/q{k}": FirstCodebooks(codec, k) for k in range(1, codec.num_codebooks)}
    return views
