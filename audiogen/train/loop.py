"""Loop mechanics shared by the codec and LM trainers, as plain functions.

Both trainers run the same outer loop around their own step:

    resume from the newest checkpoint that reads completely, open RUN_DIR/metrics.jsonl
    while step < end_step(steps, stop_at):
        one training step
        due(step, log_every, last)        -> a metrics record
        due(step, validate_every, last)   -> a validation
        due(step, checkpoint_every, last) -> a checkpoint
    a NaN or infinite loss -> a checkpoint of the weights before that step, then
        non_finite_stop(...): the run stops with a message
    export_model(export_path(...), write)

What a step, a validation, a checkpoint and a model directory are stays with each trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audiogen import distributed
from audiogen.errors import AudiogenError
from audiogen.train.checkpoint import CheckpointManager, resume
from audiogen.train.metrics import MetricsLogger


class NonFiniteLoss(Exception):
    """A step produced a NaN or infinite loss or gradient (on some process)."""


def end_step(steps: int, stop_at: int) -> int:
    """The step this run stops at: `stop_at` when set (> 0) and sooner than `steps`. Schedules
    stay laid out over `steps`, so a run trained in slices repeats an uninterrupted one."""
    return min(steps, stop_at) if stop_at > 0 else steps


def due(step: int, every: int, last: bool) -> bool:
    """Whether a periodic action (record, validation, checkpoint) runs after `step`: every
    `every` steps and at the run's last step; `every` <= 0 turns it off."""
    return every > 0 and (step % every == 0 or last)


def resume_and_open_log(checkpoints: CheckpointManager, load: Callable[[Path], None],
                        current_step: Callable[[], int], run_dir: Path, total_steps: int,
                        show_progress: bool) -> MetricsLogger:
    """Resume from the newest checkpoint that reads completely (`checkpoint.resume`: a damaged
    one falls back to the next older), then open RUN_DIR/metrics.jsonl (and TensorBoard
    scalars in RUN_DIR/tensorboard when the package is installed) at the resumed step, and
    note there what resuming found."""
    notes: list[str] = []
    latest = resume(checkpoints, load, notes.append)
    logger = MetricsLogger(run_dir / "metrics.jsonl", total_steps, current_step(), show_progress,
                           tensorboard_dir=run_dir / "tensorboard")
    for note in notes:
        logger.write(note)
    if latest is not None:
        logger.write(f"resumed from {latest} (step {current_step()})")
    return logger


def non_finite_stop(error: NonFiniteLoss, step: int, saved: Path, advice: str) -> AudiogenError:
    """The error that ends a run after `error`, once the weights of `step` (the last good
    one) are saved in `saved`; `advice`: the settings to change first."""
    return AudiogenError(
        f"{error}: stopped. The weights before it are saved in {saved} (step {step}); resuming "
        f"repeats the same batch, so {advice}, check the data, or start from an earlier "
        "checkpoint.")


def export_path(export_dir: str, run_dir: Path) -> Path:
    """Where the final model directory goes: `export_dir`, or RUN_DIR/model."""
    return Path(export_dir or run_dir / "model")


def export_model(out: Path, write: Callable[[Path], None]) -> Path:
    """Write the model directory `out` with `write(out)` on rank 0; every process calls this
    (the others wait until it is written)."""
    if distributed.is_main():
        write(out)
    distributed.barrier()
    return out
