"""Outputs longer than the LM's trained length, by a sliding window (as audiocraft).

The LM is only trained on `window` frames, so past that the output is built window by window:
the first window is generated as usual (after the prompt, if any); each later one takes the
last `window - stride` frames generated so far as its prompt and adds `stride` new frames, with
the same text. Every window after the first therefore starts from exactly the frames it joins
on to, so nothing is cross-faded: the codes are simply concatenated.

    frames:  |---------- window ----------|
                           |-- context --|+ stride|
                                      |-- context --|+ stride|
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# (prompt codes [B, K, C] or None, frames in all) -> codes [B, K, frames] starting with the prompt
WindowDecoder = Callable[[torch.Tensor | None, int], torch.Tensor]


def plan_windows(num_frames: int, window: int, stride: int,
                 prompt_frames: int = 0) -> list[tuple[int, int, int]]:
    """The windows that build `num_frames` frames: a list of (start, known, end).

    Window i decodes frames [start, end) of the output, of which [start, known) are already
    there (its prompt) and [known, end) are new. The new ranges tile
    [prompt_frames, num_frames) without gap or overlap; every window is at most `window` long.
    """
    if not 0 < stride < window:
        raise ValueError(f"need 0 < stride < window, got stride={stride}, window={window}")
    if not 0 <= prompt_frames < num_frames:
        raise ValueError(f"need 0 <= prompt_frames < num_frames, got {prompt_frames}, "
                         f"{num_frames}")
    context = window - stride
    # A prompt that fits in the window is used whole; a longer one is cut like any context.
    have = prompt_frames
    first_context = have if have < window else context
    plans = []
    while have < num_frames:
        ctx = first_context if not plans else min(have, context)
        end = min(num_frames, have - ctx + window)
        plans.append((have - ctx, have, end))
        have = end
    return plans


def generate_long(decode_window: WindowDecoder, num_frames: int, window: int, stride: int,
                  prompt: torch.Tensor | None = None) -> torch.Tensor:
    """Codes `[B, K, num_frames]`, starting with `prompt [B, K, P]` when given.

    `decode_window(context, frames)` must return `frames` frames that begin with `context`
    (None when a window has no context: the first one without a prompt).
    """
    P = 0 if prompt is None else prompt.shape[-1]
    out = prompt
    for start, known, end in plan_windows(num_frames, window, stride, P):
        context = None if known == start else out[..., start:known]
        codes = decode_window(context, end - start)
        new = codes[..., known - start:]
        out = new if out is None else torch.cat([out, new], dim=-1)
    return out
