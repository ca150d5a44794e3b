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
DECODERS = ("seanet", "vocos")
# the settings that choose the decoder alone: the codes do not depend on them
DECODER_SETTINGS = ("decoder", "vocos")


def check_istft(n_fft: int, hop: int) -> None:
    """The Vocos head's iSTFT centres frame f on sample f * hop + hop / 2 and covers every
    sample with whole windows: that needs an even hop and n_fft a multiple of 2 x hop."""
    if n_fft % (2 * hop) or hop % 2:
        raise ValueError(f"vocos: n_fft must be a multiple of 2 x hop ({2 * hop}) with an even "
                         f"hop, got n_fft {n_fft}, hop {hop}")


@dataclass
class VocosConfig:
    """The Vocos decoder head (audiogen/codec/vocos.py); defaults sized to train on one CPU
    thread (about 8M parameters, at the 50 Hz frame rate)."""

    dim: int = 384  # channels of the ConvNeXt stack
    intermediate: int = 1152  # hidden width of each block's pointwise MLP (3 x dim, as Vocos)
    layers: int = 8  # ConvNeXt blocks (Vocos: 8)
    n_fft: int = 1280  # iSTFT frame length: a multiple of 2 x hop (4 x 320 here)

    def __post_init__(self) -> None:
        if min(self.dim, self.intermediate, self.layers, self.n_fft) < 1:
            raise ValueError("vocos: dim, intermediate, layers and n_fft must be positive")


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
    decoder: str = "seanet"  # "seanet" (the settings above) or "vocos" (an iSTFT head at the
    # frame rate, settings in `vocos`; the encoder stays SEANet); absent from older files
    vocos: VocosConfig | None = None  # decoder="vocos" only: its settings (None: defaults)
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
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if isinstance(self.vocos, dict):  # a command-line override: codec.vocos={"layers":4}
            self.vocos = parse_config(VocosConfig, self.vocos, "vocos", partial=True)
        if self.decoder == "vocos":
            self.vocos = self.vocos or VocosConfig()
            check_istft(self.vocos.n_fft, self.hop_length)
        elif self.vocos is not None:
            raise ValueError("vocos settings need decoder='vocos'")

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
        """Every setting; a SEANet codec's dict leaves out `decoder` and `vocos`, so it is the
        same as before the decoder choice existed (files and codec identities unchanged)."""
        data = dataclasses.asdict(self)
        if self.decoder == "seanet":
            for key in DECODER_SETTINGS:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "codec config") -> CodecConfig:
        """Build from `to_dict()` output, strictly: an unknown, missing or mistyped key is an
        AudiogenError (a typo must not pass, nor a setting silently take its default). Only
        `decoder` may be absent (a SEANet codec; `vocos` then must be absent too)."""
        if isinstance(data, dict) and "decoder" not in data:
            data = {"decoder": "seanet", "vocos": None, **data}
        return parse_config(cls, data, where)
