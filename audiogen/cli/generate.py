"""Generate audio from text prompts, one file per prompt.

Settings left out take the model's defaults (lm.json "generation"). The seed is printed so a
result can be reproduced; with several batches, batch j uses seed + j.

Examples:
  audiogen generate "a dog barks" "rain on a tin roof" --model models/small -o out/
  audiogen generate "thunder" --model models/small --duration 8 --seed 3 -o thunder.wav
  audiogen generate --prompts-file prompts.txt --model models/small --cfg-coef 4 -o out/
  audiogen generate "an engine idles" --negative "music" --model models/small -o out/
  audiogen generate "a storm" --model models/small --duration 20 --stream -o storm.wav
  audiogen generate "a storm" --model models/small --stream -o - | ffplay -nodisp -

With --stream each .wav file grows while the audio is generated (a valid WAV at every moment),
and `-o -` writes one prompt's WAV to standard output as it is made.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import warnings
from contextlib import ExitStack
from pathlib import Path

from audiogen.errors import AudiogenError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, metavar="DIR",
                        help="model directory (codec.json/.safetensors, lm.json/.safetensors; "
                        "default: the model installed with the package)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda "
                        "when available)")
    parser.add_argument("--text-encoder", type=Path, default=None, metavar="DIR",
                        help="local folder of the text encoder, overriding lm.json (e.g. t5-large)")
    parser.add_argument("--plain-decoder", action="store_true",
                        help="decode with the plain LM instead of the fast decoder (same "
                        "greedy tokens; for comparisons and debugging)")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="seconds of audio (default: the model's, usually 5)")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="random seed (default: drawn, and printed)")
    parser.add_argument("--cfg-coef", type=float, default=None, metavar="G",
                        help="classifier-free guidance scale (default 3; 1 = no guidance)")
    parser.add_argument("--top-k", type=int, default=None, metavar="K",
                        help="sample among the K most likely codes (default 250; 0 = off)")
    parser.add_argument("--top-p", type=float, default=None, metavar="P",
                        help="nucleus sampling mass (default 0 = off); wins over --top-k")
    parser.add_argument("--temperature", type=float, default=None, metavar="T",
                        help="softmax temperature (default 1; 0 = greedy)")
    parser.add_argument("--negative", default=None, metavar="TEXT",
                        help="negative prompt: what to steer away from (needs guidance)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="text prompt(s)")
    parser.add_argument("--prompts-file", type=Path, default=None, metavar="F",
                        help="more prompts, one per line (blank lines and # comments skipped)")
    add_model_arguments(parser)
    add_sampling_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=8, metavar="N",
                        help="prompts generated together (default 8)")
    parser.add_argument("-o", "--output", type=Path, default=Path("generated"), metavar="OUT",
                        help="output folder (default: generated/), or a .wav/.flac file name "
                        "when there is one prompt")
    parser.add_argument("--stream", action="store_true",
                        help="write the audio while it is generated (.wav only; -o - for "
                        "standard output)")


def plain_warnings() -> None:
    """Show warnings as one `audiogen: warning: ...` line, without file and source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"audiogen: warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show


def load_model(args: argparse.Namespace):
    import torch

    from audiogen.api import AudioGen
    from audiogen.default_model import default_model_dir

    if args.device is not None:
        try:
            device = torch.device(args.device)
        except RuntimeError as e:
            raise AudiogenError(f"--device {args.device}: {e}") from e
        if device.type == "cuda" and not torch.cuda.is_available():
            raise AudiogenError(f"--device {args.device}: this machine (or this torch build) "
                                "has no CUDA device; use --device cpu.")
    model_dir = args.model if args.model is not None else default_model_dir()
    return AudioGen.from_pretrained(model_dir, device=args.device,
                                    text_encoder_path=args.text_encoder,
                                    fast=not args.plain_decoder)


def sampling_kwargs(args: argparse.Namespace, seed: int) -> dict:
    """The AudioGen.generate* keyword arguments the shared options set."""
    return {"duration": args.duration, "cfg_coef": args.cfg_coef, "top_k": args.top_k,
            "top_p": args.top_p, "temperature": args.temperature, "seed": seed,
            "negative_prompt": args.negative,
            "progress": not args.quiet and sys.stderr.isatty()}


