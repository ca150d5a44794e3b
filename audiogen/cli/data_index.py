"""Index a folder of audio (with captions) into a JSONL manifest with train/valid/test splits.

Captions come from sidecar files beside each clip (`clip.txt`: one caption per line;
`clip.json`: {"description": "..." or [...]}) and/or caption CSVs given with --captions, in
the AudioCaps layout (audiocap_id, youtube_id, start_time, caption) or the Clotho layout
(file_name, caption_1..caption_5). Files that cannot be used are listed with the reason.
Splits are made by source group, so one source file never appears in two splits.

Example:
  audiogen data index data/sounds -o data/sounds.jsonl
  audiogen data index clotho/development --captions clotho_captions_development.csv -o dev.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="folder to scan (recursively)")
    add_output_argument(parser, type=Path, metavar="MANIFEST", help="manifest to write (.jsonl)")
    parser.add_argument("--captions", type=Path, action="append", default=[], metavar="CSV",
                        help="AudioCaps- or Clotho-layout caption CSV (repeatable)")
    parser.add_argument("--valid", type=float, default=0.05, help="share of groups for validation")
    parser.add_argument("--test", type=float, default=0.05, help="share of groups for test")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--group-by", choices=("file", "dir"), default="file",
                        help="'dir' when a folder holds cuts of one recording")
    parser.add_argument("--min-duration", type=float, default=0.0, help="skip shorter files (s)")
    parser.add_argument("--allow-uncaptioned", action="store_true",
                        help="keep files without captions (unconditional training)")
    parser.add_argument("--source", default="", help="value of every entry's `source` field")
    parser.add_argument("--license", default="", help="value of every entry's `license` field")
    parser.add_argument("--absolute", action="store_true",
                        help="write absolute paths (default: relative to the manifest)")


def run(args: argparse.Namespace) -> int:
    from audiogen.data.index import IndexConfig, index_directory
    from audiogen.data.manifest import write_manifest
    from audiogen.errors import AudiogenError
    from audiogen.fileio import check_output_file

    check_output_file(args.output)
    config = IndexConfig(
        caption_files=args.captions, require_captions=not args.allow_uncaptioned,
        min_duration=args.min_duration, valid=args.valid, test=args.test, seed=args.seed,
        group_by=args.group_by, source=args.source, license=args.license)
    manifest_dir = args.output.resolve().parent
    result = index_directory(args.directory, config,
                             relative_to=None if args.absolute else manifest_dir)
    print(result.summary(), file=sys.stderr)
    if not result.entries:
        raise AudiogenError(f"{args.directory}: no usable audio file; nothing written.")
    write_manifest(args.output, result.entries)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
