"""A tiny but real model directory for end-to-end tests: random weights, seconds to build.

Codec: hop 320 at 16 kHz (50 Hz frames), 4 x 16 codes, 4 filters, no LSTM. LM: the `tiny`
preset (4 x 16 codes) with the installed MiniLM text encoder cut to 8 tokens, so that long
prompts exercise truncation. Generation window 1.0 s, stride 0.4 s, cap 30 s, so that a few
seconds of audio already go through the sliding window.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from audiogen.codec import Codec, CodecConfig
from audiogen.lm import AudioLM, lm_preset
from audiogen.text.conditioner import TextEncoderConfig

GENERATION = {"duration": 0.5, "window": 1.0, "stride": 0.4, "max_duration": 30.0}


def tiny_codec_config() -> CodecConfig:
    return CodecConfig(n_filters=4, ratios=[8, 5, 4, 2], dimension=16, lstm_layers=0, n_q=4,
                       bins=16, kmeans_init=False)


def tiny_model_dir(directory: Path) -> Path:
    torch.manual_seed(0)
    Codec(tiny_codec_config()).save(directory)
    config = dataclasses.replace(lm_preset("tiny"), text=TextEncoderConfig(max_length=8))
    AudioLM(config).save(directory, generation=GENERATION)
    return directory
