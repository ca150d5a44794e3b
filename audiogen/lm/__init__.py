"""The AudioGen language model: codebook patterns, the conditioned transformer, presets."""

from audiogen.lm.config import LMConfig, lm_preset
from audiogen.lm.model import AudioLM, DecodeState
from audiogen.lm.patterns import CodebookPattern, make_pattern

__all__ = ["AudioLM", "CodebookPattern", "DecodeState", "LMConfig", "lm_preset", "make_pattern"]
