"""What the web page accepts: the server's limits and the checks on each request.

Everything a visitor types is checked here, before the model is touched, and any problem is an
AudiogenError whose message the page shows as is. Gradio is not imported here, so these rules
are tested without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from audiogen.errors import AudiogenError
from audiogen.generation.config import GenerationConfig
from audiogen.generation.request import GenerationRequest, duration_cap, prompt_too_long


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # interface to listen on; localhost only unless asked otherwise
    port: int = 7860  # TCP port of the page and its HTTP API
    max_batch: int = 4  # prompts one request may hold
    max_duration: float | None = None  # seconds per request; None: the model's own cap
    # (lm.json generation.max_duration); a value above the model's cap is lowered to it
    queue_size: int = 16  # requests that may wait behind the running ones; more are refused
    chunk_duration: float = 0.5  # seconds of audio per streamed chunk
    # clips decoded together: concurrent requests share one decode loop of this many slots
    # (continuous batching); a request of n prompts takes n slots
    slots: int = 8

    def __post_init__(self):
        if self.max_batch < 1 or self.queue_size < 1 or not self.chunk_duration > 0:
            raise AudiogenError("serve: need max_batch >= 1, queue_size >= 1 and "
                                "chunk_duration > 0")
        if self.slots < self.max_batch:
            raise AudiogenError(f"serve: slots ({self.slots}) must be at least max_batch "
                                f"({self.max_batch}): a request of max_batch prompts takes "
                                "that many slots.")
        if self.max_duration is not None and not self.max_duration > 0:
            raise AudiogenError(f"serve: max_duration must be > 0, got {self.max_duration}")

    def duration_cap(self, generation: GenerationConfig) -> float:
        """The longest duration a request may ask for with this model."""
        return duration_cap(generation, self.max_duration)


@dataclass
class Request:
    """One checked request: what `AudioGen.generate_stream` receives."""

    prompts: list[str | None]  # one clip per entry; None: unconditional (continuation only)
    generation: GenerationRequest  # every setting filled in, the seed drawn
    prompt_audio: torch.Tensor | None = None  # [C, T] clip to continue, or None
    prompt_sample_rate: int | None = None
    include_prompt: bool = True  # keep the clip at the start of each result
    settings: dict = field(default_factory=dict)  # as shown in the page's results list

    @property
    def seed(self) -> int:
        return int(self.generation.seed)

    @property
    def duration(self) -> float:
        return float(self.generation.duration)


def split_prompts(text: str | None) -> list[str]:
    """One prompt per non-blank line."""
    if text is not None and not isinstance(text, str):
        raise AudiogenError(f"prompts must be text (one prompt per line), got {text!r:.60}.")
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_request(config: ServeConfig, generation: GenerationConfig, *, prompts: str | None,
                  negative: str | None = None, duration=None, guidance=None, top_k=None,
                  top_p=None, temperature=None, seed=None, random_seed: bool = False,
                  prompt_audio: str | None = None, include_prompt: bool = True) -> Request:
    """Check the page's fields and return the Request, or raise AudiogenError.

    Fields left empty (None) take the model's defaults; the seed is drawn when it is empty or
    `random_seed` is set (a negative seed is an error, as on the command line). The settings
    are checked by GenerationRequest, so a bad value gets the CLI's message. `prompt_audio` is
    a file path (an upload or a recording). With a clip and no prompt, the clip is continued
    without text.
    """
    texts: list[str | None] = split_prompts(prompts)
    if not texts and prompt_audio is None:
        raise AudiogenError("Enter a prompt (one per line), or give a clip to continue.")
    if not texts:
        texts = [None]
    if len(texts) > config.max_batch:
        raise AudiogenError(f"{len(texts)} prompts: this server takes at most "
                            f"{config.max_batch} per request.")
    if negative is not None and not isinstance(negative, str):
        raise AudiogenError(f"negative must be text, got {negative!r:.60}.")
    request = GenerationRequest(
        duration=duration, cfg_coef=guidance, top_k=top_k, top_p=top_p,
        temperature=temperature, seed=None if random_seed else seed,
        negative_prompt=negative).filled(generation, config.max_duration)
    audio, sr = None, None
    if prompt_audio is not None:
        from audiogen.audio.io import load_audio

        audio, sr = load_audio(prompt_audio)  # AudioReadError (an AudiogenError) if unreadable
        if audio.shape[-1] / sr >= request.duration:
            raise prompt_too_long(audio.shape[-1] / sr, request.duration)
    settings = {"negative": request.negative_prompt or "", "seed": request.seed,
                "duration": request.duration, "guidance": request.cfg_coef,
                "top_k": request.top_k, "top_p": request.top_p,
                "temperature": request.temperature, "continuation": prompt_audio is not None}
    return Request(texts, request, audio, sr, bool(include_prompt), settings)


def check_inputs(names: list[str], values: list, files: set[str]) -> None:
    """Refuse an HTTP call whose inputs do not fit the endpoint, before Gradio reads them.

    names: the endpoint's inputs in order; files: those that take an uploaded file (Gradio's
    FileData payload, which `gradio_client.handle_file(path)` sends), or null. A path or URL
    given as text is refused: the server reads only files sent with the request.
    """
    if len(values) != len(names):
        raise AudiogenError(f"this endpoint takes {len(names)} inputs ({', '.join(names)}), "
                            f"got {len(values)}.")
    for name, value in zip(names, values):
        if name in files and value is not None and not _is_file_payload(value):
            raise AudiogenError(
                f"{name} must be an audio file sent with the request (gradio_client: "
                f"handle_file(path)) or null, got {value!r:.60}; paths and URLs are not read.")


def _is_file_payload(value) -> bool:
    return isinstance(value, dict) and (value.get("meta") or {}).get("_type") == \
        "gradio.FileData"
