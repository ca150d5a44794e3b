"""Build the open sound corpus (offline, from freely licensed Debian packages).

Sources (all by default: the corpus the shipped model was trained on, 62 classes): `game`,
recorded sound effects in game-data and education packages (wesnoth-1.16-data, widelands-data,
lincity-ng-data, tuxpaint-stamps-default, openttd-opensfx, sound-theme-freedesktop, scratch);
`midi`, General MIDI instruments and effects rendered by fluidsynth with fluid-soundfont-gm;
`speech`, espeak-ng; `procedural`; `everyday`, real recordings whose file names say what they
are, from 0ad-data, hedgewars-data, supertuxkart-data, megaglest-data and other packages: men's
and women's voices (to the speech classes), and laughter, coughs, footsteps, doors, dogs, cats,
pigs, rivers, engines, fireworks and more as classes of their own. Writes 16 kHz mono FLAC
clips, manifest.jsonl (captions, label, source, licence, attribution, group, split),
corpus.json and README.md. Missing packages are named with the apt-get line that installs them;
the rest is built anyway.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_argument(parser, metavar="DIR", help="corpus directory to write")
    parser.add_argument("--max-per-class", type=int, default=60,
                        help="at most this many clips per class; synthetic sources fill "
                             "classes up to it (default 60)")
    parser.add_argument("--min-per-class", type=int, default=30,
                        help="classes with fewer clips (small real-recording classes) get "
                             "speed-changed copies of their training clips, at most 3 per clip "
                             "(default 30; 0 turns copies off)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--sources", default=None,
                        help="comma-separated sources to use, from game, midi, speech, "
                             "procedural, everyday (default: all, the shipped model's "
                             "corpus; all but everyday: the 40-class corpus of earlier "
                             "models)")
    parser.add_argument("--strict", action="store_true",
                        help="fail when a source's packages are missing instead of skipping it")
    parser.add_argument("--root", default="/",
                        help="file-system root holding the packages' files (default /)")


def run(args: argparse.Namespace) -> int:
    import time

    from audiogen.data.open_corpus.build import DEFAULT_SOURCES, build_open_corpus
    from audiogen.fileio import check_output_dir

    check_output_dir(args.output)
    start = time.perf_counter()
    sources = ([s.strip() for s in args.sources.split(",") if s.strip()] if args.sources
               else DEFAULT_SOURCES)
    summary = build_open_corpus(args.output, max_per_class=args.max_per_class, seed=args.seed,
                                sources=sources, root=args.root, strict=args.strict,
                                min_per_class=args.min_per_class)
    print(f"{summary['clips']} clips, {summary['hours']:.2f} h, {len(summary['classes'])} "
          f"classes -> {args.output}/manifest.jsonl ({time.perf_counter() - start:.0f} s)")
    return 0
