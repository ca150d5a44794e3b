"""The user-facing model: text (and audio) in, waveforms out.

    from audiogen.api import AudioGen, GenerationRequest
    model = AudioGen.from_pretrained("models/audiogen-small")
    wav, sr = model.generate(["a dog barks", "rain on a tin roof"], duration=5.0, seed=1)
    # wav [2, 1, 80000] float32 on the CPU, sr 16000

    request = GenerationRequest(duration=8, cfg_coef=4.0, seed=1)  # the settings as one object
    wav, sr = model.generate(["thunder"], request)

It ties the codec, the LM (with its text conditioner) and the model's generation defaults
(lm.json "generation", see audiogen.generation.config) together: text -> conditions -> codes
(audiogen.generation) -> waveform. The settings of a call are a GenerationRequest
(audiogen.generation.request), given whole or as its fields by keyword; every setting left
out takes the model's default, and every one is checked before any work (AudiogenError).
Each call draws from its own torch.Generator, seeded from `seed` (drawn when none is given,
then found in `last_seed`), so the same seed, inputs and settings give the same audio on the
same machine, and a call never disturbs the global RNG.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from audiogen.device import resolve_device
from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.fileio import read_json
from audiogen.generation import GenerationConfig, decode, generate_long, prepare_condition
from audiogen.generation.generator import ProgressCallback
from audiogen.generation.prompt import prompt_waveform
from audiogen.generation.request import GenerationRequest, ResolvedRequest, frames
from audiogen.text.captions import clean_caption

if TYPE_CHECKING:
    from audiogen.generation.shared_loop import SharedLoop

MODEL_FILES = ("codec.json", "codec.safetensors", "lm.json", "lm.safetensors")
DECODE_CHUNK_FRAMES = 1500  # codec frames decoded at once (30 s at 50 Hz)
MAX_BATCH = 16  # prompts decoded together (AudioGen.max_batch); longer lists: in batches

Texts = str | Sequence[str | None]


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "int8": torch.int8}


def decoding_options(device: torch.device, fast: bool, dtype: torch.dtype | str | None,
                     cuda_graphs: bool | None) -> tuple[torch.dtype, bool]:
    """from_pretrained's dtype and cuda_graphs on `device`, defaults filled in and checked."""
    cuda = device.type == "cuda"
    if dtype is None:
        dtype = torch.bfloat16 if cuda and fast else torch.float32
    elif isinstance(dtype, str):
        if dtype not in DTYPES:
            raise AudiogenError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
        dtype = DTYPES[dtype]
    if dtype not in DTYPES.values():
        raise AudiogenError(f"unsupported dtype {dtype}: use one of {', '.join(DTYPES)}.")
    if dtype == torch.int8 and device.type != "cpu":
        # torch's int8 kernels (audiogen.generation.int8) are CPU kernels
        raise AudiogenError(f"int8 weights are a CPU option: on {device.type.upper()} use "
                            "bfloat16 or float16 (or run on the CPU with --device cpu).")
    if cuda_graphs is None:
        cuda_graphs = cuda and fast
    if cuda_graphs and not cuda:
        raise AudiogenError("CUDA graphs need a CUDA device: leave cuda_graphs off on a CPU.")
    if not fast and (dtype != torch.float32 or cuda_graphs):
        raise AudiogenError("dtype and cuda_graphs are options of the fast decoder: "
                            "use them with fast=True.")
    return dtype, cuda_graphs


