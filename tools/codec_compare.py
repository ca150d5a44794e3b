"""Compare codec training runs at equal CPU time, on the in-domain and out-of-domain test sets.

    .venv/bin/python tools/codec_compare.py --budget 3600 runs/codec_cmp/recon \
        runs/codec_cmp/adv_light runs/codec_cmp/dec_adv --baseline audiogen/assets/default_model

For each run it takes the newest checkpoint whose process CPU time (`cpu_seconds` in its
train_state.pt, counted over resumes) is within the budget, so runs that shared a busy machine
are compared on the work they did, not on wall time. Then one `audiogen evaluate-codec` per
test set measures every chosen checkpoint, the baseline codec and Opus side by side:

- in-domain: the open corpus's test split (corpus/manifest.jsonl, split test);
- out-of-domain: the recordings held out of all training (recordings/manifest.jsonl, split
  test: warzone2100-data speech, flightgear-data-base vehicles and ambience).

Reports go to OUT/{in_domain,out_of_domain}.json/.md; the last lines printed are one table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiogen.fileio import short_names
from audiogen.train.checkpoint import load_state

SETS = {"in_domain": "corpus/manifest.jsonl", "out_of_domain": "recordings/manifest.jsonl"}


def checkpoint_within(run: Path, budget: float) -> tuple[Path, int, float]:
    """(checkpoint, step, CPU seconds) of the newest checkpoint of `run` within `budget`."""
    best = None
    for directory in sorted((run / "checkpoints").glob("step_*")):
        state = load_state(directory / "train_state.pt")
        cpu = float(state.get("cpu_seconds", 0.0))
        if cpu <= budget:
            best = (directory, int(state["step"]), cpu)
    if best is None:
        raise SystemExit(f"{run}: no checkpoint within {budget:g} CPU seconds.")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="codec training run directories")
    parser.add_argument("--budget", type=float, required=True, help="CPU seconds per run")
    parser.add_argument("--baseline", type=Path, help="a codec to measure beside them")
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/codec_compare"))
    parser.add_argument("--max-files", type=int, default=60,
                        help="files per test set (an evenly spaced sample)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per file")
    args = parser.parse_args()

    chosen = {run.name: checkpoint_within(run, args.budget) for run in args.runs}
    models = [str(c[0]) for c in chosen.values()]
    if args.baseline:
        models.append(str(args.baseline))
    rows = {}
    for name, data in SETS.items():
        out = args.output / f"{name}.json"
        if not out.is_file():
            command = [str(ROOT / ".venv/bin/audiogen"), "evaluate-codec", "--data", data,
                       "--split", "test", "--max-files", str(args.max_files), "--seconds",
                       str(args.seconds), "-o", str(out), "--spectrograms", "4"]
            for m in models:
                command += ["--model", m]
            subprocess.run(command, check=True, cwd=ROOT)
        rows[name] = json.loads(out.read_text())["systems"]
    print(f"\nAt {args.budget:g} CPU seconds per run (mel distance / pitch within 50 cents / "
          "SI-SNR dB):\n")
    print("| system | step | CPU s | in-domain | out-of-domain |")
    print("|---|---|---|---|---|")
    where = {name: chosen[run.name] for name, run in zip(short_names(models), args.runs)}
    for system in rows["in_domain"]:
        cells = []
        for name in SETS:
            r = rows[name][system]
            pitch = r.get("pitch_50c")
            cells.append(f"{r['mel_distance']:.3f} / "
                         f"{'n/a' if pitch is None else f'{pitch:.2f}'} / {r['si_snr']:.1f}")
        _, step, cpu = where.get(system, (None, "", ""))
        cpu = f"{cpu:.0f}" if cpu != "" else ""
        print(f"| {system} | {step} | {cpu} | {cells[0]} | {cells[1]} |")

if __name__ == "__main__":
    main()
