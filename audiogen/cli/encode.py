"""Encode an audio file into discrete codes with a codec model directory.

Example:
    audiogen encode --model runs/codec/model sound.wav -o sound.codes

The input (wav, flac, ogg, mp3; any sample rate, mono or stereo) is mixed to mono and resampled
to the codec's rate. The output is a codes file (safetensors, format "audiogen-codes" v1; see
audiogen/codec/codes_file.py) holding codes [1, K, F] and the codec's identity.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_device_argument, add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="model directory holding codec.json and codec.safetensors")
    parser.add_argument("input", metavar="INPUT", help="audio file")
    add_output_argument(parser, metavar="CODES", help="codes file to write")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from audiogen.audio.io import load_audio
    from audiogen.codec import Codec
    from audiogen.codec.codes_file import CodesFile, save_codes
    from audiogen.device import resolve_device
    from audiogen.fileio import check_output_file

    check_output_file(args.output)
    device = resolve_device(args.device)
    codec = Codec.load(args.model, device=device)
    wav, _ = load_audio(args.input, sample_rate=codec.sample_rate, channels=1)
    codes = codec.encode(wav[None].to(device))
    save_codes(args.output, CodesFile.from_codec(codec, codes.cpu(), wav.shape[-1]))
    print(f"{args.output}: {codes.shape[1]} x {codes.shape[2]} codes "
          f"({wav.shape[-1] / codec.sample_rate:.2f} s at {codec.bitrate / 1000:.2f} kbps)")
    return 0
