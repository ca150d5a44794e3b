"""Configuration of the language model and its named presets (docs/architecture.md).

One dataclass, `LMConfig`, describes a model completely; it is what `lm.json` stores. Presets
are plain functions returning a config, one per published or project configuration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from audiogen.model_dir import parse_config
from audiogen.text.conditioner import TextEncoderConfig

PATTERNS = ("parallel", "delay", "flattened", "coarse_first")


@dataclass
class LMConfig:
    dim: int = 256  # transformer width
    num_heads: int = 4  # attention heads (dim must divide evenly)
    num_layers: int = 6  # transformer blocks
    ffn_dim: int = 1024  # hidden width of the GELU feed-forward (4 x dim in every preset)
    num_codebooks: int = 4  # K: parallel codec streams, one embedding table and one head each
    card: int = 2048  # codebook size; embedding tables hold card + 1 rows (index card = special)
    bias_attn: bool = False  # biases in the attention projections (v2: none)
    bias_ffn: bool = False  # biases in the feed-forward linears (v2: none)
    bias_heads: bool = False  # biases in the K output heads (v2: none)
    dropout: float = 0.0  # residual and feed-forward dropout (v2: 0)
    attention_dropout: float = 0.0  # dropout on attention weights
    pattern: str = "delay"  # codebook pattern, one of PATTERNS
    delays: list[int] | None = None  # pattern delays (delay: one per codebook, default 0..K-1;
    # coarse_first: one per codebook after the first, default zeros)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)  # frozen text encoder
    cross_attention: bool = True  # attend to the text from every block (v2)
    cross_attention_mask: bool = True  # mask padded text positions; False reproduces the
    # reference, which lets the zero vectors at padding take part in the softmax (audiocraft)
    text_prefix: bool = False  # paper: text embeddings placed before the audio tokens in
    # self-attention (positions continue from the text into the audio)
    cfg_dropout: float = 0.1  # share of training examples whose text is dropped (per sample)
    max_period: float = 10_000.0  # sinusoidal position period (audiocraft's)
    max_seq_len: int = 1024  # default decode-cache length in steps (audio + text prefix)

    def __post_init__(self) -> None:
        if isinstance(self.text, dict):
            self.text = TextEncoderConfig(**self.text)
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.dim % 2:
            raise ValueError("dim must be even for the sinusoidal positions")
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}; expected one of {PATTERNS}")
        if self.delays is not None:
            self.delays = [int(d) for d in self.delays]

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LMConfig:
        """Build from `to_dict()` output, strictly: an unknown, missing or mistyped key is an
        AudiogenError (a typo must not pass, nor a setting silently take its default)."""
        return parse_config(cls, data, "LM config")

    def num_parameters(self) -> int:
        """Trainable parameters (text projection included, frozen text encoder excluded)."""
        d, f, k = self.dim, self.ffn_dim, self.num_codebooks
        attn = 4 * d * d + (4 * d if self.bias_attn else 0)
        ffn = 2 * d * f + ((f + d) if self.bias_ffn else 0)
        block = attn * (2 if self.cross_attention else 1) + ffn
        block += 2 * d * (3 if self.cross_attention else 2)  # LayerNorms
        emb = k * (self.card + 1) * d
        heads = k * (d * self.card + (self.card if self.bias_heads else 0))
        proj = self.text.dim * d + d
        return self.num_layers * block + 2 * d + emb + heads + proj


def lm_preset(name: str) -> LMConfig:
    """A named configuration: see PRESETS for the list."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown LM preset {name!r}; expected one of {sorted(PRESETS)}") from None


def _t5_large() -> TextEncoderConfig:
    """The text encoder of the release and the paper (a local folder, set its `path`)."""
    return TextEncoderConfig(kind="t5", name="t5-large", dim=1024, max_length=512)


def audiogen_medium() -> LMConfig:
    """The released v2 model (about 1.5B parameters): the shape the importer loads into."""
    return LMConfig(
        dim=1536, num_heads=24, num_layers=48, ffn_dim=6144, num_codebooks=4, card=2048,
        pattern="delay", delays=[0, 1, 2, 3],
        text=_t5_large(),
        cross_attention_mask=False, max_seq_len=1024,
    )


def paper_base() -> LMConfig:
    """The paper's 285M "base" model (one 2048-code stream, T5, text prefix + cross-attention).

    The paper states the parameter count, not the shape: dim 1024 x 16 layers gives 272M
    here (?).
    """
    return LMConfig(
        dim=1024, num_heads=16, num_layers=16, ffn_dim=4096, num_codebooks=1, card=2048,
        pattern="parallel", text=_t5_large(),
        text_prefix=True,
    )


def paper_large() -> LMConfig:
    """The paper's 1B "large" model; dim 1280 x 40 layers gives 1.05B here (?)."""
    return LMConfig(
        dim=1280, num_heads=20, num_layers=40, ffn_dim=5120, num_codebooks=1, card=2048,
        pattern="parallel", text=_t5_large(),
        text_prefix=True,
    )


def small() -> LMConfig:
    """The project's CPU default: MiniLM text, delay pattern over the 4 x 2048 codec streams."""
    return LMConfig(dim=256, num_heads=4, num_layers=6, ffn_dim=1024)


def tiny() -> LMConfig:
    """For tests: a few thousand parameters per block, 16-code books."""
    return LMConfig(dim=32, num_heads=2, num_layers=2, ffn_dim=64, num_codebooks=4, card=16,
                    max_seq_len=64)


PRESETS = {
    "audiogen-medium": audiogen_medium,
    "paper-base": paper_base,
    "paper-large": paper_large,
    "small": small,
    "tiny": tiny,
}
