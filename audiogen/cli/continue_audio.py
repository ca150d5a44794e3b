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
import secrets
from pathlib import Path

from audiogen.cli.generate import (
    add_model_arguments,
    add_sampling_arguments,
    load_model,
    plain_warnings,
    sampling_kwargs,
)
from audiogen.errors import AudiogenError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="INPUT", help="audio file to continue")
    parser.add_argument("--text", default=None, help="text prompt (default: none)")
    parser.add_argument("--prompt-seconds", type=float, default=None, metavar="S",
                        help="use only the first S seconds of INPUT as the prompt")
    add_model_arguments(parser)
    add_sampling_arguments(parser)
    parser.add_argument("--no-prompt-in-output", action="store_true",
                        help="write only the continuation, not the prompt before it")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="output file (.wav or .flac)")


def run(args: argparse.Namespace) -> int:
    from audiogen.audio.io import load_audio, save_audio

    plain_warnings()
    if args.prompt_seconds is not None and not args.prompt_seconds > 0:
        raise AudiogenError("--prompt-seconds must be > 0.")
    audio, sr = load_audio(args.input, duration=args.prompt_seconds)  # AudioReadError if bad
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    print(f"seed: {seed}", flush=True)
    model = load_model(args)
    wav, out_sr = model.generate_continuation(
        audio, sr, texts=args.text, include_prompt=not args.no_prompt_in_output,
        **sampling_kwargs(args, seed))
    path = save_audio(args.output, wav[0], out_sr)
    print(path, flush=True)
    return 0
