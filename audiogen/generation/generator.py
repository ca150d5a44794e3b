"""The decode loop: codes from an AudioLM, step by step over its codebook pattern.

One generation runs the LM on the pattern sequence `seq [B, K, S]` (S = pattern.num_steps(T)):
step 0 is the special token; each LM call sees the tokens of one step (the first call: every
step whose tokens are already known, i.e. the prompt) and predicts the next step. Positions the
pattern leaves empty get the special token; positions that hold prompt frames keep the prompt's
codes, whatever the LM predicts, so a continuation starts exactly from the encoded prompt.

Classifier-free guidance runs the conditional and the unconditional (or negative-prompt) rows
as one batch of 2B through one KV cache, then combines the two halves' logits.

Nothing in the loop reads a tensor back to the host: the masks that drive it are built once
before the first step, sampling stays on the device (audiogen.lm.sampling), and the loop bounds
are Python integers. `iter_decode` yields after each step, with how many frames are final, so a
streaming consumer can decode audio while the loop runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from audiogen.generation.decoder import Decoder
from audiogen.lm.sampling import SamplingParams, apply_guidance, sample_next

ProgressCallback = Callable[[int, int], None]  # (steps done, steps in all)


def prepare_condition(lm: Decoder, texts: Sequence[str | None], negative_prompt: str | Sequence[str] | None,
                      cfg_coef: float):
    """Text conditions for a batch, with the guidance rows appended when guidance is on.

    Returns `(cond, guidance)`: `cond` is a TextCondition of batch B (no guidance) or 2B
    (`texts` then the unconditional rows: the negative prompt where given, else empty), and
    `guidance` is the coefficient to use, or None when guidance would change nothing (γ = 1,
    or no text and no negative prompt: uncond + γ (uncond - uncond) = uncond).
    All 2B texts go through the conditioner in one call so they share one padded length.
    """
    texts = list(texts)
    if isinstance(negative_prompt, str) or negative_prompt is None:
        negatives = [negative_prompt] * len(texts)
    else:
        negatives = list(negative_prompt)
        if len(negatives) != len(texts):
            raise ValueError(f"{len(negatives)} negative prompts for {len(texts)} texts")
    has_text = any(t for t in texts) or any(n for n in negatives)
    if cfg_coef == 1.0 or not has_text:
        return lm.text(texts), None
    return lm.text(texts + negatives), float(cfg_coef)


@dataclass(frozen=True)
class DecodePlan:
    """What the loop needs to know about the pattern for T frames with a P-frame prompt.

    All masks are `[K, S]` bool on the generation device; the integers are host-side.
    """

    num_frames: int  # T
    num_steps: int  # S
    first_step: int  # first step with a position left to sample (the prefill covers the rest)
    valid: torch.Tensor  # position holds a frame (else: special token)
    known: torch.Tensor  # position holds a prompt frame (kept as is)
    frames_final: list[int]  # frames_final[s]: frames 0..n-1 complete once step s is written

    @classmethod
    def build(cls, pattern, num_codebooks: int, num_frames: int, prompt_frames: int,
              device: torch.device) -> DecodePlan:
        T, P, K = num_frames, prompt_frames, num_codebooks
        if not 0 <= P < T:
            raise ValueError(f"prompt of {P} frames for {T} frames in all: need 0 <= P < T")
        S = pattern.num_steps(T)
        # Frame t + 1 at each position (0 = none), via the pattern itself, so any pattern works.
        frame_ids = torch.arange(1, T + 1).expand(1, K, T)
        ids = pattern.build(frame_ids, 0)[0].cpu()  # [K, S]
        valid = pattern.valid_mask(T).to(torch.bool).cpu()
        known = (ids >= 1) & (ids <= P) & valid
        to_sample = (valid & ~known).any(dim=0).tolist()
        first_step = to_sample.index(True)
        # Step at which each frame's last position is written; frames become final in order.
        last_step = torch.zeros(T, dtype=torch.long)
        steps = torch.arange(S).expand(K, S)
        has = (ids >= 1) & valid
        last_step.scatter_reduce_(0, ids[has] - 1, steps[has], reduce="amax")
        last_step = torch.cummax(last_step, dim=0).values
        frames_final = torch.searchsorted(last_step, torch.arange(S), right=True).tolist()
        return cls(T, S, first_step, valid.to(device), known.to(device), frames_final)


def new_sequence(pattern, B: int, K: int, num_frames: int, prompt: torch.Tensor | None,
                 card: int, device: torch.device) -> torch.Tensor:
    """The pattern sequence `[B, K, S]` of a generation: the prompt's codes `[B, K, P]` (if
    any) at their positions, the special token `card` where the pattern leaves a gap; the
    positions to sample hold placeholders that the loop overwrites."""
    codes = torch.zeros(B, K, num_frames, dtype=torch.long, device=device)
    if prompt is not None:
        codes[..., :prompt.shape[-1]] = prompt.to(device)
    return pattern.build(codes, card).to(device)


def write_step(seq: torch.Tensor, step: int, logits: torch.Tensor, plan: DecodePlan,
               guidance: float | None, sampling: SamplingParams,
               generator: torch.Generator | None, card: int) -> None:
    """Choose the tokens of `step` from the LM's float32 logits `[rows, K, card]` (rows = B,
    or 2B: [cond; uncond] under guidance) and write them into `seq [B, K, S]`: the special
    token where the pattern has no frame, the prompt's codes where they are known."""
    B = seq.shape[0]
    if guidance is not None:
        logits = apply_guidance(logits[:B], logits[B:], guidance)
    tokens = sample_next(logits, sampling, generator)  # [B, K]
    tokens = torch.where(plan.valid[:, step], tokens, card)
    seq[:, :, step] = torch.where(plan.known[:, step], seq[:, :, step], tokens)


