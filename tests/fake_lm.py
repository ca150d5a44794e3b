"""A fixed, transparent stand-in for AudioLM, for testing the decode loop around it.

It implements the LM's decoding interface (`config.card`, `config.num_codebooks`, `pattern`,
`text(texts)`, `start(cond, max_steps)`, `step(tokens, state)`) with logits anyone can compute
by hand:

    logits[b, k, n] = follow * onehot(next(last[b, k, n])) + bias[b]

where last[b, k, n] is the last non-special token of codebook k fed so far (up to position n),
next(x) = (x + 1) % card, next(none yet) = 0, and bias[b] is the text's vector (summed over its
positions; zeros for an empty text). With a large `follow` and greedy decoding every
codebook counts 0, 1, 2, ... from the first frame, or from the last prompt frame in a
continuation, so any gap, repeat or misplaced frame shows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch

from audiogen.lm.patterns import make_pattern


@dataclass
class FakeCondition:
    embeddings: torch.Tensor  # [B, L, card]
    mask: torch.Tensor  # [B, L] bool


@dataclass
class FakeText:
    card: int
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)  # fixed vectors by text
    scale: float = 1.0  # size of the vectors drawn for other texts

    def vector(self, text: str | None) -> torch.Tensor:
        if not text:
            return torch.zeros(self.card)
        if text in self.vectors:
            return self.vectors[text].float()
        gen = torch.Generator().manual_seed(zlib.crc32(text.encode()))
        return torch.randn(self.card, generator=gen) * self.scale

    def __call__(self, texts) -> FakeCondition:
        emb = torch.stack([self.vector(t) for t in texts])[:, None, :]
        mask = torch.tensor([bool(t) for t in texts])[:, None]
        return FakeCondition(emb, mask)

    def null(self, batch: int) -> FakeCondition:
        return self([None] * batch)


class FakeLM:
    def __init__(self, card: int = 16, num_codebooks: int = 4, pattern: str = "delay",
                 follow: float = 0.0, vectors: dict[str, torch.Tensor] | None = None,
                 scale: float = 1.0):
        self.config = SimpleNamespace(card=card, num_codebooks=num_codebooks)
        self.pattern = make_pattern(pattern, num_codebooks)
        self.text = FakeText(card, dict(vectors or {}), scale)
        self.follow = follow
        self.starts: list[tuple[FakeCondition, int]] = []  # (cond, max_steps) of each start
        self.calls: list[torch.Tensor] = []  # tokens of each step call

    def start(self, cond: FakeCondition, max_steps: int) -> dict:
        self.starts.append((cond, max_steps))
        bias = cond.embeddings.sum(1)
        last = torch.full((bias.shape[0], self.config.num_codebooks), -1, dtype=torch.long)
        return {"bias": bias, "last": last, "fed": 0, "max_steps": max_steps}

    def step(self, tokens: torch.Tensor, state: dict) -> torch.Tensor:
        B, _, n = tokens.shape
        assert B == state["bias"].shape[0], "step batch differs from the condition's"
        state["fed"] += n
        assert state["fed"] <= state["max_steps"], "fed more steps than the cache holds"
        self.calls.append(tokens.clone())
        card = self.config.card
        nxt = torch.empty_like(tokens)
        for i in range(n):
            state["last"] = torch.where(tokens[..., i] == card, state["last"], tokens[..., i])
            nxt[..., i] = torch.where(state["last"] < 0, 0, (state["last"] + 1) % card)
        # (one_hot would check the indices' range on the host: a sync the loop must not have)
        onehot = torch.zeros(B, nxt.shape[1], n, card).scatter_(-1, nxt[..., None], 1.0)
        logits = self.follow * onehot
        return logits + state["bias"][:, None, None, :]
