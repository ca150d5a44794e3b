"""Generation defaults of a model, read from the "generation" section of its lm.json.

A model directory carries the values it was meant to be sampled with; the API and the CLI use
them wherever the caller gives none. Unknown or mistyped keys are an error, so a typo in a
hand-edited lm.json does not pass unnoticed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from audiogen.errors import AudiogenError
from audiogen.lm.sampling import SamplingParams
from audiogen.model_dir import parse_config


@dataclass(frozen=True)
class GenerationConfig:
    duration: float = 5.0  # seconds generated when the caller gives no duration
    cfg_coef: float = 3.0  # classifier-free guidance scale γ (audiocraft's AudioGen: 3)
    # sampling: the defaults of audiogen.lm.sampling (audiocraft's AudioGen: top-k 250)
    temperature: float = SamplingParams.temperature  # softmax temperature; 0 = greedy
    top_k: int = SamplingParams.top_k  # sample among the k most likely codes; 0 = off
    top_p: float = SamplingParams.top_p  # nucleus sampling; 0 = off, wins over top_k when set
    window: float = 10.0  # seconds the LM was trained on; longer outputs use a sliding window
    stride: float = 2.0  # seconds added per sliding-window step (audiocraft's AudioGen: 2 s)
    max_duration: float = 120.0  # cap on a requested duration (seconds); above it is an error

    def __post_init__(self):
        if not 0 < self.stride < self.window:
            raise AudiogenError(
                f"generation config: need 0 < stride < window, got stride={self.stride}, "
                f"window={self.window}")
        if self.max_duration <= 0:
            raise AudiogenError(f"generation config: max_duration must be > 0, "
                                f"got {self.max_duration}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None,
                  where: str = "generation settings") -> GenerationConfig:
        """Missing keys take the defaults above; an unknown or mistyped one is an error
        naming `where` (a typo in a hand-edited lm.json must not pass unnoticed)."""
        return parse_config(cls, dict(values or {}), where, partial=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
