"""What the web page accepts: the server's limits and the checks on each request.

Everything a visitor types is checked here, before the model is touched, and any problem is an
AudiogenError whose message the page shows as is. Gradio is not imported here, so these rules
are tested without it.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

import torch

from audiogen.errors import AudiogenError
from audiogen.generation.config import GenerationConfig

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # interface to listen on; localhost only unless asked otherwise
    port: int = 7860  # TCP port of the page and its HTTP API
    max_batch: int = 4  # prompts one request may hold
    max_duration: float | None = None  # seconds per request; None: the model's own cap
    # (lm.json generation.max_duration); a value above the model's cap is lowered to it
    queue_size: int = 16  # requests that may wait behind the running one; more are refused
    chunk_duration: float = 0.5  # seconds of audio per streamed chunk

    def __post_init__(self):
        if self.max_batch < 1 or self.queue_size < 1 or not self.chunk_duration > 0:
            raise AudiogenError("serve: need max_batch >= 1, queue_size >= 1 and "
                                "chunk_duration > 0")
        if self.max_duration is not None and not self.max_duration > 0:
            raise AudiogenError(f"serve: max_duration must be > 0, got {self.max_duration}")

    def duration_cap(self, generation: GenerationConfig) -> float:
        """The longest duration a request may ask for with this model."""
        if self.max_duration is None:
            return generation.max_duration
        return min(self.max_duration, generation.max_duration)


@dataclass
class Request:
    """One checked request: what `AudioGen.generate_stream` receives."""

    prompts: list[str | None]  # one clip per entry; None: unconditional (continuation only)
    negative: str | None  # negative prompt for all, or None
    duration: float  # seconds of each result (a continuation's clip included)
    cfg_coef: float  # guidance scale
    top_k: int
    top_p: float
    temperature: float
    seed: int  # the seed used: drawn when the visitor asked for a random one
    prompt_audio: torch.Tensor | None = None  # [C, T] clip to continue, or None
    prompt_sample_rate: int | None = None
    include_prompt: bool = True  # keep the clip at the start of each result
    settings: dict = field(default_factory=dict)  # as shown in the page's results list

    def stream_kwargs(self) -> dict:
        return {"duration": self.duration, "cfg_coef": self.cfg_coef, "top_k": self.top_k,
                "top_p": self.top_p, "temperature": self.temperature, "seed": self.seed,
                "negative_prompt": self.negative, "prompt_audio": self.prompt_audio,
                "prompt_sample_rate": self.prompt_sample_rate,
                "include_prompt": self.include_prompt}


def _number(value, name: str, lo: float, hi: float | None = None) -> float:
    """A finite float in [lo, hi]; a readable AudiogenError otherwise."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise AudiogenError(f"{name}: enter a number (got {value!r}).") from None
    if not math.isfinite(x) or x < lo or (hi is not None and x > hi):
        span = f">= {lo:g}" if hi is None else f"between {lo:g} and {hi:g}"
        raise AudiogenError(f"{name} must be {span}, got {value!r}.")
    return x


def split_prompts(text: str | None) -> list[str]:
    """One prompt per non-blank line."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_request(config: ServeConfig, generation: GenerationConfig, *, prompts: str | None,
                  negative: str | None = None, duration=None, guidance=None, top_k=None,
                  top_p=None, temperature=None, seed=None, random_seed: bool = True,
                  prompt_audio: str | None = None, include_prompt: bool = True) -> Request:
    """Check the page's fields and return the Request, or raise AudiogenError.

    Fields left empty (None) take the model's defaults; `prompt_audio` is a file path (an
    upload or a recording). With a clip and no prompt, the clip is continued without text.
    """
    texts: list[str | None] = split_prompts(prompts)
    if not texts and prompt_audio is None:
        raise AudiogenError("Enter a prompt (one per line), or give a clip to continue.")
    if not texts:
        texts = [None]
    if len(texts) > config.max_batch:
        raise AudiogenError(f"{len(texts)} prompts: this server takes at most "
                            f"{config.max_batch} per request.")
    cap = config.duration_cap(generation)
    duration = _number(generation.duration if duration is None else duration, "Duration", 0)
    if duration <= 0 or duration > cap:
        raise AudiogenError(f"Duration must be above 0 and at most {cap:g} s, got {duration:g}.")
    cfg = _number(generation.cfg_coef if guidance is None else guidance, "Guidance", 0, 100)
    k = _number(generation.top_k if top_k is None else top_k, "Top-k", 0)
    if k != int(k):
        raise AudiogenError(f"Top-k must be a whole number, got {top_k!r}.")
    p = _number(generation.top_p if top_p is None else top_p, "Top-p", 0, 1)
    temp = _number(generation.temperature if temperature is None else temperature,
                   "Temperature", 0, 100)
    if random_seed or seed is None or seed == "":
        seed = secrets.randbelow(MAX_SEED + 1)
    else:
        s = _number(seed, "Seed", 0, MAX_SEED)
        if s != int(s):
            raise AudiogenError(f"Seed must be a whole number, got {seed!r}.")
        seed = int(s)
    negative = (negative or "").strip() or None
    audio, sr = None, None
    if prompt_audio is not None:
        from audiogen.audio.io import load_audio

        audio, sr = load_audio(prompt_audio)  # AudioReadError (an AudiogenError) if unreadable
        if audio.shape[-1] / sr >= duration:
            raise AudiogenError(
                f"The clip is {audio.shape[-1] / sr:.2f} s long; the duration ({duration:g} s, "
                "clip included) must be longer.")
    settings = {"negative": negative or "", "seed": seed, "duration": duration,
                "guidance": cfg, "top_k": int(k), "top_p": p, "temperature": temp,
                "continuation": prompt_audio is not None}
    return Request(texts, negative, duration, cfg, int(k), p, temp, seed, audio, sr,
                   bool(include_prompt), settings)
