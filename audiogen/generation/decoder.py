"""What the decode loop needs from a language model: the plain `audiogen.lm.AudioLM` and the
faster `audiogen.generation.fast.FastDecoder` both have it (so does the tests' fake LM).

    state = lm.start(cond, max_steps)        cache sized for max_steps pattern steps
    logits = lm.step(tokens, state)          tokens [B, K, n] -> logits [B, K, n, card]
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from audiogen.lm.config import LMConfig
from audiogen.lm.patterns import CodebookPattern
from audiogen.text.conditioner import TextCondition


@runtime_checkable
class Decoder(Protocol):
    @property
    def config(self) -> LMConfig: ...  # card and num_codebooks are read

    @property
    def pattern(self) -> CodebookPattern: ...  # the codebook interleaving

    @property
    def text(self) -> Any: ...  # texts -> TextCondition (the model's text conditioner)

    def start(self, cond: TextCondition, max_steps: int | None = None) -> Any:
        """A decode state for cond's batch (the text's keys/values, an empty cache)."""

    def step(self, tokens: torch.Tensor, state: Any) -> torch.Tensor:
        """tokens [B, K, n] -> logits [B, K, n, card]; the state advances by n."""
