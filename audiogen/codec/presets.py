"""Named codec configurations: the released AudioGen codec, the paper's variants, a small one.

Each preset is a plain function returning a fresh `CodecConfig`; override fields with
`dataclasses.replace(codec_preset(name), ...)`.
"""

from __future__ import annotations

from collections.abc import Callable

from audiogen.codec.config import CodecConfig


def audiogen_16khz() -> CodecConfig:
    """The codec of the released audiogen-medium (v2): hop 320 (50 Hz), 4 x 2048, 2.2 kbps, 57M
    parameters (audiocraft's `encodec_large_nq4_s320`)."""
    return CodecConfig(n_filters=64, ratios=[8, 5, 4, 2], dimension=128, n_q=4, bins=2048)


def paper_x32() -> CodecConfig:
    """The paper's main codec: downsampling x32 (500 Hz), one 2048-code stream, 5.5 kbps.

    The paper gives the total stride, not the split; four blocks as in EnCodec (?).
    """
    return CodecConfig(n_filters=32, ratios=[4, 2, 2, 2], n_q=1, bins=2048)


def paper_x64() -> CodecConfig:
    """The paper's x64 variant (250 Hz): two streams of 1024 codes, 5 kbps."""
    return CodecConfig(n_filters=32, ratios=[4, 4, 2, 2], n_q=2, bins=1024)


def paper_x128() -> CodecConfig:
    """The paper's x128 variant (125 Hz): four streams of 512 codes, 4.5 kbps."""
    return CodecConfig(n_filters=32, ratios=[8, 4, 2, 2], n_q=4, bins=512)


def small() -> CodecConfig:
    """Sized for training on a CPU: hop 320 (50 Hz) like the release, 4 x 1024, 2 kbps, ~2.9M
    parameters (n_filters 16, one LSTM layer)."""
    return CodecConfig(n_filters=16, ratios=[8, 5, 4, 2], dimension=128, lstm_layers=1,
                       n_q=4, bins=1024)


# preset name -> builder; the one table of names
PRESETS: dict[str, Callable[[], CodecConfig]] = {
    "audiogen-16khz": audiogen_16khz,
    "paper-x32": paper_x32,
    "paper-x64": paper_x64,
    "paper-x128": paper_x128,
    "small": small,
}


def codec_preset(name: str) -> CodecConfig:
    """A fresh config for a named preset (ValueError listing the names if unknown)."""
    if name not in PRESETS:
        raise ValueError(f"unknown codec preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()
