"""LM training (AudioGen paper): next-token cross-entropy over codec tokens, conditioned on text.

One optimizer step, read top to bottom in `LMTrainer.train_step`:

    for each of grad_accum micro-batches (b = batch_size / (processes x grad_accum) examples):
        codes [b, K, F] (PAD past each clip), frame mask [b, F], text states [b, L, D_enc]
        cond  = lm.text.project(text states)             condition dropped per example (p 0.1)
        loss  = mean over K of the per-codebook CE        padded frames left out
        (loss / grad_accum).backward()                    gradients reduced on the last one
    any non-finite loss on any process -> checkpoint, stop with a message
    clip the global gradient norm, AdamW step, schedule step, EMA every ema_every steps

Reproducibility: before each micro-batch the torch RNG is re-seeded from (seed, step, rank,
micro-batch), and the data position is a function of the step (see `lm_data`), so resuming
from a checkpoint (weights, optimizer, schedule, EMA, loss scale, step) repeats an
uninterrupted run exactly on CPU; the RNG state itself never needs saving.

Several processes (`torchrun --nproc_per_node N -m audiogen train lm ...`): batch_size is the
GLOBAL batch; the data is sharded by `EpochSampler`, so N processes x grad_accum micro-batches
cover the same examples one process would see. Metrics are averaged over processes; rank 0
logs and writes checkpoints (under FSDP every process helps gather them).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from audiogen import distributed
from audiogen.errors import AudiogenError
from audiogen.fileio import atomic_path, read_json
from audiogen.generation.config import GenerationConfig
from audiogen.lm import AudioLM, LMConfig
from audiogen.lm.model import FILES as LM_FILES
from audiogen.model_dir import read_weights
from audiogen.seeding import derive_seed
from audiogen.train import loop, sharding
from audiogen.train.checkpoint import CheckpointManager, load_state, save_state
from audiogen.train.config_file import config_to_yaml
from audiogen.train.ema import EMA
from audiogen.train.lm_config import LMTrainConfig
from audiogen.train.lm_data import LMData
from audiogen.train.loop import NonFiniteLoss
from audiogen.train.schedules import SCHEDULES, build_scheduler

CONFIG_FILE = "train_config.yaml"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
CODEC_FILES = ("codec.json", "codec.safetensors")
# what to change first after a non-finite loss
NON_FINITE_ADVICE = "lower lr (or raise warmup_steps, lower grad_clip)"


class LossModule(torch.nn.Module):
    """What DDP / FSDP wrap: the text projection and the LM loss in one forward, so every
    trainable parameter takes part in the wrapped call."""

    def __init__(self, lm: AudioLM):
        super().__init__()
        self.lm = lm

    def forward(self, codes: torch.Tensor, frame_mask: torch.Tensor, text_states: torch.Tensor,
                text_mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """codes [b, K, F], frame_mask [b, F], text_states [b, L, D_enc], text_mask [b, L]."""
        cond = self.lm.text.project(text_states, text_mask)
        return self.lm.compute_loss(codes, cond, frame_mask)


class LMTrainer:
    """Args:
        config: the training configuration.
        run_dir: checkpoints, metrics and the exported model go here; a run directory with
            checkpoints is resumed from its newest one.
    """

    def __init__(self, config: LMTrainConfig, run_dir: str | Path):
        self.config = c = config
        self.run_dir = Path(run_dir)
        self._check(c)
        if c.num_threads > 0:
            torch.set_num_threads(c.num_threads)
        self.device = distributed.init(c.device)
        self.rank, self.world = distributed.rank(), distributed.world_size()
        if c.batch_size % (self.world * c.grad_accum):
            raise AudiogenError(f"batch_size {c.batch_size} (global) must be a multiple of "
                                f"processes x grad_accum ({self.world} x {c.grad_accum}).")
        self.micro = c.batch_size // (self.world * c.grad_accum)
        self.lm_config: LMConfig = c.lm_config()
        self.generation = self._generation_defaults()
        cuda = self.device.type == "cuda"
        self.amp_dtype = PRECISIONS[c.precision] if cuda else None

        self.data = LMData(c, self.lm_config, self.device, self.micro, self.rank, self.world)
        torch.manual_seed(c.seed)  # identical initial weights on every process
        self.lm = AudioLM(self.lm_config).train()
        if not (c.parallel == "fsdp" and self.world > 1):
            self.lm.to(self.device)
        # else built in host memory: sharding moves one unit (block) at a time to the device,
        # never the whole float32 model on every GPU
        self.model = sharding.wrap(LossModule(self.lm), self.lm.transformer.layers, c.parallel,
                                   self.world, self.device, bf16=self.amp_dtype == torch.bfloat16)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.lr,
                                           betas=tuple(c.betas), weight_decay=c.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, c.schedule, c.warmup_steps, c.steps,
                                         c.min_lr_ratio)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ema = EMA(self.lm, c.ema_decay, c.ema_every) if c.ema else None
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", c.keep_checkpoints)
        self.step = 0
        self._batches = None

    @staticmethod
    def _check(c: LMTrainConfig) -> None:
        problems = []
        if c.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}")
        if c.precision not in PRECISIONS:
            problems.append(f"precision must be one of {tuple(PRECISIONS)}")
        if c.parallel not in sharding.PARALLEL_KINDS:
            problems.append(f"parallel must be one of {sharding.PARALLEL_KINDS}")
        if c.grad_accum < 1 or c.batch_size < 1 or c.steps < 0:
            problems.append("batch_size and grad_accum must be >= 1, steps >= 0")
        if c.segment_seconds <= 0:
            problems.append("segment_seconds must be > 0")
        if not c.codec:
            problems.append("codec=MODEL_DIR is needed (the exported model carries the codec)")
        if problems:
            raise AudiogenError("training config: " + "; ".join(problems) + ".")

    def _generation_defaults(self) -> dict[str, Any]:
        """lm.json's generation section: the window is the trained segment length."""
        window = self.config.segment_seconds
        values = {"window": window, "stride": min(GenerationConfig.stride, window / 2),
                  "duration": min(GenerationConfig.duration, window), **self.config.generation}
        GenerationConfig.from_dict(values)  # fail now, not at export
        return values

    # --- one step ---
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def train_step(self) -> dict[str, float]:
        """One optimizer step (grad_accum micro-batches); returns this process's metrics.

        The micro-batches read nothing back from the device (metrics and token counts stay
        tensors there); the step reads them, the gradient norm and the non-finite flag at once,
        before the optimizer step: one host synchronisation per optimizer step.
        """
        c = self.config
        if self._batches is None:
            self._batches = self.data.train_batches(self.step * c.grad_accum)
        totals: dict[str, torch.Tensor] = {}
        tokens = torch.zeros((), dtype=torch.float64, device=self.device)
        for i in range(c.grad_accum):
            batch = next(self._batches)
            # seeded after the batch: making it may draw from the global RNG (a DataLoader
            # draws its base seed when its iterator starts, on resume at another step)
            torch.manual_seed(derive_seed(c.seed, "step", self.step, self.rank, i))
            with sharding.gradient_sync(self.model, i == c.grad_accum - 1):
                with self._autocast():
                    loss, metrics = self.model(batch.codes, batch.mask, batch.text_states,
                                               batch.text_mask)
                self.scaler.scale(loss / c.grad_accum).backward()
            for k, v in metrics.items():  # float64 sums, as the logged numbers were before
                v = torch.as_tensor(v, device=self.device).double() / c.grad_accum
                totals[k] = totals[k] + v if k in totals else v
            tokens += batch.mask.sum() * self.lm_config.num_codebooks
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                              c.grad_clip if c.grad_clip > 0 else math.inf)
        if hasattr(norm, "full_tensor"):  # FSDP: a DTensor
            norm = norm.full_tensor()
        bad = distributed.all_reduce_sum_(torch.isfinite(totals["ce"]).logical_not().double())
        keys = sorted(totals)
        read = torch.stack([bad, norm.double(), tokens, *(totals[k] for k in keys)]).tolist()
        bad, norm, tokens = read[:3]
        metrics = dict(zip(keys, read[3:]))
        if bad > 0:
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(f"non-finite loss at step {self.step + 1} (this process: "
                                f"ce {metrics['ce']})")
        if not math.isfinite(norm) and not self.scaler.is_enabled():
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(f"non-finite gradient norm at step {self.step + 1}")
        lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)  # (fp16: skipped when the scaled gradients overflowed)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.lm, self.step)
        metrics.update({"ppl": math.exp(min(metrics["ce"], 50.0)), "grad_norm": norm, "lr": lr,
                        "tokens": tokens})
        return metrics

    # --- validation ---
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean CE / perplexity per codebook over the fixed validation batches ({} if none).
        Every process takes part (its share of the batches)."""
        self.model.eval()
        sums: dict[str, float] = defaultdict(float)
        n = 0
        for batch in self.data.valid_batches(self.config.valid_batches):
            with self._autocast():
                _, metrics = self.model(batch.codes, batch.mask, batch.text_states,
                                        batch.text_mask)
            for k, v in metrics.items():
                if k.startswith("ce"):
                    sums[k] += float(v)
            n += 1
        self.model.train()
        if distributed.all_reduce_sum(float(n)) == 0:
            return {}
        summary = distributed.all_reduce_mean({k: v / max(n, 1) for k, v in sums.items()})
        for k in list(summary):
            summary[k.replace("ce", "ppl", 1)] = math.exp(min(summary[k], 50.0))
        return summary

    # --- checkpoints and export ---
    def _weights(self, use_ema: bool) -> dict[str, torch.Tensor]:
        """Whole LM weights on the CPU (every process must call this under FSDP)."""
        state = sharding.full_state_dict(self.lm)
        if use_ema and self.ema is not None:
            state.update({k: sharding.full_tensor(v).to(state[k].dtype)
                          for k, v in self.ema.state_dict().items()})
        return state

    def _write_lm(self, directory: Path, state: dict[str, torch.Tensor]) -> None:
        AudioLM.from_state_dict(self.lm_config, state).save(
            directory, generation=self.generation, extra={"trained_by": self._provenance()})

    def save_checkpoint(self) -> Path | None:
        """Write RUN_DIR/checkpoints/step_N (rank 0); returns its path there, None elsewhere."""
        weights = self._weights(use_ema=False)
        ema = ({k: sharding.full_tensor(v) for k, v in self.ema.state_dict().items()}
               if self.ema is not None else None)
        optimizer = sharding.optimizer_state(self.model, self.optimizer)
        skipped = distributed.all_reduce_sum(self.data.skipped)
        path = None
        if distributed.is_main():
            def write(directory: Path) -> None:
                self._write_lm(directory, weights)
                if ema is not None:
                    save_file(ema, str(directory / "ema.safetensors"))
                save_state(directory / "train_state.pt", {
                    "step": self.step, "micro_batches": self.step * self.config.grad_accum,
                    "optimizer": optimizer, "scheduler": self.scheduler.state_dict(),
                    "scaler": self.scaler.state_dict(), "skipped_files": skipped,
                    "sharded": sharding.is_sharded(self.model), "world_size": self.world})
                (directory / CONFIG_FILE).write_text(config_to_yaml(self.config, self._header()))

            path = self.checkpoints.save(self.step, write)
        distributed.barrier()
        return path

    def load_checkpoint(self, directory: Path) -> None:
        """Restore the run from a checkpoint. Every file is read before any state changes, so
        a damaged one (DamagedFileError) leaves this trainer as it was (see `resume`)."""
        meta = read_json(directory / LM_FILES.config_file)
        saved = LM_FILES.config(directory, meta, LMConfig).to_dict()
        state = load_state(directory / "train_state.pt", map_location="cpu")
        weights = LM_FILES.read_weights(directory)
        ema = None
        if self.ema is not None:
            if not (directory / "ema.safetensors").is_file():
                raise AudiogenError(f"{directory}: no ema.safetensors (the run had ema off).")
            ema = read_weights(directory / "ema.safetensors")
        if saved != self.lm_config.to_dict():
            raise AudiogenError(f"{directory}: the checkpoint's LM config differs from this run's"
                                " (preset / lm settings); use a new run directory.")
        if state["sharded"] != sharding.is_sharded(self.model):
            raise AudiogenError(f"{directory}: saved {'with' if state['sharded'] else 'without'}"
                                " FSDP; resume with the same `parallel` setting.")
        sharding.load_full_state_dict(self.lm, weights)
        if ema is not None:
            self.ema.load_state_dict({k: sharding.shard_like(v, self.ema.shadow[k])
                                      for k, v in ema.items()})
        sharding.load_optimizer_state(self.model, self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.data.skipped = int(state["skipped_files"]) if self.rank == 0 else 0
        self._batches = None

    def export_path(self) -> Path:
        return loop.export_path(self.config.export_dir, self.run_dir)

    def export(self) -> Path:
        """The model directory: the codec's files copied, lm.json + lm.safetensors (EMA
        weights if ema and export_ema), loadable by `AudioGen.from_pretrained`."""
        weights = self._weights(use_ema=self.config.export_ema)  # every process takes part

        def write(out: Path) -> None:
            out.mkdir(parents=True, exist_ok=True)
            for name in CODEC_FILES:
                with atomic_path(out / name) as tmp:
                    shutil.copyfile(Path(self.config.codec) / name, tmp)
            self._write_lm(out, weights)

        return loop.export_model(self.export_path(), write)

    def _provenance(self) -> dict[str, Any]:
        c = self.config
        return {"trainer": "audiogen train lm", "step": self.step,
                "data": c.cache or c.manifest, "batch_size": c.batch_size,
                "segment_seconds": c.segment_seconds,
                "weights": "ema" if self.ema is not None and c.export_ema else "last"}

    def _header(self) -> str:
        return (f"audiogen train lm: step {self.step}\n"
                "Edit and pass with --config FILE; key=value arguments override it.")

    # --- the loop ---
    def train(self, show_progress: bool = True) -> dict[str, float]:
        """Resume if possible, train up to `steps` (or `stop_at`), validate, checkpoint, export.

        Returns the last validation metrics (empty if none ran)."""
        c = self.config
        logger = loop.resume_and_open_log(self.checkpoints, self.load_checkpoint,
                                          lambda: self.step, self.run_dir, c.steps,
                                          show_progress)
        text = config_to_yaml(c, self._header())
        if distributed.is_main():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / CONFIG_FILE).write_text(text)
        logger.write(text)
        params = sum(p.numel() for p in self.lm.parameters())
        frames = round(c.segment_seconds * self.data.frame_rate)
        logger.write(
            f"LM: {params / 1e6:.2f}M parameters; {self.world} process(es) x {c.grad_accum} "
            f"micro-batch(es) of {self.micro} = global batch {c.batch_size} x {frames} frames "
            f"({c.segment_seconds:g} s); data: "
            + (f"token cache {c.cache}" if c.cache else
               f"{c.manifest} with mixing {'on' if self.data.mixer.config.enabled else 'off'}")
            + ("" if c.manifest else "; text states " + ("cached" if self.data.cached_text
                                                          else "encoded at every step"))
            + f"; {len(self.data.train_set)} training items"
            + ("" if self.data.valid_set is not None else "; no valid split: no validation"))
        valid: dict[str, float] = {}
        window: list[dict[str, float]] = []
        end = loop.end_step(c.steps, c.stop_at)
        try:
            while self.step < end:
                start = time.perf_counter()
                metrics = self.train_step()
                metrics["step_time_s"] = time.perf_counter() - start
                window.append(metrics)
                logger.progress(1, {"ce": metrics["ce"],
                                    "tok/s": metrics["tokens"] * self.world
                                    / metrics["step_time_s"]})
                last = self.step == end
                if loop.due(self.step, c.log_every, last):
                    logger.log("train", self.step, self._summarise(window))
                    window = []
                if loop.due(self.step, c.validate_every, last):
                    result = self.validate()
                    if result:
                        valid = result
                        logger.log("valid", self.step, valid)
                        logger.write(f"step {self.step}: valid ce {valid['ce']:.4f} "
                                     f"(ppl {valid['ppl']:.1f})")
                if loop.due(self.step, c.checkpoint_every, last):
                    self.save_checkpoint()
        except NonFiniteLoss as e:
            saved = self.save_checkpoint() or self.checkpoints.path(self.step)
            raise loop.non_finite_stop(e, self.step, saved, NON_FINITE_ADVICE) from None
        finally:
            logger.close()
        self.export()
        return valid

    def _summarise(self, window: list[dict[str, float]]) -> dict[str, float]:
        """Mean of each metric over the steps since the last record, averaged over processes;
        `tokens_per_s` counts every process's valid tokens (codebooks x frames)."""
        keys = sorted({k for m in window for k in m})
        local = {k: sum(m[k] for m in window) / len(window) for k in keys}
        local.update(self.data.take_shares())
        summary = distributed.all_reduce_mean(local)
        tokens = summary.pop("tokens") * self.world
        summary["tokens_per_step"] = tokens
        summary["tokens_per_s"] = tokens / summary["step_time_s"]
        summary["skipped_files"] = distributed.all_reduce_sum(self.data.skipped)
        return summary
