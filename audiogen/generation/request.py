"""One generation request: the settings of a call, checked once, then resolved against a model.

    request = GenerationRequest(duration="8", cfg_coef=4, seed=None).checked()  # no model needed
    resolved = request.resolve(model.config, model.frame_rate, model.sample_rate)
    # resolved.sampling, resolved.seed, resolved.num_frames ... what the decode loop needs

The CLI, the Python API, streaming and the web page all build a GenerationRequest from what the
user gave and go through these two steps, so a bad value gets the same message everywhere, and
gets it before any model is loaded: `checked` parses numbers given as text, refuses non-finite
and out-of-range values and draws the seed; `resolve` fills what was left out from the model's
defaults (GenerationConfig, lm.json "generation"), applies the duration cap and turns seconds
into codec frames.
"""

from __future__ import annotations

import math
import operator
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from audiogen.errors import AudiogenError
from audiogen.generation.config import GenerationConfig
from audiogen.lm.sampling import SamplingParams

SEED_LIMIT = 2**63  # seeds are whole numbers in [0, SEED_LIMIT): any int64 torch accepts
DRAWN_SEED_LIMIT = 2**31  # a drawn seed is below this, so it is short to type back

Number = float | int | str  # a number, or the text a user typed for it


@dataclass(frozen=True)
class GenerationRequest:
    """How to generate. Every field left None takes the model's default (lm.json "generation").

    Numbers may be given as text (what a user typed on the command line or the web page);
    `checked` parses them.
    """

    duration: Number | None = None  # seconds of each result (a continuation's prompt included)
    cfg_coef: Number | None = None  # classifier-free guidance scale; 1 = none, 0 = unconditional
    top_k: Number | None = None  # sample among the k most likely codes; 0 = off
    top_p: Number | None = None  # nucleus sampling mass in [0, 1]; 0 = off; wins over top_k
    temperature: Number | None = None  # softmax temperature >= 0; 0 = greedy
    seed: Number | None = None  # in [0, SEED_LIMIT); None (or "") draws one
    negative_prompt: str | Sequence[str] | None = None  # steer away from (one, or one per text)

    def checked(self, max_duration: float | None = None) -> GenerationRequest:
        """This request with numbers parsed and range-checked and the seed drawn.

        max_duration: also refuse longer durations (a cap known before the model is loaded).
        Raises AudiogenError naming the setting, the allowed range and the value.
        """
        duration = _number(self.duration, "duration")
        if duration is not None:
            duration = check_duration(duration, max_duration)
        cfg_coef = _number(self.cfg_coef, "cfg_coef")
        if cfg_coef is not None and cfg_coef < 0:
            raise AudiogenError(f"cfg_coef (guidance) must be >= 0 (1 = no guidance), "
                                f"got {cfg_coef:g}.")
        temperature = _number(self.temperature, "temperature")
        if temperature is not None and temperature < 0:
            raise AudiogenError(f"temperature must be >= 0 (0 = greedy), got {temperature:g}.")
        top_p = _number(self.top_p, "top_p")
        if top_p is not None and not 0 <= top_p <= 1:
            raise AudiogenError(f"top_p must be between 0 and 1 (0 = off), got {top_p:g}.")
        top_k = _whole(self.top_k, "top_k", 0, None, "0 = off")
        seed = _whole(self.seed, "seed", 0, SEED_LIMIT,
                      "leave it empty for a random one")
        if seed is None:
            seed = secrets.randbelow(DRAWN_SEED_LIMIT)
        negative = self.negative_prompt
        if isinstance(negative, str):
            negative = negative.strip() or None
        return replace(self, duration=duration, cfg_coef=cfg_coef, top_k=top_k, top_p=top_p,
                       temperature=temperature, seed=seed, negative_prompt=negative)

    def filled(self, config: GenerationConfig,
               max_duration: float | None = None) -> GenerationRequest:
        """This request checked, with every field left out taken from the model's defaults.

        max_duration: a cap below the model's own (a server's); the lower of the two applies.
        """
        cap = duration_cap(config, max_duration)
        r = self.checked(cap)  # parsed first: an empty text is then None, and filled below

        def pick(value, default):
            return default if value is None else value

        # checked again: a model's own defaults (a hand-edited lm.json) are held to the same rules
        return replace(r, duration=pick(r.duration, config.duration),
                       cfg_coef=pick(r.cfg_coef, config.cfg_coef),
                       top_k=pick(r.top_k, config.top_k), top_p=pick(r.top_p, config.top_p),
                       temperature=pick(r.temperature, config.temperature)).checked(cap)

    def resolve(self, config: GenerationConfig, frame_rate: float, sample_rate: int,
                max_duration: float | None = None) -> ResolvedRequest:
        """`filled`, then in the units of the decode loop: sampling parameters and frames."""
        r = self.filled(config, max_duration)
        return ResolvedRequest(
            duration=r.duration, cfg_coef=r.cfg_coef,
            sampling=SamplingParams(temperature=r.temperature, top_k=r.top_k, top_p=r.top_p),
            seed=r.seed, negative_prompt=r.negative_prompt,
            num_frames=frames(r.duration, frame_rate),
            num_samples=round(r.duration * sample_rate),
            window=frames(config.window, frame_rate),
            stride=max(1, round(config.stride * frame_rate)), sample_rate=sample_rate)

    def with_seed_offset(self, offset: int) -> GenerationRequest:
        """This request with seed + offset (wrapped into the seed range): batch j of a run."""
        r = self.checked()
        return replace(r, seed=(int(r.seed) + offset) % SEED_LIMIT)


