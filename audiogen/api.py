"""The user-facing model: text (and audio) in, waveforms out.

    from audiogen.api import AudioGen
    model = AudioGen.from_pretrained("models/audiogen-small")
    wav, sr = model.generate(["a dog barks", "rain on a tin roof"], duration=5.0, seed=1)
    # wav [2, 1, 80000] float32 on the CPU, sr 16000

It ties the codec, the LM (with its text conditioner) and the model's generation defaults
(lm.json "generation", see audiogen.generation.config) together: text -> conditions -> codes
(audiogen.generation) -> waveform. Every argument left as None takes the model's default.
Each call draws from its own torch.Generator, seeded from `seed`, so the same seed, inputs and
settings give the same audio on the same machine, and a call never disturbs the global RNG.
"""

from __future__ import annotations

import math
import os
import secrets
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.fileio import read_json
from audiogen.generation import GenerationConfig, decode, generate_long, prepare_condition
from audiogen.generation.generator import ProgressCallback
from audiogen.generation.prompt import prompt_waveform
from audiogen.lm.sampling import SamplingParams
from audiogen.text.captions import clean_caption

MODEL_FILES = ("codec.json", "codec.safetensors", "lm.json", "lm.safetensors")
DECODE_CHUNK_FRAMES = 1500  # codec frames decoded at once (30 s at 50 Hz)

