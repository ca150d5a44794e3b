"""Measure a codec's reconstructions (SI-SNR, mel distance) side by side with Opus.

Opus runs through ffmpeg (libopus) at the codec's bitrate and at 3x it, never below
libopus's 6 kbps minimum; without ffmpeg the Opus columns say "not available". Example:

    audiogen evaluate-codec --model models/my-codec --data data/test -o runs/codec.json
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model or codec directory (codec.json)")
    parser.add_argument("--data", required=True, help="folder of audio files")
    add_output_argument(parser, metavar="REPORT", required=False,
                        help="write REPORT.json and REPORT.md here")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="crop each file to its first SECONDS (default 10; 0: whole file)")
    parser.add_argument("--max-files", type=int, help="evaluate at most this many files")
    parser.add_argument("--no-opus", action="store_true", help="skip the Opus columns")
    parser.add_argument("--speech", action="store_true",
                        help="add PESQ (wide band) and STOI (needs `pip install pesq pystoi`)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import torch

    from audiogen.codec import Codec
    from audiogen.eval.audio_sets import list_audio
    from audiogen.eval.codec_eval import CodecEvalConfig, evaluate_codec, markdown
    from audiogen.fileio import atomic_path, check_output_file, write_json

    if args.output:
        check_output_file(args.output)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = CodecEvalConfig(seconds=args.seconds or None, max_files=args.max_files,
                          opus=not args.no_opus, speech=args.speech)
    start = time.perf_counter()
    codec = Codec.load(args.model)
    files = list_audio(args.data, "data")[: cfg.max_files]
    report = {"format": "audiogen-codec-eval", "version": 1, "model": str(args.model),
              "data": str(args.data), **evaluate_codec(codec, files, cfg),
              "settings": {"seconds": cfg.seconds, "max_files": cfg.max_files,
                           "speech": cfg.speech}}
    text = markdown(report)
    print(text, end="")
    if args.output:
        json_path = Path(args.output)
        write_json(json_path, report)
        with atomic_path(json_path.with_suffix(".md")) as tmp:
            tmp.write_text(text)
        print(f"wrote {json_path} and {json_path.with_suffix('.md')}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0
