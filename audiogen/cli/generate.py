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
import sys
from contextlib import ExitStack
from pathlib import Path

from audiogen.cli.common import (
    add_generation_arguments,
    add_model_arguments,
    add_output_argument,
    check_device,
    generation_request,
    load_model,
    plain_warnings,
    show_progress,
)
from audiogen.errors import AudiogenError
from audiogen.fileio import check_output_dir, check_output_file, slug


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from audiogen.audio.io import AUDIO_EXTENSIONS

    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="text prompt(s)")
    parser.add_argument("--prompts-file", type=Path, default=None, metavar="F",
                        help="more prompts, one per line (blank lines and # comments skipped)")
    add_model_arguments(parser)
    add_generation_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=8, metavar="N",
                        help="prompts generated together (default 8)")
    add_output_argument(parser, required=False, type=Path, default=Path("generated"),
                        help="a folder (default: generated/), one file per prompt; or, for one "
                        f"prompt, a file name ending in {', '.join(AUDIO_EXTENSIONS)}. Any "
                        "other extension is refused (no folder named like a file is made)")
    parser.add_argument("--stream", action="store_true",
                        help="write the audio while it is generated (.wav only; -o - for "
                        "standard output)")


def read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompts)
    if args.prompts_file is not None:
        try:
            lines = args.prompts_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise AudiogenError(f"cannot read the prompts file {args.prompts_file}: {e}") from e
        prompts += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not prompts:
        raise AudiogenError("no prompt given: pass PROMPT arguments or --prompts-file F "
                            "(use \"\" for an unconditional sample).")
    return prompts


def output_paths(output: Path, prompts: list[str]) -> list[Path]:
    """The file of each prompt, checked writable: -o is one audio file (one prompt), or a
    folder; a name with another extension is refused unless it is an existing folder."""
    from audiogen.audio.io import AUDIO_EXTENSIONS

    if output.suffix.lower() in AUDIO_EXTENSIONS:
        if len(prompts) != 1:
            raise AudiogenError(f"-o {output} names one file but there are {len(prompts)} "
                                "prompts; give a folder instead.")
        return [check_output_file(output, AUDIO_EXTENSIONS)]
    if output.suffix and not output.is_dir():
        raise AudiogenError(
            f"-o {output}: {output.suffix} is not an audio format this writes; give a file "
            f"name ending in {', '.join(AUDIO_EXTENSIONS)} (one prompt), or a folder.")
    if output.exists() and not output.is_dir():
        raise AudiogenError(f"-o {output} exists and is not a folder.")
    check_output_dir(output)
    return [output / f"{i:03d}_{slug(p)}.wav" for i, p in enumerate(prompts)]


def stream_outputs(output: Path, prompts: list[str]) -> list[Path] | None:
    """--stream's outputs: .wav paths, or None for standard output (`-o -`, one prompt)."""
    from audiogen.audio.io import AUDIO_EXTENSIONS

    if str(output) == "-":
        if len(prompts) != 1:
            raise AudiogenError(f"-o - streams one prompt, got {len(prompts)}.")
        return None
    if output.suffix.lower() in AUDIO_EXTENSIONS and output.suffix.lower() != ".wav":
        raise AudiogenError("--stream writes .wav files only.")
    return output_paths(output, prompts)


def write_stream(model, prompts: list[str], paths: list[Path] | None, request) -> None:
    """Generate `prompts` with AudioGen.generate_stream, appending each chunk to its WAV.

    These files are written in place, not through atomic_path: the point is that they can be
    read while they grow (WavStreamWriter keeps the header right after every chunk).
    """
    from audiogen.audio.wav_stream import WavStreamWriter

    stream = model.generate_stream(prompts, request)  # bad settings fail before any file
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
    request = generation_request(args)
    check_device(args)
    print(f"seed: {request.seed}", file=info, flush=True)
    model = load_model(args)
    for j, first in enumerate(range(0, len(prompts), args.batch_size)):
        batch = prompts[first:first + args.batch_size]
        batch_request = request.with_seed_offset(j)
        if args.stream:
            write_stream(model, batch, None if paths is None else paths[first:first + len(batch)],
                         batch_request)
            for i, prompt in enumerate(batch):
                print(f"{'-' if paths is None else paths[first + i]}\t{prompt}", file=info,
                      flush=True)
            continue
        wav, sr = model.generate(batch, batch_request, progress=show_progress(args))
        for i, prompt in enumerate(batch):
            path = save_audio(paths[first + i], wav[i], sr)
            print(f"{path}\t{prompt}", flush=True)
    return 0