@dataclass
class DecodeStep:
    step: int  # the step just written
    frames_final: int  # frames 0..n-1 of `seq` can no longer change
    seq: torch.Tensor  # [B, K, S] pattern sequence, filled up to `step`


def iter_decode(lm: Decoder, cond, num_frames: int, *, prompt: torch.Tensor | None = None,
                guidance: float | None = None, sampling: SamplingParams | None = None,
                generator: torch.Generator | None = None,
                progress: bool = False, callback: ProgressCallback | None = None,
                ) -> Iterator[DecodeStep]:
    """Decode `num_frames` frames, yielding after every sampled step.

    cond: TextCondition of batch B, or 2B ([cond; uncond]) when `guidance` is a coefficient.
    prompt: codes `[B, K, P]` (P < num_frames) that the output must start with, or None.
    sampling: temperature / top-k / top-p (default: SamplingParams()).
    The `seq` yielded is the same tensor each time (filled in place): copy what you keep.
    """
    sampling = sampling or SamplingParams()
    card, K = lm.config.card, lm.config.num_codebooks
    rows = cond.embeddings.shape[0]
    B = rows // 2 if guidance is not None else rows
    device = cond.embeddings.device
    P = 0 if prompt is None else prompt.shape[-1]
    if prompt is not None and tuple(prompt.shape[:2]) != (B, K):
        raise ValueError(f"prompt codes must be [B={B}, K={K}, P], got {tuple(prompt.shape)}")
    plan = DecodePlan.build(lm.pattern, K, num_frames, P, device)
    seq = new_sequence(lm.pattern, B, K, num_frames, prompt, card, device)
    state = lm.start(cond, plan.num_steps)
    total = plan.num_steps - plan.first_step
    bar = tqdm(total=total, desc="generating", unit="step", disable=not progress, leave=False)
    fed = 0  # steps already in the KV cache
    try:
        for step in range(plan.first_step, plan.num_steps):
            inputs = seq[:, :, fed:step]
            if guidance is not None:
                inputs = torch.cat([inputs, inputs], dim=0)
            # float32 for the guidance arithmetic and sampling, whatever the LM computes in
            logits = lm.step(inputs, state)[:, :, -1].float()  # [rows, K, card]
            fed = step
            write_step(seq, step, logits, plan, guidance, sampling, generator, card)
            bar.update(1)
            if callback is not None:
                callback(step - plan.first_step + 1, total)
            yield DecodeStep(step, plan.frames_final[step], seq)
    finally:
        bar.close()


def decode(lm: Decoder, cond, num_frames: int, **kwargs) -> torch.Tensor:
    """Run `iter_decode` to the end and return the codes `[B, K, num_frames]`."""
    seq = None
    for out in iter_decode(lm, cond, num_frames, **kwargs):
        seq = out.seq
    assert seq is not None  # the plan always has at least one step to sample
    return lm.pattern.revert(seq, num_frames)
