"""The LM training configuration and its YAML file format.

A config file is YAML with one `key: value  # what it means` line per setting, grouped by
section, exactly what `config_to_yaml` writes. Settings left out keep their defaults; an
unknown key is an error listing the valid ones. The packaged presets live in audiogen/configs/
(`lm_small.yaml` ...) and `load_config("small")` finds them by name. Every run prints its
full, commented config at start and saves it beside each checkpoint (train_config.yaml).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from audiogen.errors import AudiogenError
from audiogen.lm.config import LMConfig, lm_preset
from audiogen.train.overrides import config_to_dict

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
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


_FIELD = re.compile(r"^    (\w+): [^=]+= .*?(?:  # (.*))?$")
_MORE = re.compile(r"^    # (?!---)(.*)$")
_SECTION = re.compile(r"^    # (--- .* ---)$")


def _layout() -> list[tuple[str, str, str]]:
    """("section", title, "") and ("field", name, comment) in the order of the class source."""
    out: list[tuple[str, str, str]] = []
    for line in inspect.getsource(LMTrainConfig).splitlines():
        if m := _SECTION.match(line):
            out.append(("section", m.group(1), ""))
        elif m := _FIELD.match(line):
            out.append(("field", m.group(1), m.group(2) or ""))
        elif (m := _MORE.match(line)) and out and out[-1][0] == "field":
            kind, name, comment = out[-1]
            out[-1] = (kind, name, f"{comment} {m.group(1)}")
    return out


def config_to_yaml(config: LMTrainConfig, header: str = "") -> str:
    """The full config as commented YAML (what a person edits, and what a run prints)."""
    values = config_to_dict(config)
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    for kind, name, comment in _layout():
        if kind == "section":
            lines += ["", f"# {name}"]
            continue
        value = yaml.safe_dump(values[name], default_flow_style=True, width=10_000).strip()
        value = value.removesuffix("\n...").strip()
        lines.append(f"{name}: {value}" + (f"  # {comment}" if comment else ""))
    return "\n".join(lines).lstrip("\n") + "\n"


def config_from_dict(data: dict[str, Any], where: str = "config") -> LMTrainConfig:
    """Build a config from parsed YAML, checking names and types against the defaults."""
    defaults = LMTrainConfig()
    names = [f.name for f in dataclasses.fields(LMTrainConfig)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise AudiogenError(f"{where}: unknown setting(s) {', '.join(unknown)}; "
                            f"valid settings: {', '.join(names)}.")
    values = {}
    for key, value in data.items():
        current = getattr(defaults, key)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(current, dict) and value is None:
            value = {}
        elif isinstance(current, str) and value is None:
            value = ""
        ok = type(value) is type(current) or (isinstance(current, list) and isinstance(value, list))
        if not ok:
            raise AudiogenError(f"{where}: {key}: expected a value like {current!r} "
                                f"({type(current).__name__}), got {value!r}.")
        values[key] = value
    return LMTrainConfig(**values)


def resolve_config_path(name_or_path: str | os.PathLike) -> Path:
    """A config file path, or a preset name (small, medium, paper-base, paper-large)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if str(name_or_path) in PRESET_FILES:
        return CONFIG_DIR / PRESET_FILES[str(name_or_path)]
    raise AudiogenError(f"{name_or_path}: no such config file, nor a preset "
                        f"({', '.join(PRESET_FILES)}).")


def load_config(name_or_path: str | os.PathLike) -> LMTrainConfig:
    """Read a YAML config file (or a packaged preset by name)."""
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise AudiogenError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise AudiogenError(f"{path}: expected `key: value` lines at the top level.")
    return config_from_dict(data, str(path))