Texts = str | Sequence[str | None]


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def decoding_options(cuda: bool, fast: bool, dtype: torch.dtype | str | None,
                     cuda_graphs: bool | None) -> tuple[torch.dtype, bool]:
    """from_pretrained's dtype and cuda_graphs, defaults filled in and checked."""
    if dtype is None:
        dtype = torch.bfloat16 if cuda and fast else torch.float32
    elif isinstance(dtype, str):
        if dtype not in DTYPES:
            raise AudiogenError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
        dtype = DTYPES[dtype]
    if dtype not in DTYPES.values():
        raise AudiogenError(f"unsupported dtype {dtype}: use one of {', '.join(DTYPES)}.")
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

        device: default CUDA when available, else CPU. The text encoder is loaded on first use
        from where lm.json says (the installed MiniLM package, or a local T5 folder), or from
        `text_encoder_path` when given.

        dtype: the LM's matrix products ("float32", "bfloat16", "float16" or a torch dtype);
        default bfloat16 on CUDA, float32 on a CPU (where half precision saves memory, not
        time). The residual stream and norms stay float32 (audiogen.generation.fast).
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
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        cuda = torch.device(device).type == "cuda"
        dtype, cuda_graphs = decoding_options(cuda, fast, dtype, cuda_graphs)
        codec = Codec.load(directory, device)
        lm = AudioLM.load(directory, device,
                          None if text_encoder_path is None else str(text_encoder_path))
        if fast:
            from audiogen.generation.fast import FastDecoder

            lm = FastDecoder(lm, dtype=dtype, cuda_graphs=cuda_graphs)
        generation = read_json(directory / "lm.json").get("generation")
        return cls(codec, lm, GenerationConfig.from_dict(generation))

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
    def generate(self, texts: Texts, duration: float | None = None, cfg_coef: float | None = None,
                 top_k: int | None = None, top_p: float | None = None,
                 temperature: float | None = None, seed: int | None = None,
                 negative_prompt: str | Sequence[str] | None = None, progress: bool = False,
                 callback: ProgressCallback | None = None) -> tuple[torch.Tensor, int]:
        """Audio for each text: -> (wav [B, 1, T] float32 on the CPU, sample_rate).

        An empty text is generated unconditionally (with a warning). `negative_prompt` (one
        for all, or one per text) replaces the empty condition of guidance, steering away from
        it. `callback(done, total)` is called after every decoding step.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise AudiogenError("no text to generate from (give at least one prompt).")
        for i, text in enumerate(texts):
            if not clean_caption(text):
                warnings.warn(f"prompt {i} is empty: generating it unconditionally.", stacklevel=2)
        return self._generate(texts, duration, None, cfg_coef, top_k, top_p, temperature, seed,
                              negative_prompt, progress, callback)

    def generate_unconditional(self, num_samples: int, duration: float | None = None,
                               top_k: int | None = None, top_p: float | None = None,
                               temperature: float | None = None, seed: int | None = None,
                               progress: bool = False, callback: ProgressCallback | None = None,
                               ) -> tuple[torch.Tensor, int]:
        """`num_samples` clips without text: -> (wav [num_samples, 1, T], sample_rate)."""
        if num_samples < 1:
            raise AudiogenError(f"num_samples must be >= 1, got {num_samples}.")
        return self._generate([None] * num_samples, duration, None, 1.0, top_k, top_p,
                              temperature, seed, None, progress, callback)

    def generate_continuation(self, audio: torch.Tensor, sample_rate: int,
                              texts: Texts | None = None, duration: float | None = None,
                              include_prompt: bool = True, cfg_coef: float | None = None,
                              top_k: int | None = None, top_p: float | None = None,
                              temperature: float | None = None, seed: int | None = None,
                              negative_prompt: str | Sequence[str] | None = None,
                              progress: bool = False, callback: ProgressCallback | None = None,
                              ) -> tuple[torch.Tensor, int]:
        """Continue `audio` ([C, T] or [B, C, T], any rate and channel count).

        duration: seconds of the whole result, prompt included (so it must exceed the
        prompt's length). texts: None continues without text; one text, or one per prompt
        (a single prompt is repeated for several texts). With `include_prompt=False` the
        result starts where the prompt ends. -> (wav [B, 1, T], sample_rate).
        """
        if texts is None:
            wav = prompt_waveform(audio, sample_rate, self.sample_rate)
            texts = [None] * wav.shape[0]
        else:
            texts = [texts] if isinstance(texts, str) else list(texts)
            wav = prompt_waveform(audio, sample_rate, self.sample_rate, batch=len(texts))
        prompt_seconds = wav.shape[-1] / self.sample_rate
        duration = self.config.check_duration(
            self.config.duration if duration is None else duration)
        if prompt_seconds >= duration:
            raise AudiogenError(
                f"the prompt is {prompt_seconds:.2f} s long; the duration ({duration:g} s, "
                "prompt included) must be longer.")
        with torch.no_grad():
            prompt = self.codec.encode(wav.to(self.device))
        out, sr = self._generate(texts, duration, prompt, cfg_coef, top_k, top_p, temperature,
                                 seed, negative_prompt, progress, callback)
        if not include_prompt:
            out = out[..., wav.shape[-1]:]
        return out, sr

    def generate_stream(self, texts: Texts | None, duration: float | None = None,
                        cfg_coef: float | None = None, top_k: int | None = None,
                        top_p: float | None = None, temperature: float | None = None,
                        seed: int | None = None,
                        negative_prompt: str | Sequence[str] | None = None,
                        prompt_audio: torch.Tensor | None = None,
                        prompt_sample_rate: int | None = None, include_prompt: bool = True,
                        chunk_duration: float = 0.5,
                        callback: Callable[[int, int], None] | None = None,
                        ) -> Iterator[torch.Tensor]:
        """Like `generate` (or `generate_continuation` with `prompt_audio`), but yields the
        audio as it is made: chunks `[B, 1, t]` float32 on the CPU, about `chunk_duration`
        seconds each, every one as soon as its codec frames are final.

        Joined (torch.cat(list(...), -1)) they equal the non-streamed output of the same seed
        and settings up to float rounding. Arguments are checked at the call (AudiogenError);
        `last_seed` is set then too. `callback(frames final, frames in all)` runs per chunk.
        """
        from audiogen.generation.streaming import generate_stream

        return generate_stream(self, texts, duration, cfg_coef, top_k, top_p, temperature, seed,
                               negative_prompt, prompt_audio, prompt_sample_rate, include_prompt,
                               chunk_duration, callback)

    # --- shared machinery ---
    def num_frames(self, duration: float) -> int:
        """Codec frames that cover `duration` seconds."""
        return math.ceil(round(duration * self.frame_rate, 6))

    def generate_codes(self, texts: Sequence[str | None], num_frames: int,
                       prompt: torch.Tensor | None = None, cfg_coef: float | None = None,
                       sampling: SamplingParams | None = None,
                       negative_prompt: str | Sequence[str] | None = None,
                       generator: torch.Generator | None = None, progress: bool = False,
                       callback: ProgressCallback | None = None) -> torch.Tensor:
        """Codes `[B, K, num_frames]` for `texts`, starting with `prompt [B, K, P]` if given.

        Beyond the model's window (`config.window` seconds) the sliding window of SPEC §5
        takes over, with `config.stride` seconds of new audio per step.
        """
        cfg_coef = self.config.cfg_coef if cfg_coef is None else cfg_coef
        sampling = sampling or self._sampling(None, None, None)
        with torch.no_grad():
            cond, guidance = prepare_condition(self.lm, texts, negative_prompt, cfg_coef)
            kwargs = {"guidance": guidance, "sampling": sampling, "generator": generator,
                      "progress": progress, "callback": callback}
            window = self.num_frames(self.config.window)
            if num_frames <= window:
                return decode(self.lm, cond, num_frames, prompt=prompt, **kwargs)
            stride = max(1, round(self.config.stride * self.frame_rate))
            return generate_long(
                lambda context, frames: decode(self.lm, cond, frames, prompt=context, **kwargs),
                num_frames, window, stride, prompt)

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

    def _sampling(self, top_k, top_p, temperature) -> SamplingParams:
        c = self.config
        try:
            return SamplingParams(
                temperature=c.temperature if temperature is None else float(temperature),
                top_k=c.top_k if top_k is None else int(top_k),
                top_p=c.top_p if top_p is None else float(top_p))
        except ValueError as e:
            raise AudiogenError(str(e)) from e

    def _generate(self, texts, duration, prompt, cfg_coef, top_k, top_p, temperature, seed,
                  negative_prompt, progress, callback) -> tuple[torch.Tensor, int]:
        duration = self.config.check_duration(
            self.config.duration if duration is None else duration)
        sampling = self._sampling(top_k, top_p, temperature)
        seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.last_seed = seed
        generator = torch.Generator(device=self.device).manual_seed(seed)
        num_frames = self.num_frames(duration)
        if prompt is not None and prompt.shape[-1] >= num_frames:
            raise AudiogenError(
                f"the prompt fills {prompt.shape[-1]} codec frames; the duration ({duration:g} s"
                f" = {num_frames} frames, prompt included) must be longer.")
        codes = self.generate_codes(texts, num_frames, prompt, cfg_coef, sampling,
                                    negative_prompt, generator, progress, callback)
        num_samples = round(duration * self.sample_rate)
        return self.decode_codes(codes, num_samples), self.sample_rate
