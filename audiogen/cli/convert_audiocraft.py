"""Convert the released AudioGen weights (audiocraft format) into a native model directory.

Reads the two release files safely (tensors and the YAML config only, nothing else is
unpickled), maps their settings and weight names, and writes codec.json/.safetensors and
lm.json/.safetensors into one directory. The T5 text encoder is not part of the release files:
pass the folder holding the t5-large Hugging Face release (config.json, model.safetensors or
pytorch_model.bin, tokenizer.json or spiece.model); lm.json records its absolute path.
The released weights are CC-BY-NC 4.0: the converted directory keeps that licence.

Example:
  audiogen convert-audiocraft --lm audiogen-medium/state_dict.bin \\
      --compression audiogen-medium/compression_state_dict.bin \\
      --text-encoder t5-large/ -o models/audiogen-medium
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lm", type=Path, required=True, help="audiocraft LM state_dict.bin")
    parser.add_argument("--compression", type=Path, required=True,
                        help="audiocraft codec compression_state_dict.bin")
    parser.add_argument("--text-encoder", type=Path, required=True,
                        help="local directory of the T5 encoder the LM was trained with (t5-large)")
    add_output_argument(parser, type=Path, metavar="DIR",
                        help="model directory to write (codec.* and lm.*)")


def run(args: argparse.Namespace) -> int:
    from audiogen.convert.codec import import_audiocraft_codec
    from audiogen.convert.lm import (
        generation_defaults_from_xp_cfg,
        import_audiocraft_lm,
    )
    from audiogen.errors import AudiogenError
    from audiogen.fileio import check_output_dir
    from audiogen.text.conditioner import verify_text_encoder_dir

    check_output_dir(args.output)
    text_dir = args.text_encoder.resolve()
    # Weights kept as the release stores them (float16 stays float16: nothing lost, half
    # the memory and disk); AudioLM.load casts to float32.
    lm, cfg = import_audiocraft_lm(args.lm, text_encoder_path=text_dir, dtype=None)
    verify_text_encoder_dir(lm.config.text)
    codec = import_audiocraft_codec(args.compression)
    if (codec.num_codebooks, codec.cardinality) != (lm.config.num_codebooks, lm.config.card):
        raise AudiogenError(
            f"{args.lm} models {lm.config.num_codebooks} x {lm.config.card} codes but "
            f"{args.compression} makes {codec.num_codebooks} x {codec.cardinality}: "
            "they are not from the same release")
    codec.save(args.output, extra={"source": {
        "converted_from": str(args.compression), "format": "audiocraft compression_state_dict"}})
    # lm.json last: a directory with it is complete.
    lm.save(args.output, generation=generation_defaults_from_xp_cfg(cfg),
            extra={"source": {"converted_from": str(args.lm), "format": "audiocraft state_dict"}})
    n_lm = sum(p.numel() for p in lm.parameters())
    print(f"wrote {args.output}: LM {n_lm:,} parameters ({lm.config.num_layers} layers,"
          f" dim {lm.config.dim}, {lm.config.pattern} pattern), codec {codec.sample_rate} Hz"
          f" {codec.num_codebooks} x {codec.cardinality} codes at {codec.frame_rate:g} Hz,"
          f" text encoder {lm.config.text.name} from {text_dir}")
    return 0
