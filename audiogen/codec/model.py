"""The codec: SEANet encoder -> residual vector quantizer -> SEANet or Vocos decoder.

    wav [B, 1, T] --encoder--> latent [B, D, F] --RVQ--> codes [B, K, F]
    codes [B, K, F] --RVQ.decode--> latent [B, D, F] --decoder--> wav [B, 1, F * hop_length]

with F = ceil(T / hop_length). The decoder is SEANet's (transposed convolutions, as EnCodec) or,
with `decoder="vocos"`, an iSTFT head at the frame rate (audiogen/codec/vocos.py). A model
directory holds `codec.json` (format, version, config and whatever the writer adds, e.g. what
trained it) and `codec.safetensors` (weights and the codebook buffers, so training resumes
exactly).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen.codec.config import CodecConfig
from audiogen.codec.quantizer import ResidualVectorQuantizer
from audiogen.codec.seanet import SEANetDecoder, SEANetEncoder
from audiogen.codec.vocos import VocosDecoder
from audiogen.model_dir import ModelFiles, require

FILES = ModelFiles(
    "codec", "audiogen-codec", 1, "codec",
    "A codec directory is written by `audiogen train codec` or "
    "`audiogen convert-audiocraft-codec`.")
CONFIG_FILE = FILES.config_file
WEIGHTS_FILE = FILES.weights_file


def make_decoder(config: CodecConfig) -> nn.Module:
    """The decoder `config.decoder` names: latent [B, D, F] -> wav [B, 1, F * hop_length]."""
    return VocosDecoder(config) if config.decoder == "vocos" else SEANetDecoder(config)


@dataclass
class CodecOutput:
    audio: torch.Tensor  # [B, 1, T] reconstruction, trimmed to the input length
    codes: torch.Tensor  # [B, K, F] long (K = active codebooks this pass)
    commitment_loss: torch.Tensor  # scalar, mean over the active RVQ stages
    metrics: dict[str, float] = field(default_factory=dict)


class Codec(nn.Module):
    """EnCodec-style neural audio codec (the tokenizer of AudioGen)."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config
        self.encoder = SEANetEncoder(config)
        self.quantizer = ResidualVectorQuantizer(
            config.dimension, config.n_q, config.bins, decay=config.decay,
            epsilon=config.epsilon, kmeans_init=config.kmeans_init,
            kmeans_iters=config.kmeans_iters,
            threshold_ema_dead_code=config.threshold_ema_dead_code,
            random_active_codebooks=config.random_active_codebooks)
        self.decoder = make_decoder(config)

    # --- what a user of the tokens needs to know ---
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        """Audio samples per frame of codes."""
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        """Frames of codes per second."""
        return self.config.frame_rate

    @property
    def num_codebooks(self) -> int:
        """K, the number of parallel code streams."""
        return self.config.n_q

    @property
    def cardinality(self) -> int:
        """Size of each codebook: codes lie in [0, cardinality)."""
        return self.config.bins

    @property
    def bitrate(self) -> float:
        """Bits per second with all codebooks."""
        return self.config.bitrate

    def _check_wav(self, wav: torch.Tensor) -> None:
        if wav.dim() != 3 or wav.shape[1] != self.config.channels:
            raise ValueError(f"expected audio [B, {self.config.channels}, T], got "
                             f"{tuple(wav.shape)}")

    # --- the three passes ---
    def forward(self, wav: torch.Tensor) -> CodecOutput:
        """Encode, quantize (updating codebooks in training mode), decode: wav [B, 1, T]."""
        self._check_wav(wav)
        length = wav.shape[-1]
        q = self.quantizer(self.encoder(wav))
        audio = self.decoder(q.quantized)[..., :length]
        metrics = dict(q.metrics)
        metrics["vq/bandwidth_kbps"] = (q.codes.shape[1] * self.frame_rate
                                        * math.log2(self.cardinality) / 1000)
        return CodecOutput(audio, q.codes, q.commitment_loss, metrics)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [B, 1, T] at `sample_rate` -> codes [B, K, ceil(T / hop_length)] (long)."""
        self._check_wav(wav)
        return self.quantizer.encode(self.encoder(wav))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, F] -> wav [B, 1, F * hop_length]; trim to the original length yourself.

        Fewer than K streams (the first ones) decode at a lower bitrate.
        """
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.num_codebooks:
            raise ValueError(f"expected codes [B, {self.num_codebooks}, F], got "
                             f"{tuple(codes.shape)}")
        return self.decoder(self.quantizer.decode(codes.long()))

    # --- model directory ---
    def save(self, directory: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
        """Write codec.json and codec.safetensors into `directory` (see audiogen.model_dir)."""
        FILES.save(directory, self.state_dict(), {"config": self.config.to_dict(), **(extra or {})})

    @staticmethod
    def read_config(directory: str | os.PathLike) -> CodecConfig:
        """The config of a codec directory, checked as `load` checks it, without its weights."""
        meta = FILES.read_meta(directory)
        path = Path(directory) / CONFIG_FILE
        return CodecConfig.from_dict(require(meta, "config", Any, path), f"{path}: config")

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> Codec:
        """Load a codec directory written by `save` (strictly), in eval mode, on `device`."""
        config = cls.read_config(directory)
        state = FILES.read_weights(directory)

        def make() -> Codec:
            model = cls(config)
            model.load_state_dict(state, strict=True)
            return model

        return FILES.build(directory, make).to(device).eval()
