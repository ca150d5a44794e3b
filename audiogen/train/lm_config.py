"""The LM training configuration, in the YAML file format of `audiogen.train.config_file`.

The packaged presets live in audiogen/configs/ (`lm_small.yaml` ...) and `load_config("small")`
finds them by name. Every run prints its full, commented config at start and saves it beside
each checkpoint (train_config.yaml).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from audiogen.errors import AudiogenError
from audiogen.lm.config import LMConfig, lm_preset
from audiogen.train import config_file

PRESET_FILES = {"small": "lm_small.yaml", "medium": "lm_medium.yaml",
                "paper-base": "lm_paper_base.yaml", "paper-large": "lm_paper_large.yaml"}


@dataclass
class LMTrainConfig:
    # --- model ---
    preset: str = "small"  # LM shape to start from (audiogen.lm.config.PRESETS)
    lm: dict[str, Any] = field(default_factory=dict)  # LMConfig fields to change, e.g.
    # {num_layers: 4, cfg_dropout: 0.1}; cfg_dropout (paper: 0.1) is applied per example
    codec: str = ""  # model directory with codec.json + codec.safetensors: copied into the
    # exported model; runs on the mixed audio when training from a manifest
    # --- data (give one of cache / manifest) ---
    cache: str = ""  # token cache (`audiogen data encode`): no mixing, no codec per step
    manifest: str = ""  # JSONL manifest (`audiogen data index`): audio segments, mixing,
    # encoded by the codec on the training device. Either takes several sources: "A,B" (each
    # drawn in proportion to its hours) or "A:0.7,B:0.3" (shares of the batches)
    segment_seconds: float = 5.0  # training segment (v2: 10 s; the paper: 5 s)
    mixing: dict[str, Any] = field(default_factory=dict)  # MixingConfig fields to change
    # (manifest only; {} = the paper's: p 0.5, SNR -5..5 dB); {enabled: false} turns it off
    num_workers: int = 2  # loader processes per training process (manifest only; 0: none)
    # --- batch ---
    batch_size: int = 16  # GLOBAL batch: examples per optimizer step over all processes
    grad_accum: int = 1  # micro-batches per step on each process; micro-batch size =
    # batch_size / (processes x grad_accum)
    # --- optimisation ---
    steps: int = 10000  # total optimizer steps (a resumed run continues up to this)
    stop_at: int = 0  # stop early at this step (validate, checkpoint, export) with the
    # schedule still laid out over `steps`: train in slices, or compare runs at equal steps
    lr: float = 5e-4  # AdamW peak learning rate (audiogen-medium)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])  # AdamW betas (audiogen-medium)
    weight_decay: float = 0.1  # AdamW decoupled weight decay, all weights (as the reference)
    schedule: str = "inverse_sqrt"  # inverse_sqrt (audiogen-medium), cosine or constant (cosine
    # decays over `steps`: raising steps when resuming stretches what is left of it)
    warmup_steps: int = 3000  # linear warm-up steps (audiogen-medium: 3000)
    min_lr_ratio: float = 0.0  # cosine only: the rate at the end, as a share of lr
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: off)
    ema: bool = True  # keep an exponential moving average of the weights
    ema_decay: float = 0.99  # (audiogen-medium: 0.99)
    ema_every: int = 10  # steps between EMA updates (audiogen-medium: 10)
    export_ema: bool = True  # export the EMA weights (when ema is on) instead of the last ones
    precision: str = "bf16"  # autocast on CUDA: bf16, fp16 (with loss scaling) or fp32;
    # CPU runs always compute in fp32
    parallel: str = "ddp"  # with several processes: ddp (replicas) or fsdp (sharded weights
    # and optimizer state, for models that do not fit one GPU)
    # --- bookkeeping ---
    validate_every: int = 500  # steps between validations on the "valid" split (0: never)
    valid_batches: int = 8  # micro-batches per process in a validation
    checkpoint_every: int = 500  # steps between checkpoints (and one at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept
    log_every: int = 10  # steps between metrics records
    export_dir: str = ""  # the final model directory; "": RUN_DIR/model
    generation: dict[str, Any] = field(default_factory=dict)  # lm.json generation defaults
    # to change (window/stride default to the segment length)
    seed: int = 0  # seeds the weights, data order, crops, mixing and every step's dropout
    device: str = "auto"  # cpu, cuda or auto
    num_threads: int = 0  # torch CPU threads per process; 0: torch's default

    def lm_config(self) -> LMConfig:
        """The preset's LMConfig with the `lm` changes; a `text` dict changes single fields of
        the preset's text encoder (e.g. {text: {path: /models/t5-large}})."""
        try:
            base = lm_preset(self.preset)
            changes = dict(self.lm)
            if isinstance(changes.get("text"), dict):
                changes["text"] = dataclasses.replace(base.text, **changes["text"])
            return dataclasses.replace(base, **changes)
        except (ValueError, TypeError) as e:
            raise AudiogenError(f"LM settings: {e}") from e


def config_from_dict(data: dict[str, Any], where: str = "config") -> LMTrainConfig:
    """Build a config from parsed YAML, checking names and types against the defaults."""
    return config_file.config_from_dict(LMTrainConfig, data, where)


def load_config(name_or_path: str | os.PathLike) -> LMTrainConfig:
    """Read a YAML config file, or a packaged preset by name (small, medium, paper-base,
    paper-large)."""
    return config_file.load_config(LMTrainConfig, PRESET_FILES, name_or_path)
