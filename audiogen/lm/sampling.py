"""Choosing the next token: classifier-free guidance, temperature, top-k, top-p, greedy.

Everything here runs on the logits' device and never reads a value back to the host, so a
decode loop built on it has no synchronisation point per step (a `.item()` or a data-dependent
branch would stall a GPU every step). Sampling uses the exponential race instead of
`torch.multinomial`: with E_i ~ Exp(1) independent, argmax_i p_i / E_i is distributed exactly
as Categorical(p), and it needs only elementwise ops and an argmax.

Shapes: logits `[..., card]` (the decode loop passes `[B, K, card]`), tokens `[...]` long.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audiogen.errors import AudiogenError


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0  # softmax temperature; <= 0 means greedy (argmax)
    top_k: int = 250  # keep the k most likely tokens; 0 = off (audiogen-medium: 250)
    top_p: float = 0.0  # keep the smallest set with mass >= p; 0 = off; wins over top_k

    def __post_init__(self):
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p must be in [0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def apply_guidance(cond: torch.Tensor, uncond: torch.Tensor, coef: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + coef * (cond - uncond) (AudioGen paper).

    coef = 1 gives the conditional logits, coef = 0 the unconditional ones; above 1 pushes away
    from the unconditional (or negative-prompt) prediction.
    """
    return uncond + coef * (cond - uncond)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the most likely tokens until their mass reaches p; -inf the rest.

    The most likely token is always kept, so p close to 0 degrades to greedy, never to nothing.
    p <= 0 or p >= 1 leaves the logits as is.
    """
    if p <= 0.0 or p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above
    drop_sorted = mass_before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_categorical(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one index per row of `probs [..., card]` (rows need not be normalised)."""
    if generator is not None and not _same_device(generator.device, probs.device):
        # (a device check on the host, not a sync) torch's own message is an opaque
        # "expected a generator of type cuda" from inside exponential_
        raise AudiogenError(
            f"the random generator is on {generator.device} but the model computes on "
            f"{probs.device}: create it with torch.Generator(device='{probs.device}').")
    race = torch.empty_like(probs).exponential_(generator=generator)
    # A draw of exactly 0 would turn a filtered-out token (p = 0) into 0/0 = NaN, which argmax
    # treats as the maximum.
    race.clamp_min_(torch.finfo(race.dtype).tiny)
    return torch.argmax(probs / race, dim=-1)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """"cuda" and "cuda:0" are one device when the current one is 0 (index None = current)."""
    if a.type != b.type:
        return False
    if a.type != "cuda" or a.index == b.index:
        return True
    current = torch.cuda.current_device()
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def sample_next(logits: torch.Tensor, params: SamplingParams,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick a token from `logits [..., card]` -> `[...]` long.

    Greedy when `params.temperature <= 0`; otherwise softmax(logits / temperature) restricted
    by top-p when it is set, else by top-k.
    """
    if params.greedy:
        return torch.argmax(logits, dim=-1)
    logits = logits.float() / params.temperature
    if params.top_p > 0.0:
        logits = top_p_filter(logits, params.top_p)
    elif 0 < params.top_k < logits.shape[-1]:
        # Draw among the k candidates only: k random numbers per row instead of card (the
        # exponential draws are most of the sampling time on a CPU).
        values, candidates = torch.topk(logits, params.top_k, dim=-1)
        choice = sample_categorical(torch.softmax(values, dim=-1), generator)
        return candidates.gather(-1, choice.unsqueeze(-1)).squeeze(-1)
    return sample_categorical(torch.softmax(logits, dim=-1), generator)
