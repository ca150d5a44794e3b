"""Generation: the decode loop over the codebook pattern, guidance, and long outputs."""

from audiogen.generation.config import GenerationConfig
from audiogen.generation.generator import (
           DecodePlan,
           DecodeStep,
           decode,
           iter_decode,
           prepare_condition,
)
from audiogen.generation.long_form import generate_long, plan_windows
from audiogen.generation.request import GenerationRequest, ResolvedRequest

__all__ = ["DecodePlan", "DecodeStep", "GenerationConfig", "GenerationRequest",
           "ResolvedRequest", "decode", "generate_long", "iter_decode", "plan_windows",
           "prepare_condition"]
