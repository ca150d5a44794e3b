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

import math
import secrets
from collections.abc import Callable, Iterator, Sequence

import torch

from audiogen.codec.chunked import StreamingDecoder
from audiogen.errors import AudiogenError
from audiogen.generation.generator import iter_decode, prepare_condition
from audiogen.generation.long_form import plan_windows
from audiogen.generation.prompt import prompt_waveform

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
                 skip_samples: int = 0) -> Iterator[torch.Tensor]:
    """Decode code pieces as they come: -> wav chunks `[B, 1, t]` float32 on the CPU.

    The chunks joined are samples [skip_samples, num_samples) of the decoded signal; empty
    chunks are not yielded. Iterate under no_grad (see `no_grad_steps`).
    """
    decoder = StreamingDecoder(codec)
    done = 0  # samples decoded so far (before trimming)

    def trimmed(wav: torch.Tensor) -> torch.Tensor:
        nonlocal done
        lo, hi = done, done + wav.shape[-1]
        done = hi
        return wav[..., max(0, skip_samples - lo):max(0, min(hi, num_samples) - lo)]

    for codes in pieces:
        wav = trimmed(decoder.push(codes))
        if wav.shape[-1]:
            yield wav.float().cpu()
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


def generate_stream(model, texts: str | Sequence[str | None] | None, duration: float | None = None,
                    cfg_coef: float | None = None, top_k: int | None = None,
                    top_p: float | None = None, temperature: float | None = None,
                    seed: int | None = None, negative_prompt: str | Sequence[str] | None = None,
                    prompt_audio: torch.Tensor | None = None, prompt_sample_rate: int | None = None,
                    include_prompt: bool = True, chunk_duration: float = 0.5,
                    callback: FrameCallback | None = None) -> Iterator[torch.Tensor]:
    """The body of `AudioGen.generate_stream` (see there); `model` is an AudioGen.

    Arguments are checked here, before the first chunk is asked for, so a bad request fails
    at the call rather than at the first `next()`.
    """
    if texts is None:  # unconditional, one per prompt clip
        texts = [None] * (prompt_audio.shape[0] if prompt_audio is not None
                          and prompt_audio.dim() == 3 else 1)
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise AudiogenError("no text to generate from (give at least one prompt).")
    if not chunk_duration > 0:
        raise AudiogenError(f"chunk_duration must be > 0 seconds, got {chunk_duration}.")
    config = model.config
    duration = config.check_duration(config.duration if duration is None else duration)
    sampling = model._sampling(top_k, top_p, temperature)
    cfg_coef = config.cfg_coef if cfg_coef is None else float(cfg_coef)
    num_frames = model.num_frames(duration)
    num_samples = round(duration * model.sample_rate)
    prompt, skip = None, 0
    if prompt_audio is not None:
        prompt, prompt_samples = _encode_prompt(model, prompt_audio, prompt_sample_rate,
                                                len(texts))
        if prompt.shape[-1] >= num_frames:
            raise AudiogenError(
                f"the prompt is {prompt_samples / model.sample_rate:.2f} s long; the duration "
                f"({duration:g} s, prompt included) must be longer.")
        skip = 0 if include_prompt else prompt_samples
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    model.last_seed = seed
    generator = torch.Generator(device=model.device).manual_seed(seed)
    window = model.num_frames(config.window)
    stride = max(1, round(config.stride * model.frame_rate))
    chunk_frames = max(1, math.ceil(chunk_duration * model.frame_rate))

    def chunks() -> Iterator[torch.Tensor]:
        cond, guidance = prepare_condition(model.lm, texts, negative_prompt, cfg_coef)
        pieces = stream_codes(model.lm, cond, num_frames, window, stride, prompt, chunk_frames,
                              callback, guidance=guidance, sampling=sampling,
                              generator=generator)
        yield from stream_audio(model.codec, pieces, num_samples, skip)

    return no_grad_steps(chunks())


def _encode_prompt(model, audio: torch.Tensor, sample_rate: int | None,
                   batch: int) -> tuple[torch.Tensor, int]:
    """Prompt audio [C, T] or [B, C, T] at `sample_rate` -> (codes [batch, K, P], samples)."""
    if sample_rate is None:
        raise AudiogenError("prompt_audio needs its prompt_sample_rate.")
    wav = prompt_waveform(audio, sample_rate, model.sample_rate, batch)
    with torch.no_grad():
        return model.codec.encode(wav.to(model.device)), wav.shape[-1]
