"""Codebook patterns: how K parallel code streams are laid out as one sequence of steps.

The LM predicts one step at a time; each step holds at most one code per codebook. A pattern
maps every code (codebook k, frame t) of `codes [B, K, T]` to a step s of `seq [B, K, S]`;
places no code lands on hold the special token (index `card`). Every pattern begins with one
empty step, so the first prediction is conditioned on nothing but the text.

    delay, delays [0, 1, 2] (parallel = all delays 0), T = 4, S = T + max_delay + 1 = 7:
        k=0:  S  c0 c1 c2 c3 S  S
        k=1:  S  S  c0 c1 c2 c3 S
        k=2:  S  S  S  c0 c1 c2 c3
    flattened ("unroll"), K = 2: each frame's codes one after another, S = 1 + K*T:
        k=0:  S  c0 S  c1 S  c2 ...
        k=1:  S  S  c0 S  c1 S  ...
    coarse_first: all of codebook 0, then the others (with their own delays), S = 1 + 2T + max:
        k=0:  S  c0 c1 c2 c3 S  S  S  S
        k=1:  S  S  S  S  S  c0 c1 c2 c3

The model's output at step s predicts the codes placed at step s + 1.
"""

from __future__ import annotations

from functools import lru_cache

import torch

PATTERN_NAMES = ("parallel", "delay", "flattened", "coarse_first")


class CodebookPattern:
    """A layout of K codebooks over sequence steps; see the module docstring for the shapes."""

    def __init__(self, name: str, num_codebooks: int, delays: list[int] | None = None):
        if name not in PATTERN_NAMES:
            raise ValueError(f"unknown pattern {name!r}; expected one of {PATTERN_NAMES}")
        K = num_codebooks
        if K < 1:
            raise ValueError("num_codebooks must be >= 1")
        if name == "parallel":
            if delays is not None and any(delays):
                raise ValueError("the parallel pattern has no delays (use 'delay')")
            delays = [0] * K
        elif name == "delay":
            delays = list(range(K)) if delays is None else list(delays)
            if len(delays) != K:
                raise ValueError(f"delay pattern needs {K} delays, got {delays}")
        elif name == "coarse_first":
            delays = [0] * (K - 1) if delays is None else list(delays)
            if len(delays) != K - 1:
                raise ValueError(f"coarse_first needs {K - 1} delays (codebooks 1..K-1)")
        elif name == "flattened":
            if delays is not None:
                raise ValueError("the flattened pattern takes no delays")
            delays = []
        if any(d < 0 for d in delays) or delays != sorted(delays):
            raise ValueError(f"delays must be non-negative and non-decreasing, got {delays}")
        self.name = name
        self.num_codebooks = K
        self.delays = delays
        self.max_delay = max(delays, default=0)
        self.positions = lru_cache(maxsize=16)(self._positions)

    def __repr__(self) -> str:
        return f"CodebookPattern({self.name!r}, K={self.num_codebooks}, delays={self.delays})"

    def num_steps(self, T: int) -> int:
        """S, the sequence steps that hold T frames (the empty first step included)."""
        K = self.num_codebooks
        if self.name == "flattened":
            return 1 + K * T
        if self.name == "coarse_first":
            return 1 + 2 * T + self.max_delay if K > 1 else 1 + T
        return 1 + T + self.max_delay

    def _positions(self, T: int) -> torch.Tensor:
        """[K, T] long: the step each code (k, t) is placed at."""
        K = self.num_codebooks
        t = torch.arange(T).unsqueeze(0)
        k = torch.arange(K).unsqueeze(1)
        if self.name == "flattened":
            return 1 + t * K + k
        if self.name == "coarse_first":
            offsets = torch.tensor([0] + [T + d for d in self.delays]).unsqueeze(1)
            return 1 + t + offsets
        return 1 + t + torch.tensor(self.delays).unsqueeze(1)

    def build(self, codes: torch.Tensor, special_token: int) -> torch.Tensor:
        """codes [B, K, T] -> seq [B, K, S], the special token wherever no code is placed."""
        B, K, T = codes.shape
        assert K == self.num_codebooks, f"expected {self.num_codebooks} codebooks, got {K}"
        seq = codes.new_full((B, K, self.num_steps(T)), special_token)
        index = self.positions(T).to(codes.device).expand(B, K, T)
        return seq.scatter(2, index, codes)

    def revert(self, seq: torch.Tensor, T: int) -> torch.Tensor:
        """seq [B, K, S] -> codes [B, K, T]. Trailing dimensions ride along, so logits
        [B, K, S, card] revert to [B, K, T, card] the same way."""
        B, K, S = seq.shape[:3]
        assert K == self.num_codebooks and S >= self.num_steps(T), (seq.shape, T)
        index = self.positions(T).to(seq.device)
        index = index.view(1, K, T, *([1] * (seq.dim() - 3))).expand(B, K, T, *seq.shape[3:])
        return seq.gather(2, index)

    def valid_mask(self, T: int) -> torch.Tensor:
        """[K, S] bool: True where a code of the T frames is placed (the loss positions)."""
        mask = torch.zeros(self.num_codebooks, self.num_steps(T), dtype=torch.bool)
        return mask.scatter(1, self.positions(T), True)

    def frame_index(self, s: int, T: int | None = None) -> list[tuple[int, int]]:
        """The (codebook k, frame t) pairs placed at step s, ascending k.

        T bounds the frames (pairs with t >= T are dropped); coarse_first needs it, as where
        the finer codebooks start depends on the length.
        """
        K = self.num_codebooks
        if s <= 0:
            return []
        if self.name == "flattened":
            out = [((s - 1) % K, (s - 1) // K)]
        elif self.name == "coarse_first":
            if T is None:
                raise ValueError("coarse_first.frame_index needs the number of frames T")
            out = [(0, s - 1)] if s - 1 < T else []
            out += [(k + 1, s - 1 - T - d) for k, d in enumerate(self.delays) if s - 1 - T - d >= 0]
        else:
            out = [(k, s - 1 - d) for k, d in enumerate(self.delays) if s - 1 - d >= 0]
        return [(k, t) for k, t in out if T is None or t < T]

    def first_step_with_frame(self, t: int, T: int) -> int:
        """The first step that holds any code of frame t: where generation after a prompt of t
        frames begins (every earlier step is fully inside the prompt)."""
        return int(self.positions(T)[:, t].min()) if t < T else self.num_steps(T)


def make_pattern(name: str, num_codebooks: int, delays: list[int] | None = None) -> CodebookPattern:
    """The pattern `name` (one of PATTERN_NAMES) for K = num_codebooks streams."""
    return CodebookPattern(name, num_codebooks, delays)
