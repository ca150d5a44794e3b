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
`latest()` therefore always returns a usable one. Weights are safetensors; the training state
holds only tensors and plain containers and is read back with `torch.load(weights_only=True)`.
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
from safetensors.torch import load_file, save_file

from audiogen.errors import AudiogenError

_STEP_DIR = re.compile(r"^step_(\d+)$")


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

    def _prune(self) -> None:
        for step in self.steps()[:-self.keep]:
            shutil.rmtree(self.path(step), ignore_errors=True)


def save_weights(path: str | os.PathLike, module: torch.nn.Module) -> None:
    """A module's state dict as safetensors (copied to the CPU, contiguous, unshared)."""
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(path))


def load_weights(path: str | os.PathLike, module: torch.nn.Module) -> None:
    """Load safetensors weights into `module`, strictly (every key present, no extra ones)."""
    state = load_file(str(path), device=str(next(module.parameters()).device))
    module.load_state_dict(state, strict=True)


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Training state (optimizers, counters, RNG states): tensors and plain containers only."""
    torch.save(state, str(path))


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a `save_state` file without unpickling arbitrary objects."""
    return torch.load(str(path), map_location=map_location, weights_only=True)

