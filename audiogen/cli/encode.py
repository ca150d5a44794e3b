"""Encode an audio file into discrete codes with a codec model directory.

Example:
    audiogen encode --model runs/codec/model sound.wav -o sound.codes

The input (wav, flac, ogg, mp3; any sample rate, mono or stereo) is mixed to mono and resampled
to the codec's rate. The output is a codes file (safetensors, format "audiogen-codes" v1; see
audiogen/codec/codes_file.py) holding codes [1, K, F] and the codec's identity.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="model directory holding codec.json and codec.safetensors")
    parser.add_argument("input", metavar="INPUT", help="audio file")
    parser.add_argument("-o", "--output", required=True, metavar="CODES", help="codes file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")


def run(args: argparse.Namespace) -> int:
    from audiogen.audio.io import load_audio
    from audiogen.codec import Codec
    from audiogen.codec.codes_file import CodesFile, save_codes

    codec = Codec.load(args.model, device=args.device)
    wav, _ = load_audio(args.input, sample_rate=codec.sample_rate, channels=1)
    codes = codec.encode(wav[None].to(args.device))
    save_codes(args.output, CodesFile.from_codec(codec, codes.cpu(), wav.shape[-1]))
    print(f"{args.output}: {codes.shape[1]} x {codes.shape[2]} codes "
          f"({wav.shape[-1] / codec.sample_rate:.2f} s at {codec.bitrate / 1000:.2f} kbps)")
    return 0