def read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompts)
    if args.prompts_file is not None:
        try:
            lines = args.prompts_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise AudiogenError(f"cannot read the prompts file {args.prompts_file}: {e}") from e
        prompts += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not prompts:
        raise AudiogenError("no prompt given: pass PROMPT arguments or --prompts-file F "
                            "(use \"\" for an unconditional sample).")
    return prompts


def slug(text: str, limit: int = 48) -> str:
    """A file-name-safe short form of a prompt."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")
    return s or "unconditional"


def output_paths(output: Path, prompts: list[str]) -> list[Path]:
    if output.suffix.lower() in AUDIO_SUFFIXES:
        if len(prompts) != 1:
            raise AudiogenError(f"-o {output} names one file but there are {len(prompts)} "
                                "prompts; give a folder instead.")
        return [output]
    if output.exists() and not output.is_dir():
        raise AudiogenError(f"-o {output} exists and is not a folder.")
    return [output / f"{i:03d}_{slug(p)}.wav" for i, p in enumerate(prompts)]


def stream_outputs(output: Path, prompts: list[str]) -> list[Path] | None:
    """--stream's outputs: .wav paths, or None for standard output (`-o -`, one prompt)."""
    if str(output) == "-":
        if len(prompts) != 1:
            raise AudiogenError(f"-o - streams one prompt, got {len(prompts)}.")
        return None
    paths = output_paths(output, prompts)
    if any(p.suffix.lower() != ".wav" for p in paths):
        raise AudiogenError("--stream writes .wav files only.")
    return paths


def write_stream(model, prompts: list[str], paths: list[Path] | None, kwargs: dict) -> None:
    """Generate `prompts` with AudioGen.generate_stream, appending each chunk to its WAV.

    These files are written in place, not through atomic_path: the point is that they can be
    read while they grow (WavStreamWriter keeps the header right after every chunk).
    """
    from audiogen.audio.wav_stream import WavStreamWriter

    kwargs = {k: v for k, v in kwargs.items() if k != "progress"}
    stream = model.generate_stream(prompts, **kwargs)  # bad settings fail before any file
    with ExitStack() as stack:
        if paths is None:
            files = [sys.stdout.buffer]
        else:
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
            files = [stack.enter_context(open(path, "wb")) for path in paths]
        writers = [WavStreamWriter(f, model.sample_rate) for f in files]
        for chunk in stream:  # [B, 1, t]
            for writer, wav in zip(writers, chunk):
                writer.write(wav)


def run(args: argparse.Namespace) -> int:
    from audiogen.audio.io import save_audio

    plain_warnings()
    prompts = read_prompts(args)
    if args.stream:
        paths = stream_outputs(args.output, prompts)
    elif str(args.output) == "-":
        raise AudiogenError("-o - (standard output) needs --stream.")
    else:
        paths = output_paths(args.output, prompts)
    # with the audio on standard output, the seed and file lines go to standard error
    info = sys.stderr if args.stream and paths is None else sys.stdout
    if args.batch_size < 1:
        raise AudiogenError("--batch-size must be >= 1.")
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    print(f"seed: {seed}", file=info, flush=True)
    model = load_model(args)
    for j, first in enumerate(range(0, len(prompts), args.batch_size)):
        batch = prompts[first:first + args.batch_size]
        if args.stream:
            write_stream(model, batch, None if paths is None else paths[first:first + len(batch)],
                         sampling_kwargs(args, seed + j))
            for i, prompt in enumerate(batch):
                print(f"{'-' if paths is None else paths[first + i]}\t{prompt}", file=info,
                      flush=True)
            continue
        wav, sr = model.generate(batch, **sampling_kwargs(args, seed + j))
        for i, prompt in enumerate(batch):
            path = save_audio(paths[first + i], wav[i], sr)
            print(f"{path}\t{prompt}", flush=True)
    return 0
