"""Training metrics: JSON lines on disk and a progress bar on the terminal.

Each line of `RUN_DIR/metrics.jsonl` is one record:

    {"split": "train", "step": 120, "time_s": 41.3, "step_time_s": 0.33, "g/mel": 1.92, ...}

Keys carry their unit as a suffix where they have one (`_s` seconds, `_db` decibels,
`_per_s` rates); losses and ratios are unitless. Only rank 0 writes and shows progress.
Appending line by line keeps the file readable while training runs. A resumed run appends to
the same file after dropping the records past the step it resumed from (written by the run that
was stopped after its last checkpoint, and about to be written again), so the file reads as one
run; a line cut short by a kill is dropped too.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from audiogen import distributed
from audiogen.fileio import atomic_path


def _clean(value: Any) -> Any:
    """Numbers as plain floats (tensors included); non-finite values as strings JSON can hold."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLogger:
    """Append records to a JSON lines file and drive a tqdm progress bar (rank 0 only).

    Args:
        path: the .jsonl file (created with its directory).
        total_steps: length of the progress bar.
        initial_step: the step the run starts from (a resumed run): where the bar starts;
            the file's records past it are dropped.
        show_progress: False hides the bar (tests, non-interactive logs).
        tensorboard_dir: also write the numbers as TensorBoard scalars here (`split/key`)
            when the `tensorboard` package is installed; None: JSON lines only.
    """

    def __init__(self, path: str | os.PathLike, total_steps: int, initial_step: int = 0,
                 show_progress: bool = True, tensorboard_dir: str | os.PathLike | None = None):
        self.path = Path(path)
        self.enabled = distributed.is_main()
        self.start = time.perf_counter()
        self._bar = None
        self._tb = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            drop_records_after(self.path, initial_step)
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: `pip install tensorboard`
                pass
            else:
                self._tb = SummaryWriter(str(tensorboard_dir))
        if show_progress:
            from tqdm import tqdm

            # tqdm's own rate display gives steps/s; postfix shows the latest losses.
            self._bar = tqdm(total=total_steps, initial=initial_step, unit="step",
                             dynamic_ncols=True)

    def log(self, split: str, step: int, metrics: dict[str, Any]) -> None:
        """Write one record; the elapsed wall time (`time_s`) is added."""
        if not self.enabled:
            return
        record = {"split": split, "step": step,
                  "time_s": round(time.perf_counter() - self.start, 3)}
        record.update({k: _clean(v) for k, v in metrics.items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "time_s"):
                    self._tb.add_scalar(f"{split}/{key}", value, step)

    def progress(self, steps: int = 1, postfix: dict[str, float] | None = None) -> None:
        """Advance the bar by `steps`, showing `postfix` values (rounded)."""
        if self._bar is None:
            return
        if postfix:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)
        self._bar.update(steps)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar (rank 0 only)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(message)
        else:
            print(message, flush=True)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _records(text: str) -> list[dict[str, Any]]:
    """The records of a metrics file's text; a line that does not parse (cut short by a kill)
    is left out."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and "split" in row:
            rows.append(row)
    return rows


def drop_records_after(path: str | os.PathLike, step: int) -> None:
    """Rewrite a metrics file (atomically) without its records past `step` or a line cut
    short; a file with neither is left as it is."""
    path = Path(path)
    text = path.read_text()
    rows = _records(text)
    kept = [r for r in rows if r["step"] <= step]
    if len(kept) == len(text.splitlines()) and (not text or text.endswith("\n")):
        return
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))


def read_metrics(path: str | os.PathLike, split: str | None = None) -> list[dict[str, Any]]:
    """Read a metrics file back; for each (split, step) keep the last record."""
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for row in _records(Path(path).read_text()):
        if split is None or row["split"] == split:
            records[(row["split"], row["step"])] = row
    return sorted(records.values(), key=lambda r: (r["step"], r["split"]))
