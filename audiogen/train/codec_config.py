"""Codec training configurations as YAML files (the format of `audiogen.train.config_file`).

The settings are `CodecTrainConfig`'s (audiogen/train/codec_trainer.py). The packaged presets
live in audiogen/configs/ (`codec_small.yaml` ...) and `load_config("small")` finds them by
name. A run directory keeps its settings as train_config.json, which resuming reads.
"""

from __future__ import annotations

import os
from typing import Any

from audiogen.train import config_file
from audiogen.train.codec_trainer import CodecTrainConfig

PRESET_FILES = {"small": "codec_small.yaml", "audiogen-16khz": "codec_audiogen_16khz.yaml"}


def config_from_dict(data: dict[str, Any], where: str = "config") -> CodecTrainConfig:
    """Build a config from parsed YAML, checking names and types against the defaults."""
    return config_file.config_from_dict(CodecTrainConfig, data, where)


def load_config(name_or_path: str | os.PathLike) -> CodecTrainConfig:
    """Read a YAML config file, or a packaged preset by name (small, audiogen-16khz)."""
    return config_file.load_config(CodecTrainConfig, PRESET_FILES, name_or_path)
