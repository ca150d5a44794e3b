"""Decode a codes file back to audio with the codec model directory that made it.

Example:
    audiogen decode --model runs/codec/model sound.codes -o sound_decoded.wav

The codes file records the identity of the codec that wrote it; decoding with another codec
is refused. The output has the original length, at the codec's sample rate, mono.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_device_argument, add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="model directory holding codec.json and codec.safetensors")
    parser.add_argument("codes", metavar="CODES", help="codes file written by `audiogen encode`")
    add_output_argument(parser, metavar="OUTPUT",
                        help="audio file to write (.wav, .flac, .ogg, .mp3)")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from audiogen.audio.io import AUDIO_EXTENSIONS, save_audio
    from audiogen.codec import Codec
    from audiogen.codec.codes_file import load_codes
    from audiogen.device import resolve_device
    from audiogen.fileio import check_output_file

    check_output_file(args.output, AUDIO_EXTENSIONS)
    device = resolve_device(args.device)
    data = load_codes(args.codes)
    codec = Codec.load(args.model, device=device)
    data.check_codec(codec, args.codes)
    wav = codec.decode(data.codes.to(device))[..., :data.num_samples]
    for i, item in enumerate(wav):
        path = args.output if len(wav) == 1 else _numbered(args.output, i)
        save_audio(path, item.cpu(), codec.sample_rate)
        print(f"{path}: {item.shape[-1] / codec.sample_rate:.2f} s at {codec.sample_rate} Hz")
    return 0


def _numbered(path: str, index: int) -> str:
    """out.wav -> out_0.wav, for codes files holding a batch."""
    from pathlib import Path

    p = Path(path)
    return str(p.with_name(f"{p.stem}_{index}{p.suffix}"))
