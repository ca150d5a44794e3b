"""Pre-encode a manifest's clips with a codec into a token cache (memory-mapped codes).

Training without the mixing augmentation then reads codes from the cache instead of running
the codec at every step. With --text-encoder, the frozen text encoder's states of every
caption are cached too. Unreadable clips are listed and skipped.

Example:
  audiogen data encode data/sounds.jsonl --model models/my-codec -o data/sounds-cache
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiogen.cli.common import add_device_argument, add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, help="JSONL manifest (from `audiogen data index`)")
    parser.add_argument("--model", type=Path, required=True,
                        help="model directory holding codec.json and codec.safetensors")
    add_output_argument(parser, type=Path, metavar="DIR", help="cache directory to write")
    parser.add_argument("--split", action="append", default=None,
                        help="only these splits (repeatable; default: all)")
    add_device_argument(parser)
    parser.add_argument("--batch-size", type=int, default=16, help="clips per codec call")
    parser.add_argument("--max-chunk-seconds", type=float, default=60.0,
                        help="longer clips are encoded in chunks of this length")
    parser.add_argument("--text-encoder", choices=("none", "minilm", "t5"), default="none",
                        help="also cache this frozen text encoder's caption states")
    parser.add_argument("--text-encoder-path", default=None,
                        help="local directory of the text encoder (required for t5)")


def run(args: argparse.Namespace) -> int:
    from audiogen.codec import Codec
    from audiogen.codec.codes_file import codec_identity
    from audiogen.data.manifest import read_manifest
    from audiogen.data.token_cache import build_token_cache
    from audiogen.device import resolve_device
    from audiogen.errors import AudiogenError
    from audiogen.fileio import check_output_dir

    check_output_dir(args.output)
    device = resolve_device(args.device)
    entries = read_manifest(args.manifest)
    if args.split:
        entries = [e for e in entries if e.split in args.split]
    if not entries:
        raise AudiogenError(f"{args.manifest}: no clips to encode.")
    codec = Codec.load(args.model, device=device)
    text_encoder = None
    if args.text_encoder != "none":
        from audiogen.text.conditioner import TextEncoderConfig, load_text_encoder

        # (the states' width is read from the encoder's output, so `dim` is not needed here)
        config = TextEncoderConfig(kind=args.text_encoder, path=args.text_encoder_path)
        if args.text_encoder == "t5":
            config.name = Path(args.text_encoder_path or "t5").name
        text_encoder = load_text_encoder(config)
    index = build_token_cache(entries, codec, args.output, codec_id=codec_identity(codec),
                              text_encoder=text_encoder, device=device,
                              batch_size=args.batch_size,
                              max_chunk_seconds=args.max_chunk_seconds,
                              progress=sys.stderr.isatty())
    frames = sum(it["frames"] for it in index["items"])
    print(f"cached {len(index['items'])} clips ({frames} frames of {codec.num_codebooks} "
          f"codebooks, {frames / codec.frame_rate / 3600:.2f} h) in {args.output}",
          file=sys.stderr)
    for s in index["skipped"]:
        print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    return 0
