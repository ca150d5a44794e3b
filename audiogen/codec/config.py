"""The codec's configuration: one dataclass holding every hyperparameter of `Codec`.

Field names follow the reference's Hydra keys (`seanet.*`, `rvq.*`) where one exists, so a
released `xp.cfg` maps onto it field by field (see `audiogen/convert/codec.py`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from audiogen.model_dir import parse_config

NORMS = ("weight_norm", "none")
PAD_MODES = ("constant", "reflect")


@dataclass
class CodecConfig:
    # --- audio ---
    sample_rate: int = 16000  # Hz; the codec only accepts audio at this rate
    channels: int = 1  # audio channels (the released codec is mono)
    # --- SEANet encoder / decoder ---
    n_filters: int = 64  # width of the first conv; doubled at every downsampling block
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])  # decoder upsampling
    # strides; the encoder downsamples with them in reverse order; hop = their product
    dimension: int = 128  # latent dimension D (and codebook vector size)
    n_residual_layers: int = 1  # residual units per block (dilations dilation_base**j)
    lstm_layers: int = 2  # LSTM layers (with skip) at the latent end of both halves; 0: none
    causal: bool = False  # pad on the left only (streamable); False splits padding both sides
    kernel_size: int = 7  # kernel of the first conv
    last_kernel_size: int = 7  # kernel of the last conv
    residual_kernel_size: int = 3  # kernel of the dilated conv inside residual units
    dilation_base: int = 2  # dilation of residual unit j is dilation_base**j
    compress: int = 2  # residual branches run at dim // compress channels
    true_skip: bool = True  # identity skip in residual units (else a 1x1 conv)
    norm: str = "weight_norm"  # conv parametrisation: "weight_norm" or "none"
    pad_mode: str = "constant"  # conv padding: "constant" (zeros, as released) or "reflect"
    trim_right_ratio: float = 1.0  # causal decoder only: share of the transposed-conv trim
    # taken from the right end (1.0: all of it)
    # --- residual vector quantizer ---
    n_q: int = 4  # number of codebooks K (RVQ stages)
    bins: int = 2048  # codebook size (cardinality of each stream)
    decay: float = 0.99  # EMA decay of codebook statistics
    epsilon: float = 1e-5  # Laplace smoothing of EMA cluster sizes
    kmeans_init: bool = True  # initialise codebooks by k-means on the first training batch
    kmeans_iters: int = 50  # k-means iterations at that initialisation
    threshold_ema_dead_code: float = 2.0  # codes whose EMA usage falls below this are
    # replaced by random vectors of the current batch (0 disables)
    random_active_codebooks: bool = False  # EnCodec's bandwidth selection: at training,
    # each batch uses a random number (1..n_q) of codebooks

    def __post_init__(self) -> None:
        self.ratios = [int(r) for r in self.ratios]
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        if self.n_q < 1 or self.bins < 2 or not self.ratios or min(self.ratios) < 1:
            raise ValueError("need n_q >= 1, bins >= 2 and positive ratios")
        if not self.causal and self.trim_right_ratio != 1.0:
            raise ValueError("trim_right_ratio != 1.0 only makes sense for a causal codec")

    @property
    def hop_length(self) -> int:
        """Samples per frame: the product of the ratios."""
        return math.prod(self.ratios)

    @property
    def frame_rate(self) -> float:
        """Frames (code vectors) per second."""
        return self.sample_rate / self.hop_length

    @property
    def bitrate(self) -> float:
        """Bits per second with all codebooks active."""
        return self.frame_rate * self.n_q * math.log2(self.bins)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecConfig:
        """Build from `to_dict()` output, strictly: an unknown, missing or mistyped key is an
        AudiogenError (a typo must not pass, nor a setting silently take its default)."""
        return parse_config(cls, data, "codec config")
