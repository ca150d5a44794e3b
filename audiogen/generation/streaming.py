"""Audio while it is generated: `AudioGen.generate_stream`.

The decode loop (`iter_decode`) reports after every step how many frames can no longer change;
with the delay pattern, frame t is final a few steps after it is first sampled (step
t + 1 + max delay). Those final codes go, piece by piece, through the codec's
`StreamingDecoder`, which returns each audio sample once it is exact. So the chunks joined are
the non-streamed output of the same seed and settings up to float rounding: the same tokens are
drawn (the same calls on the same generator, window by window as in `generate_long`), and the
pieces decode exactly (audiogen.codec.chunked). Chunks join without clicks because there is no
seam to hide.

    steps:   0 1 2 3 4 5 ... S
    final:           0 1 ...      frames, pushed to the decoder every `chunk_frames`
    audio:                 |chunk|chunk| ... |rest|
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext

import torch

from audiogen.codec.chunked import StreamingDecoder
from audiogen.generation.generator import iter_decode, prepare_condition
from audiogen.generation.long_form import plan_windows
from audiogen.generation.request import ResolvedRequest

FrameCallback = Callable[[int, int], None]  # (frames final, frames in all)


def stream_codes(lm, cond, num_frames: int, window: int, stride: int,
                 prompt: torch.Tensor | None = None, chunk_frames: int = 25,
                 callback: FrameCallback | None = None, **decode_kwargs) -> Iterator[torch.Tensor]:
    """Final codes in order, as pieces `[B, K, n]` of at least `chunk_frames` (bar the last).

    Joined, the pieces are what `AudioGen.generate_codes` returns for the same arguments: the
    prompt `[B, K, P]` first (when given), then each window of `plan_windows` decoded from its
    context. `decode_kwargs` go to `iter_decode` (guidance, sampling, generator).
    """
    P = 0 if prompt is None else prompt.shape[-1]
    out = prompt  # all final codes so far [B, K, have]: later windows take their context here
    sent = 0  # frames already yielded
    if prompt is not None and P >= chunk_frames:
        yield prompt
        sent = P
    for start, known, end in plan_windows(num_frames, window, stride, P):
        context = None if known == start else out[..., start:known]
        have = known  # frames of the output final so far
        for step in iter_decode(lm, cond, end - start, prompt=context, **decode_kwargs):
            final = start + step.frames_final
            if final <= sent or (final - sent < chunk_frames and final < end):
                continue
            codes = lm.pattern.revert(step.seq, end - start)  # [B, K, end - start]
            new = codes[..., have - start:final - start]
            out = new if out is None else torch.cat([out, new], dim=-1)
            have = final
            if callback is not None:
                callback(final, num_frames)
            yield out[..., sent:final]
            sent = final


def stream_audio(codec, pieces: Iterator[torch.Tensor], num_samples: int,
                 skip_samples: int = 0, turn: AbstractContextManager | None = None,
                 ) -> Iterator[torch.Tensor]:
    """Decode code pieces as they come: -> wav chunks `[B, 1, t]` float32 on the CPU.

    The chunks joined are samples [skip_samples, num_samples) of the decoded signal; empty
    chunks are not yielded. Iterate under no_grad (see `no_grad_steps`).
    turn: held while the codec works on each piece (a SharedLoop's `codec_turn`), or None.
    """
    turn = turn or nullcontext()
    decoder = StreamingDecoder(codec)
    done = 0  # samples decoded so far (before trimming)

    def trimmed(wav: torch.Tensor) -> torch.Tensor:
        nonlocal done
        lo, hi = done, done + wav.shape[-1]
        done = hi
        return wav[..., max(0, skip_samples - lo):max(0, min(hi, num_samples) - lo)]

    for codes in pieces:
        with turn:
            wav = trimmed(decoder.push(codes))
        if wav.shape[-1]:
            yield wav.float().cpu()
    with turn:
        wav = trimmed(decoder.flush())
    if wav.shape[-1]:
        yield wav.float().cpu()


def no_grad_steps(iterator: Iterator) -> Iterator:
    """Run every step of `iterator` under torch.no_grad().

    Grad mode is per thread, and a consumer may resume a generator from a different thread
    each time (a web server's worker pool does): a `with torch.no_grad()` held across a
    `yield` would not cover the next step. Wrapping each `next()` does.
    """
    while True:
        with torch.no_grad():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def generate_stream(lm, codec, texts: Sequence[str | None], request: ResolvedRequest, *,
                    prompt: torch.Tensor | None = None, skip_samples: int = 0,
                    chunk_frames: int = 25,
                    callback: FrameCallback | None = None) -> Iterator[torch.Tensor]:
    """Wav chunks `[B, 1, t]` of `texts` generated under `request`: the body of
    `AudioGen.generate_stream` (which checks the arguments and encodes the prompt).

    prompt: codes `[B, K, P]` the output starts with, or None; the first `skip_samples`
    samples of the output are not yielded (a prompt left out of the result). The generator is
    seeded here, at the call, so the draws are those of `AudioGen.generate` for the request.
    """
    generator = request.generator(next(lm.parameters()).device)

    def chunks() -> Iterator[torch.Tensor]:
        cond, guidance = prepare_condition(lm, texts, request.negative_prompt, request.cfg_coef)
        pieces = stream_codes(lm, cond, request.num_frames, request.window, request.stride,
                              prompt, chunk_frames, callback, guidance=guidance,
                              sampling=request.sampling, generator=generator)
        yield from stream_audio(codec, pieces, request.num_samples, skip_samples)

    return no_grad_steps(chunks())
