"""Convert an audiocraft codec checkpoint (compression_state_dict.bin) into a native codec directory.

Reads tensors and the YAML config only (no arbitrary unpickling), checks that the settings are
ones this codec implements, maps the weight names, and writes codec.json + codec.safetensors.
The released AudioGen weights are CC-BY-NC 4.0: the converted directory keeps that licence.

Example:
  audiogen convert-audiocraft-codec audiogen-medium/compression_state_dict.bin -o models/audiogen-medium
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="audiocraft compression_state_dict.bin")
    add_output_argument(parser, type=Path, metavar="DIR",
                        help="model directory to write codec.json and codec.safetensors into")


def run(args: argparse.Namespace) -> int:
    from audiogen.codec.model import CONFIG_FILE
    from audiogen.convert.checkpoint import read_checkpoint
    from audiogen.convert.codec import codec_from_reference
    from audiogen.errors import AudiogenError
    from audiogen.fileio import check_output_dir

    check_output_dir(args.output)
    state, cfg, version = read_checkpoint(args.checkpoint)
    try:
        codec = codec_from_reference(state, cfg)
    except AudiogenError as e:
        raise AudiogenError(f"{args.checkpoint}: {e}") from e
    codec.save(args.output, extra={"source": {
        "converted_from": str(args.checkpoint), "format": "audiocraft compression_state_dict",
        "audiocraft_version": version}})
    n_params = sum(p.numel() for p in codec.parameters())
    print(f"wrote {args.output / CONFIG_FILE} and codec.safetensors: {n_params:,} "
          f"parameters, {codec.sample_rate} Hz, {codec.num_codebooks} x {codec.cardinality} "
          f"codes at {codec.frame_rate:g} Hz ({codec.bitrate / 1000:g} kbps)")
    return 0