class AudioGen:
    """A codec + LM pair ready to generate.

    codec: an audiogen.codec.Codec; lm: an audiogen.lm.AudioLM whose `card` and
    `num_codebooks` match the codec's; config: generation defaults (GenerationConfig()).
    """

    def __init__(self, codec, lm, config: GenerationConfig | None = None):
        if (codec.num_codebooks, codec.cardinality) != (lm.config.num_codebooks, lm.config.card):
            raise AudiogenError(
                f"the codec ({codec.num_codebooks} x {codec.cardinality} codes) does not match "
                f"the LM ({lm.config.num_codebooks} x {lm.config.card})")
        self.codec = codec.eval()
        self.lm = lm.eval()
        self.config = config or GenerationConfig()
        # Prompts decoded together: a longer list goes in batches of this many through one
        # continuous-batching loop (audiogen.generation.batching), batch j seeded with
        # seed + j as the CLI's batches are, so memory stays bounded whatever the list's length.
        self.max_batch = MAX_BATCH
        self.last_seed: int | None = None  # the seed the last call used (drawn if none given)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike,
                        device: str | torch.device | None = None,
                        text_encoder_path: str | os.PathLike | None = None,
                        fast: bool = True, dtype: torch.dtype | str | None = None,
                        cuda_graphs: bool | None = None) -> AudioGen:
        """Load a model directory (codec.json/.safetensors + lm.json/.safetensors).

        fast: decode with `audiogen.generation.fast.FastDecoder` (the same greedy tokens as
        the plain LM, about twice the steps per second on a CPU); False keeps the plain LM.

        device: auto (the default: CUDA when available, else CPU), cpu, cuda, cuda:N or
        mps. The text encoder is loaded on first use from where lm.json says (the installed
        MiniLM package, or a local T5 folder), or from `text_encoder_path` when given.

        dtype: the LM's matrix products ("float32", "bfloat16", "float16", "int8" or a torch
        dtype); default bfloat16 on CUDA, float32 on a CPU (where half precision saves memory,
        not time). "int8" (CPU only): int8 weights, a quarter of the bytes a decoding step reads
        (bench/generate.py, 2 cores: 2.3x float32's steps/s at dim 512 x 12 layers, 1.5x at
        256 x 6), tokens close to float32's, not equal (audiogen.generation.int8). The
        residual stream and norms stay float32 (audiogen.generation.fast).
        cuda_graphs: replay each decoding step from a CUDA graph (kept across generations of
        the same batch and length); default on with CUDA, and CUDA only. Both need fast=True.
        """
        from audiogen.codec import Codec
        from audiogen.lm import AudioLM

        directory = Path(directory)
        missing = [f for f in MODEL_FILES if not (directory / f).is_file()]
        if missing:
            raise MissingFilesError(
                "AudioGen model", missing, str(directory),
                "A model directory holds a codec (codec.json, codec.safetensors: "
                "`audiogen train codec`) and an LM (lm.json, lm.safetensors: `audiogen train "
                "lm` or `audiogen convert-audiocraft`).")
        device = resolve_device(device)  # None: auto
        dtype, cuda_graphs = decoding_options(device, fast, dtype, cuda_graphs)
        codec = Codec.load(directory, device)
        lm = AudioLM.load(directory, device,
                          None if text_encoder_path is None else str(text_encoder_path))
        if fast:
            from audiogen.generation.fast import FastDecoder

            lm = FastDecoder(lm, dtype=dtype, cuda_graphs=cuda_graphs)
        lm_json = directory / "lm.json"
        generation = read_json(lm_json).get("generation")
        return cls(codec, lm, GenerationConfig.from_dict(generation, f"{lm_json}: generation"))

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.codec.frame_rate

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    # --- the three ways to generate ---
    # Each takes the settings as a GenerationRequest, as keywords (GenerationRequest's fields:
    # duration, cfg_coef, top_k, top_p, temperature, seed, negative_prompt), or both (the
    # keywords win). Left out: the model's defaults (`config`).
    def generate(self, texts: Texts, request: GenerationRequest | None = None, *,
                 progress: bool = False, callback: ProgressCallback | None = None,
                 **settings) -> tuple[torch.Tensor, int]:
        """Audio for each text: -> (wav [B, 1, T] float32 on the CPU, sample_rate).

        An empty text is generated unconditionally (with a warning). `negative_prompt` (one
        for all, or one per text) replaces the empty condition of guidance, steering away from
        it. `callback(done, total)` is called after every decoding step. More texts than
        `max_batch` are generated in batches of `max_batch` (batch j seeded with seed + j)
        through one continuous-batching loop; `callback` and the progress bar then count clips.
        """
        texts = self._texts(texts)
        for i, text in enumerate(texts):
            if not clean_caption(text):
                warnings.warn(f"prompt {i} is empty: generating it unconditionally.", stacklevel=2)
        resolved = self.resolve(request, **settings)
        return self._generate(texts, resolved, None, progress, callback)

    def generate_unconditional(self, num_samples: int, request: GenerationRequest | None = None,
                               *, progress: bool = False,
                               callback: ProgressCallback | None = None,
                               **settings) -> tuple[torch.Tensor, int]:
        """`num_samples` clips without text: -> (wav [num_samples, 1, T], sample_rate).

        Guidance and a negative prompt do not apply (there is no text to guide towards)."""
        if num_samples < 1:
            raise AudiogenError(f"num_samples must be >= 1, got {num_samples}.")
        resolved = self.resolve(request, **settings, cfg_coef=1.0, negative_prompt=None)
        return self._generate([None] * num_samples, resolved, None, progress, callback)

    def generate_continuation(self, audio: torch.Tensor, sample_rate: int,
                              texts: Texts | None = None,
                              request: GenerationRequest | None = None, *,
                              include_prompt: bool = True, progress: bool = False,
                              callback: ProgressCallback | None = None,
                              **settings) -> tuple[torch.Tensor, int]:
        """Continue `audio` ([C, T] or [B, C, T], any rate and channel count).

        duration: seconds of the whole result, prompt included (so it must exceed the
        prompt's length). texts: None continues without text; one text, or one per prompt
        (a single prompt is repeated for several texts). With `include_prompt=False` the
        result starts where the prompt ends. -> (wav [B, 1, T], sample_rate).
        """
        resolved = self.resolve(request, **settings)
        texts = self._texts(texts, _clips(audio))
        prompt, prompt_samples = self._encode_prompt(audio, sample_rate, len(texts), resolved)
        out, sr = self._generate(texts, resolved, prompt, progress, callback)
        if not include_prompt:
            out = out[..., prompt_samples:]
        return out, sr

    def generate_stream(self, texts: Texts | None, request: GenerationRequest | None = None, *,
                        prompt_audio: torch.Tensor | None = None,
                        prompt_sample_rate: int | None = None, include_prompt: bool = True,
                        chunk_duration: float = 0.5,
                        callback: Callable[[int, int], None] | None = None,
                        loop: SharedLoop | None = None,
                        **settings) -> Iterator[torch.Tensor]:
        """Like `generate` (or `generate_continuation` with `prompt_audio`), but yields the
        audio as it is made: chunks `[B, 1, t]` float32 on the CPU, about `chunk_duration`
        seconds each, every one as soon as its codec frames are final.

        Joined (torch.cat(list(...), -1)) they equal the non-streamed output of the same seed
        and settings up to float rounding. Arguments are checked at the call (AudiogenError);
        `last_seed` is set then too. `callback(frames final, frames in all)` runs per chunk.
        loop: a SharedLoop (audiogen.generation.shared_loop) of this model's LM: the request
        joins it, sharing its decoding steps with concurrent ones, instead of decoding alone.
        """
        from audiogen.generation.streaming import generate_stream

        if not chunk_duration > 0:
            raise AudiogenError(f"chunk_duration must be > 0 seconds, got {chunk_duration}.")
        resolved = self.resolve(request, **settings)
        texts = self._texts(texts, 1 if prompt_audio is None else _clips(prompt_audio))
        prompt, skip = None, 0
        if prompt_audio is not None:
            prompt, prompt_samples = self._encode_prompt(prompt_audio, prompt_sample_rate,
                                                         len(texts), resolved)
            skip = 0 if include_prompt else prompt_samples
        chunk_frames = max(1, math.ceil(chunk_duration * self.frame_rate))
        if loop is not None:
            from audiogen.generation.batching import Job
            from audiogen.generation.shared_loop import job_pieces
            from audiogen.generation.streaming import no_grad_steps, stream_audio

            job = loop.submit(Job(texts, resolved, prompt, publish_frames=chunk_frames))
            return no_grad_steps(stream_audio(self.codec, job_pieces(job, callback),
                                              resolved.num_samples, skip, loop.codec_turn))
        return generate_stream(self.lm, self.codec, texts, resolved, prompt=prompt,
                               skip_samples=skip, chunk_frames=chunk_frames, callback=callback)

    # --- shared machinery ---
    def resolve(self, request: GenerationRequest | None = None, **settings) -> ResolvedRequest:
        """`request` (with `settings` replacing its fields) checked and filled from this
        model's defaults; its seed becomes `last_seed`."""
        request = replace(request or GenerationRequest(), **settings)
        resolved = request.resolve(self.config, self.frame_rate, self.sample_rate)
        self.last_seed = resolved.seed
        return resolved

    def num_frames(self, duration: float) -> int:
        """Codec frames that cover `duration` seconds."""
        return frames(duration, self.frame_rate)

    def generate_codes(self, texts: Sequence[str | None], request: ResolvedRequest,
                       prompt: torch.Tensor | None = None, progress: bool = False,
                       callback: ProgressCallback | None = None) -> torch.Tensor:
        """Codes `[B, K, request.num_frames]` for `texts`, starting with `prompt [B, K, P]` if
        given, drawn from a generator seeded with the request's seed.

        Beyond the model's window (`config.window` seconds) a sliding window
        takes over, with `config.stride` seconds of new audio per step.
        """
        with torch.no_grad():
            cond, guidance = prepare_condition(self.lm, texts, request.negative_prompt,
                                               request.cfg_coef)
            kwargs = {"guidance": guidance, "sampling": request.sampling,
                      "generator": request.generator(self.device), "progress": progress,
                      "callback": callback}
            if request.num_frames <= request.window:
                return decode(self.lm, cond, request.num_frames, prompt=prompt, **kwargs)
            return generate_long(
                lambda context, frames: decode(self.lm, cond, frames, prompt=context, **kwargs),
                request.num_frames, request.window, request.stride, prompt)

    def decode_codes(self, codes: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """codes [B, K, F] -> wav [B, 1, num_samples or F * hop] float32 on the CPU.

        Past DECODE_CHUNK_FRAMES frames the codec decodes in chunks (audiogen.codec.chunked:
        the same samples up to float rounding), so memory stays bounded on long outputs.
        """
        from audiogen.codec.chunked import decode_chunked

        with torch.no_grad():
            wav = decode_chunked(self.codec, codes.to(self.device), DECODE_CHUNK_FRAMES)
        if num_samples is not None:
            wav = wav[..., :num_samples]
        return wav.float().cpu()

    def _texts(self, texts: Texts | None, clips: int = 1) -> list[str | None]:
        """The batch's texts as a list; None: `clips` unconditional rows."""
        if texts is None:
            return [None] * clips
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise AudiogenError("no text to generate from (give at least one prompt).")
        return texts

    def _encode_prompt(self, audio: torch.Tensor, sample_rate: int | None, batch: int,
                       request: ResolvedRequest) -> tuple[torch.Tensor, int]:
        """Prompt audio [C, T] or [B, C, T] -> (codes [batch, K, P], prompt samples at the
        model's rate); refused when it fills the request's whole duration."""
        if sample_rate is None:
            raise AudiogenError("prompt_audio needs its prompt_sample_rate.")
        wav = prompt_waveform(audio, sample_rate, self.sample_rate, batch)
        request.check_prompt(wav.shape[-1])  # before the encoder runs
        with torch.no_grad():
            codes = self.codec.encode(wav.to(self.device))
        request.check_prompt(wav.shape[-1], codes.shape[-1])
        return codes, wav.shape[-1]

    def _generate(self, texts: list[str | None], request: ResolvedRequest,
                  prompt: torch.Tensor | None, progress: bool,
                  callback: ProgressCallback | None) -> tuple[torch.Tensor, int]:
        if len(texts) > self.max_batch and self.batches_continuously:
            wav = self._generate_batches(texts, request, prompt, progress, callback)
            return wav, self.sample_rate
        codes = self.generate_codes(texts, request, prompt, progress, callback)
        return self.decode_codes(codes, request.num_samples), self.sample_rate

    @property
    def batches_continuously(self) -> bool:
        """Whether the LM can run in the continuous-batching loop (the fast decoder of a
        model conditioned by cross-attention)."""
        from audiogen.generation.fast import FastDecoder

        return isinstance(self.lm, FastDecoder) and not self.lm.config.text_prefix

    def _generate_batches(self, texts: list[str | None], request: ResolvedRequest,
                          prompt: torch.Tensor | None, progress: bool,
                          callback: ProgressCallback | None) -> torch.Tensor:
        """wav [B, 1, T] of many texts: batches of `max_batch` through one loop of
        `max_batch` slots, each decoded to audio as it finishes."""
        from tqdm.auto import tqdm

        from audiogen.generation.batching import Job, Scheduler
        from audiogen.generation.request import SEED_LIMIT

        n, size = len(texts), self.max_batch
        wav = torch.empty(n, 1, request.num_samples)
        first_of = {}  # id(job) -> index of its first text

        def jobs() -> Iterator[Job]:
            for j, first in enumerate(range(0, n, size)):
                rows = slice(first, first + size)
                job = Job(texts[rows], replace(request, seed=(request.seed + j) % SEED_LIMIT),
                          None if prompt is None else prompt[rows],
                          publish_frames=request.num_frames)
                first_of[id(job)] = first
                yield job

        done = 0
        with tqdm(total=n, desc="generating", unit="clip", disable=not progress) as bar:
            for job in Scheduler(self.lm, size).run(jobs()):
                if job.error is not None:
                    raise job.error
                first = first_of.pop(id(job))
                wav[first:first + job.batch] = self.decode_codes(job.codes, request.num_samples)
                done += job.batch
                bar.update(job.batch)
                if callback is not None:
                    callback(done, n)
        return wav


def _clips(audio: torch.Tensor) -> int:
    """Clips in prompt audio [C, T] (one) or [B, C, T]."""
    return audio.shape[0] if audio.dim() == 3 else 1