@dataclass(frozen=True)
class ResolvedRequest:
    """A request with every value settled: what the decode loop and the codec need."""

    duration: float  # seconds of each result, prompt included
    cfg_coef: float  # guidance scale
    sampling: SamplingParams  # temperature / top-k / top-p
    seed: int  # the seed used (given or drawn)
    negative_prompt: str | Sequence[str] | None  # guidance's negative condition, or None
    num_frames: int  # codec frames that cover `duration`
    num_samples: int  # output samples per clip
    window: int  # frames the LM decodes at once; longer outputs slide a window
    stride: int  # new frames per sliding-window step
    sample_rate: int  # of the output

    def generator(self, device: torch.device | str) -> torch.Generator:
        """A fresh generator seeded with `seed`: the same seed gives the same draws."""
        return torch.Generator(device=device).manual_seed(self.seed)

    def check_prompt(self, prompt_samples: int, prompt_frames: int | None = None) -> None:
        """Refuse a continuation prompt that fills the whole duration."""
        if prompt_samples >= self.num_samples or (prompt_frames is not None
                                                  and prompt_frames >= self.num_frames):
            raise prompt_too_long(prompt_samples / self.sample_rate, self.duration)


def prompt_too_long(prompt_seconds: float, duration: float) -> AudiogenError:
    return AudiogenError(f"the prompt is {prompt_seconds:.2f} s long; the duration "
                         f"({duration:g} s, prompt included) must be longer.")


def frames(seconds: float, frame_rate: float) -> int:
    """Codec frames that cover `seconds`."""
    return math.ceil(round(seconds * frame_rate, 6))


def duration_cap(config: GenerationConfig, max_duration: float | None = None) -> float:
    """The longest duration allowed: the model's cap, or `max_duration` when lower."""
    if max_duration is None:
        return config.max_duration
    return min(max_duration, config.max_duration)


def check_duration(duration: float, max_duration: float | None) -> float:
    """`duration` if it is in (0, max_duration]; one message for every value out of range."""
    if not duration > 0 or (max_duration is not None and duration > max_duration):
        cap = "" if max_duration is None else f" and at most {max_duration:g} s"
        raise AudiogenError(f"duration must be above 0{cap}, got {duration:g}.")
    return duration


def _number(value: Number | None, name: str) -> float | None:
    """A finite float parsed from `value` (None stays None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):  # a checkbox's value where a number belongs
        raise AudiogenError(f"{name} must be a number, got {value!r}.")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise AudiogenError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(x):
        raise AudiogenError(f"{name} must be a finite number, got {x:g}.")
    return x


def _whole(value: Number | None, name: str, lo: int, hi: int | None, hint: str) -> int | None:
    """A whole number in [lo, hi) parsed from `value` (None or "" stays None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    span = f">= {lo}" if hi is None else f"from {lo} to {_power_of_two(hi - 1)}"

    def refuse(shown: str) -> AudiogenError:
        return AudiogenError(f"{name} must be a whole number {span} ({hint}), got {shown}.")

    if isinstance(value, bool):  # a checkbox's value where a number belongs
        raise refuse(repr(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:  # "1e3", "2.5", "abc", or more digits than int() reads
            try:
                value = float(text)
            except ValueError:
                raise refuse(repr(value)) from None
    try:
        x = operator.index(value)  # int, numpy integers
    except TypeError:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise refuse(repr(value)) from None
        if not math.isfinite(f) or f != int(f):
            raise refuse(f"{f:g}") from None
        x = int(f)
    if x < lo or (hi is not None and x >= hi):
        raise refuse(str(x))
    return x


def _power_of_two(n: int) -> str:
    """2**63 - 1 reads better than 9223372036854775807."""
    return f"2**{(n + 1).bit_length() - 1} - 1" if n > 2**20 and (n + 1) & n == 0 else str(n)
