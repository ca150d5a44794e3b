"""Gather the real recordings of free Debian packages (codec training and out-of-domain test).

Every sound of game and education packages (0ad-data, hedgewars-data, freedroidrpg-data,
supertuxkart-data, megaglest-data, warmux-data, ...) except music and the files that any source
of the captioned corpus takes (`build-open-corpus`, `everyday` included: no clip has two roles,
so a corpus's test split stays unheard by a codec trained on this set), cut into pieces of at
most 10 s and written as 16 kHz mono FLAC with manifest.jsonl (package, licence, attribution,
split), recordings.json and README.md (hours per package). warzone2100-data (recorded speech)
and flightgear-data-base (aircraft, vehicles, weather) are held out of all training as split
"test": the out-of-domain test set. Missing packages are named with the apt-get line that
installs them; the rest is built anyway.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_argument(parser, metavar="DIR", help="directory to write")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the train/valid split (default 0)")
    parser.add_argument("--strict", action="store_true",
                        help="fail when a package is missing instead of skipping it")
    parser.add_argument("--root", default="/",
                        help="file-system root holding the packages' files (default /)")


def run(args: argparse.Namespace) -> int:
    import time

    from audiogen.data.open_corpus.recordings import build_recordings
    from audiogen.fileio import check_output_dir

    check_output_dir(args.output)
    start = time.perf_counter()
    summary = build_recordings(args.output, root=args.root, seed=args.seed, strict=args.strict)
    hours = summary["hours"]
    print(f"{summary['pieces']} pieces from {len(summary['packages'])} packages: "
          f"{hours.get('train', 0):.2f} h train, {hours.get('valid', 0):.2f} h valid, "
          f"{hours.get('test', 0):.2f} h out-of-domain test -> {args.output}/manifest.jsonl "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
