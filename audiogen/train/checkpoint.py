"""Training checkpoints: one directory per step, written atomically, the last k kept.

    RUN_DIR/checkpoints/
        step_00000500/          one checkpoint; what goes inside is the trainer's choice, e.g.
            codec.json            model config (JSON)          } a model directory, loadable as is
            codec.safetensors     model weights                }
            discriminator.safetensors
            train_state.pt        optimizers, schedulers, counters (torch.save)
            train_config.json     the training configuration
        step_00001000/

A checkpoint is first written to a hidden temporary directory beside the others and renamed into
place only when complete, so an interrupted save never leaves a half-written `step_*` directory;
a kill during a save leaves only that hidden directory, which `clean_stale` removes at the next
start. A `step_*` directory damaged afterwards (a disk error, a copy cut short) is skipped by
`resume`, which falls back to the newest checkpoint that reads completely. Weights are
safetensors; the training state holds only tensors and plain containers and is read back with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from audiogen import distributed
from audiogen.errors import AudiogenError, DamagedFileError
from audiogen.model_dir import one_line

_STEP_DIR = re.compile(r"^step_(\d+)$")
# the hidden directories `save` makes (mkdtemp adds a random suffix): a checkpoint being
# written, and the previous version of a step being replaced
_TEMP_DIR = re.compile(r"^\.(step|old)_(\d{8})\.[A-Za-z0-9_]+$")


class CheckpointManager:
    """Args:
        root: directory holding the `step_*` directories (created on first save).
        keep: how many of the newest checkpoints to keep (older ones are deleted after a save).
    """

    def __init__(self, root: str | os.PathLike, keep: int = 3):
        if keep < 1:
            raise AudiogenError(f"keep must be at least 1, got {keep}.")
        self.root = Path(root)
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.root / f"step_{step:08d}"

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = (_STEP_DIR.match(p.name) for p in self.root.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def latest(self) -> Path | None:
        """The newest complete checkpoint directory, or None."""
        steps = self.steps()
        return self.path(steps[-1]) if steps else None

    def save(self, step: int, write: Callable[[Path], None]) -> Path:
        """Call `write(directory)` on a fresh temporary directory, then move it to `step_N`.

        An existing checkpoint of the same step is replaced. Returns the final directory.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".step_{step:08d}.", dir=self.root))
        try:
            write(tmp)
            final = self.path(step)
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".old_{step:08d}.", dir=self.root))
                os.replace(final, old / final.name)
                os.replace(tmp, final)
                shutil.rmtree(old)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return final

    def clean_stale(self) -> list[Path]:
        """Remove the hidden temporary directories a killed `save` left; returns them.

        Call it only when no save is running (at the start of a run). A step whose rename was
        cut short between moving the old version aside and moving the new one in is restored
        from the old version."""
        if not self.root.is_dir():
            return []
        removed = []
        for p in sorted(self.root.iterdir()):
            m = _TEMP_DIR.match(p.name)
            if not m or not p.is_dir() or p.is_symlink():
                continue
            old = p / f"step_{m.group(2)}"
            final = self.root / old.name
            if m.group(1) == "old" and old.is_dir() and not final.exists():
                os.replace(old, final)
            shutil.rmtree(p)
            removed.append(p)
        return removed

    def _prune(self) -> None:
        for step in self.steps()[:-self.keep]:
            shutil.rmtree(self.path(step), ignore_errors=True)


def save_weights(path: str | os.PathLike, module: torch.nn.Module) -> None:
    """A module's state dict as safetensors (copied to the CPU, contiguous, unshared)."""
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(path))


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Training state (optimizers, counters, RNG states): tensors and plain containers only."""
    torch.save(state, str(path))


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a `save_state` file without unpickling arbitrary objects; a missing, cut-short or
    foreign file is a DamagedFileError naming it."""
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for a damaged archive
        raise DamagedFileError(f"{path}: damaged or not a training state file "
                               f"({one_line(e)}).") from e


def resume(manager: CheckpointManager, load: Callable[[Path], None],
           warn: Callable[[str], None]) -> Path | None:
    """Load the newest checkpoint that reads completely with `load(directory)`; returns it,
    or None when there is none (a fresh run).

    `load` must read every file before changing any state, so that a DamagedFileError leaves
    the trainer untouched; the damaged checkpoint is then named through `warn` and the next
    older one tried. Stale temporary directories are cleaned first (by rank 0)."""
    if distributed.is_main():
        for path in manager.clean_stale():
            warn(f"removed {path}, left by a run stopped while writing a checkpoint")
    distributed.barrier()
    damaged = []
    for step in reversed(manager.steps()):
        directory = manager.path(step)
        try:
            load(directory)
        except DamagedFileError as e:
            damaged.append(directory)
            warn(f"warning: checkpoint {directory} is damaged ({e}); trying an older one")
            continue
        if damaged:
            warn(f"warning: resumed from {directory} instead of the damaged "
                 f"{', '.join(p.name for p in damaged)} (step {step}: the steps after it "
                 f"run again)")
        return directory
    if damaged:
        raise AudiogenError(
            f"{manager.root}: every checkpoint is damaged ({', '.join(p.name for p in damaged)})"
            "; move that folder away to start the run over.")
    return None
