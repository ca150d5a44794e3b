"""Measure codecs' reconstructions (SI-SNR, mel distance, pitch fidelity) beside Opus.

Opus runs through ffmpeg (libopus) at 6 kbps, at the (first) codec's bitrate and at 3x it,
never below libopus's 6 kbps minimum; without ffmpeg the Opus rows say "not available".
Pitch fidelity (on the originals' voiced frames, the share whose f0 a system kept within
50 cents; pYIN from librosa) is measured when librosa is installed (`pip install
'audiogen[eval]'`); without it that column is left out and the report says why. Repeat
--model to compare codecs (new against old) in one table. The last line printed is
`codec vs opus-6kbps mel distance: X vs Y` (the first codec's mean against Opus at 6 kbps).
Example:

    audiogen evaluate-codec --model models/new --model models/old --data data/test \\
        -o runs/codec.json --spectrograms 4
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, action="append",
                        help="model or codec directory (codec.json); repeat to compare several "
                        "codecs in one table (the first is the 'codec' of the last line)")
    parser.add_argument("--data", required=True,
                        help="folder of audio files, or a JSONL manifest (its --split rows)")
    parser.add_argument("--split", default="test",
                        help="the manifest rows to evaluate (default: test)")
    add_output_argument(parser, metavar="REPORT", required=False,
                        help="write REPORT.json and REPORT.md here")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="crop each file to its first SECONDS (default 10; 0: whole file)")
    parser.add_argument("--max-files", type=int,
                        help="evaluate at most this many files (an evenly spaced sample of "
                        "the sorted list, so each source keeps its share)")
    parser.add_argument("--no-opus", action="store_true", help="skip the Opus rows")
    parser.add_argument("--no-pitch", action="store_true",
                        help="skip pitch fidelity (pYIN takes about 0.3 s per second of audio "
                        "and system on 2 CPU cores; without librosa it is skipped with a note)")
    parser.add_argument("--speech", action="store_true",
                        help="add PESQ (wide band) and STOI (needs `pip install pesq pystoi`)")
    parser.add_argument("--spectrograms", type=int, default=0,
                        help="draw the first N clips (original, each codec, Opus) into "
                        "REPORT_files/ beside -o (default 0; needs matplotlib: "
                        "pip install 'audiogen[eval]')")
    parser.add_argument("--bottleneck", action="store_true",
                        help="add rows for each codec's decoder fed its unquantized latent "
                        "(NAME/latent) and its first k codebooks (NAME/qK): where detail is lost")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")


def codec_names(models: list[str]) -> list[str]:
    """Row names of the codecs: their directory names, with as many parent folders as it
    takes to tell them apart (e.g. recon/checkpoints/step_00001000)."""
    from audiogen.fileio import short_names

    return short_names(models)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import torch

    from audiogen.codec import Codec
    from audiogen.errors import AudiogenError
    from audiogen.eval.audio_sets import list_eval_audio
    from audiogen.eval.codec_eval import CodecEvalConfig, evaluate_codec, markdown, summary_line
    from audiogen.fileio import atomic_path, check_output_file, write_json
    from audiogen.plots import require_matplotlib

    if args.output:
        check_output_file(args.output)
    if args.spectrograms > 0:
        if not args.output:
            raise AudiogenError("--spectrograms needs -o REPORT.json: the pictures go to "
                                "REPORT_files/ beside it.")
        require_matplotlib()
    if len(set(args.model)) < len(args.model):
        raise AudiogenError("the same --model is given twice: give each codec once.")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = CodecEvalConfig(seconds=args.seconds or None, max_files=args.max_files,
                          opus=not args.no_opus, speech=args.speech, pitch=not args.no_pitch,
                          spectrograms=args.spectrograms)
    start = time.perf_counter()
    codecs = {name: Codec.load(m) for name, m in zip(codec_names(args.model), args.model)}
    if args.bottleneck:
        from audiogen.eval.codec_views import bottleneck_views

        codecs |= {k: v for name, codec in list(codecs.items())
                   for k, v in bottleneck_views(name, codec).items()}
    files, root = list_eval_audio(args.data, args.split, cfg.max_files)
    json_path = Path(args.output) if args.output else None
    pictures = json_path.with_name(json_path.stem + "_files") if json_path else None
    report = {"format": "audiogen-codec-eval", "version": 2,
              "models": [str(m) for m in args.model], "data": str(args.data),
              **evaluate_codec(codecs, files, cfg, root=root, pictures=pictures),
              "settings": {"seconds": cfg.seconds, "max_files": cfg.max_files,
                           "split": args.split if Path(args.data).is_file() else None,
                           "speech": cfg.speech, "pitch": cfg.pitch}}
    text = markdown(report)
    print(text, end="")
    if json_path:
        write_json(json_path, report)
        with atomic_path(json_path.with_suffix(".md")) as tmp:
            tmp.write_text(text)
        print(f"wrote {json_path} and {json_path.with_suffix('.md')}")
    print(f"({time.perf_counter() - start:.1f} s)")
    print(summary_line(report))  # last, so a review can read it at the end of a log
    return 0
