"""Draw a training run's curves to a PNG (needs matplotlib: `pip install 'audiogen[eval]'`).

Reads RUN_DIR/metrics.jsonl and writes RUN_DIR/curves.png, or -o FILE: for `audiogen train lm`
the cross-entropy and the perplexity per codebook, for `audiogen train codec` the training
losses, the validation mel distance and SI-SNR; all against the step.

Example:
    audiogen plot runs/lm                  # -> runs/lm/curves.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="training run directory (holds metrics.jsonl)")
    add_output_argument(parser, type=Path, metavar="PNG", required=False,
                        help="PNG to write (default RUN_DIR/curves.png)")


def run(args: argparse.Namespace) -> int:
    from audiogen.errors import MissingFilesError
    from audiogen.fileio import check_output_file
    from audiogen.plots import plot_curves
    from audiogen.train.metrics import read_metrics

    metrics = args.run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise MissingFilesError("training run", ["metrics.jsonl"], str(args.run_dir),
                                "Point at the run directory (-o) of `audiogen train lm` or "
                                "`audiogen train codec`.")
    records = read_metrics(metrics)
    out = check_output_file(args.output or args.run_dir / "curves.png", (".png",))
    plot_curves(records, out)
    last = [r for r in records if r["split"] == "train"]
    tail = f"; last train ce {last[-1]['ce']:.4f} at step {last[-1]['step']}" \
        if last and "ce" in last[-1] else ""
    print(f"{out}: {len(records)} records{tail}")
    return 0
