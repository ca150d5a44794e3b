"""Continue an audio clip, with or without a text prompt.

The input may have any sample rate and channel count (it is mixed to mono and resampled to the
model's rate). --duration is the length of the whole result, prompt included; with
--no-prompt-in-output the file holds only what follows the prompt. The seed is printed.

Examples:
  audiogen continue clip.wav --model models/small --duration 5 -o continued.wav
  audiogen continue clip.flac --prompt-seconds 1 --text "a dog barks" --model models/small -o out.wav
"""

from __future__ import annotations

import argparse
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
from audiogen.fileio import check_output_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from audiogen.audio.io import AUDIO_EXTENSIONS

    parser.add_argument("input", type=Path, metavar="INPUT", help="audio file to continue")
    parser.add_argument("--text", default=None, help="text prompt (default: none)")
    parser.add_argument("--prompt-seconds", type=float, default=None, metavar="S",
                        help="use only the first S seconds of INPUT as the prompt")
    add_model_arguments(parser)
    add_generation_arguments(parser)
    parser.add_argument("--no-prompt-in-output", action="store_true",
                        help="write only the continuation, not the prompt before it")
    add_output_argument(parser, type=Path,
                        help=f"output file, ending in {', '.join(AUDIO_EXTENSIONS)}")


def run(args: argparse.Namespace) -> int:
    from audiogen.audio.io import AUDIO_EXTENSIONS, load_audio, save_audio

    plain_warnings()
    check_output_file(args.output, AUDIO_EXTENSIONS)
    if args.prompt_seconds is not None and not args.prompt_seconds > 0:
        raise AudiogenError("--prompt-seconds must be > 0.")
    request = generation_request(args)
    check_device(args)
    audio, sr = load_audio(args.input, duration=args.prompt_seconds)  # AudioReadError if bad
    if request.duration is not None and audio.shape[-1] / sr >= float(request.duration):
        from audiogen.generation.request import prompt_too_long

        raise prompt_too_long(audio.shape[-1] / sr, float(request.duration))
    print(f"seed: {request.seed}", flush=True)
    model = load_model(args)
    wav, out_sr = model.generate_continuation(
        audio, sr, texts=args.text, request=request,
        include_prompt=not args.no_prompt_in_output, progress=show_progress(args))
    path = save_audio(args.output, wav[0], out_sr)
    print(path, flush=True)
    return 0
