"""Codec training (EnCodec recipe, as audiocraft): reconstruction + adversarial losses, balanced.

One step, read top to bottom in `CodecTrainer.train_step`:

    x  = random 1 s crops                          [b, 1, T]   (b = batch_size / world size)
    y  = codec(x).audio                            [b, 1, T]
    with probability disc_update_share: one discriminator step on hinge(D(y.detach()), D(x))
    losses = {l1, mel, adv, feat}(y, x)            balanced w.r.t. y by `Balancer`
    commitment loss                                 added unbalanced, same backward
    one read of the losses and metrics; any non-finite loss on any process -> stop
    average gradients over processes, Adam step (at `schedule`'s rate for this step)

Precision (`precision=bf16`, CUDA): the codec's and the discriminator's layers run under
bfloat16 autocast; the quantizer, the losses, the balancer, the weights and the optimizer
state stay float32.

Host reads (stalls on a GPU): one per step, the losses and metrics with the count of
non-finite losses over all processes, before the generator's update (as in the LM trainer),
plus the quantizer's one per forward (its dead-code counts, audiogen/codec/quantizer.py). The
discriminator's coin flip is drawn on the host.

Reproducibility: the torch RNG is re-seeded at every step from (seed, step, rank) and the data
crops depend only on (seed, step, item index), so a resumed run repeats an uninterrupted one
exactly (on CPU) without saving RNG states.

Data parallel (`torchrun --nproc_per_node N -m audiogen train codec ...`): `batch_size` is the
GLOBAL batch; each of the N processes takes its slice of the same global batch (items
rank*b .. rank*b + b - 1), so N processes see the same crops as one process would. Gradients,
balancer norms and logged metrics are averaged over processes; the quantizer keeps its
codebooks in sync itself. Rank 0 validates, logs and writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from audiogen import distributed
from audiogen.codec import Codec, CodecConfig, codec_preset
from audiogen.codec.balancer import Balancer
from audiogen.codec.config import DECODER_SETTINGS
from audiogen.codec.conv import boost_init
from audiogen.codec.discriminator import DiscriminatorConfig, MultiScaleSTFTDiscriminator
from audiogen.codec.losses import (
    MultiScaleMelLoss,
    hinge_discriminator,
    hinge_generator,
    l1_time,
    relative_feature_matching,
)
from audiogen.codec.metrics import mel_distance, si_snr
from audiogen.codec.model import FILES as CODEC_FILES
from audiogen.data.audio_crops import RandomCrops, WeightedCrops, find_audio
from audiogen.data.weighted import parse_sources
from audiogen.errors import AudiogenError
from audiogen.fileio import read_json, write_json
from audiogen.model_dir import read_weights
from audiogen.seeding import derive_seed, host_uniform
from audiogen.train import loop
from audiogen.train.checkpoint import CheckpointManager, load_state, save_state, save_weights
from audiogen.train.loop import NonFiniteLoss
from audiogen.train.overrides import config_to_dict
from audiogen.train.schedules import SCHEDULES, lr_factor

# what to change first after a non-finite loss (the LM trainer names its own)
NON_FINITE_ADVICE = "lower lr"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}  # precision setting -> autocast dtype


@dataclass
class CodecTrainConfig:
    # --- model ---
    preset: str = "small"  # codec preset (audiogen.codec.presets.PRESETS)
    codec: dict[str, Any] = field(default_factory=dict)  # CodecConfig field overrides, e.g. {"n_q": 2}
    disc_filters: int = 32  # channels of the MS-STFT discriminator's convs (EnCodec: 32)
    disc_n_ffts: list[int] = field(default_factory=lambda: [1024, 2048, 512, 256, 128])
    # FFT sizes of the discriminator's scales, one sub-discriminator each (EnCodec: these five)
    init_from: str = ""  # codec model directory to start from (its config replaces preset;
    # `codec` may still set another decoder: the encoder and codebooks are copied, the new
    # decoder starts fresh)
    train_decoder_only: bool = False  # freeze encoder and codebooks: the codes stay as they are,
    # so a language model trained on them stays valid; only the decoder learns
    # --- data ---
    data: str = ""  # folder of audio (recursive) or JSONL manifest (its "train" rows); several
    # sources as "A,B" (each sampled in proportion to its hours) or "A:0.7,B:0.3" (shares)
    valid_data: str = ""  # held-out folder or manifest; "": the manifest's "valid" rows, or
    # (a folder, or no such rows) fixed crops of the training data
    segment_seconds: float = 1.0  # length of a training crop (EnCodec: 1 s)
    batch_size: int = 64  # GLOBAL batch: items per step summed over all processes (EnCodec: 64)
    valid_clips: int = 16  # validation crops (fixed for the whole run)
    # --- optimisation ---
    lr: float = 3e-4  # Adam learning rate, generator and discriminator (EnCodec: 3e-4)
    betas: tuple[float, float] = (0.5, 0.9)  # Adam betas (EnCodec)
    schedule: str = "constant"  # learning-rate schedule of both optimizers over `steps`:
    # constant (EnCodec), cosine or inverse_sqrt (audiogen.train.schedules)
    warmup_steps: int = 0  # linear warm-up steps of the schedule (fresh Adam moments after
    # init_from move the weights hard at full rate)
    min_lr_ratio: float = 0.0  # cosine: the rate at `steps`, as a share of lr
    init_gain: float = 0.0  # >0: scale conv weights by it and zero conv biases at init
    # (audiogen.codec.conv.boost_init; sqrt(3) ~ 1.732 skips the early plateau); 0: torch init
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "adv": 4.0, "feat": 4.0, "l1": 0.1, "mel": 2.0})
    # balancer weights (v2); 0 drops a loss
    commitment_weight: float = 1.0  # RVQ commitment loss, outside the balancer (EnCodec: 1)
    disc_update_share: float = 2 / 3  # probability that a step also updates the discriminator
    adv_warmup_steps: int = 0  # first steps: the discriminator learns at every step, the
    # generator from its reconstruction losses only (an untrained discriminator's adversarial
    # and feature losses, 80% of the balanced gradient, would push the decoder at random)
    balancer_ema_decay: float = 0.999  # EMA decay of the balancer's gradient norms (EnCodec)
    steps: int = 10000  # total optimisation steps (a resumed run continues up to this)
    stop_at: int = 0  # stop early at this step (validate, checkpoint, export), every setting
    # still laid out over `steps`: train in slices, or compare runs at equal steps
    # --- bookkeeping ---
    checkpoint_every: int = 500  # steps between checkpoints (and one at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept
    validate_every: int = 500  # steps between validations (and one at the end); 0: never
    log_every: int = 10  # steps between metrics records
    export_dir: str = ""  # where the final model directory goes; "": RUN_DIR/model
    seed: int = 0  # seeds model init, crops and every step's randomness
    device: str = "auto"  # "cpu", "cuda" or "auto"
    num_threads: int = 0  # torch CPU threads per process; 0: torch's default
    precision: str = "fp32"  # "bf16": the codec's and discriminator's layers under bfloat16
    # autocast on CUDA (quantizer, losses, weights and optimizer stay float32); CPUs run fp32

    def codec_config(self) -> CodecConfig:
        """The preset with `codec` applied; with `init_from`, that codec's config, of which
        `codec` may change only the decoder (`decoder`, `vocos`)."""
        base = (Codec.read_config(self.init_from) if self.init_from
                else codec_preset(self.preset))
        changes = dict(self.codec)
        if changes.get("decoder") == "seanet":  # back to SEANet: no Vocos settings
            changes.setdefault("vocos", None)
        try:
            config = dataclasses.replace(base, **changes)
        except (ValueError, TypeError) as e:
            raise AudiogenError(f"codec settings: {e}") from e
        if self.init_from:
            fixed = [k for k, v in config.to_dict().items()
                     if k not in DECODER_SETTINGS and v != base.to_dict()[k]]
            if fixed:
                raise AudiogenError(
                    f"codec settings {', '.join(fixed)}: init_from={self.init_from} fixes the "
                    f"encoder and codebooks; only codec.decoder and codec.vocos may change.")
        return config


class CodecTrainer:
    """Args:
        config: the training configuration.
        run_dir: checkpoints, metrics and the exported model go here; a run directory with
            checkpoints is resumed from its newest one.
    """

    def __init__(self, config: CodecTrainConfig, run_dir: str | Path):
        self.config = c = config
        self.run_dir = Path(run_dir)
        if c.num_threads > 0:
            torch.set_num_threads(c.num_threads)
        self.device = distributed.init(c.device)
        # autocast dtype: CUDA only (a test may force it on a CPU)
        self.amp_dtype = PRECISIONS.get(c.precision) if self.device.type == "cuda" else None
        self.rank, self.world = distributed.rank(), distributed.world_size()
        if c.batch_size % self.world:
            raise AudiogenError(f"batch_size {c.batch_size} (global) must be a multiple of the "
                                f"number of processes ({self.world}).")
        self.local_batch = c.batch_size // self.world
        if not 0 <= c.disc_update_share <= 1:
            raise AudiogenError("disc_update_share must be between 0 and 1.")
        if c.schedule not in SCHEDULES:
            raise AudiogenError(f"schedule must be one of {SCHEDULES}, got {c.schedule!r}.")
        if c.precision not in PRECISIONS:
            raise AudiogenError(f"precision must be one of {tuple(PRECISIONS)}, got "
                                f"{c.precision!r}.")
        self.weights = {k: float(w) for k, w in c.loss_weights.items() if w > 0}
        unknown = set(self.weights) - {"adv", "feat", "l1", "mel"}
        if unknown or not self.weights:
            raise AudiogenError(f"loss_weights: need positive weights among adv, feat, l1, mel; "
                                f"got {c.loss_weights}.")
        self.adversarial = bool({"adv", "feat"} & set(self.weights))

        torch.manual_seed(c.seed)  # identical initial weights on every process
        if c.init_from:
            self.codec = self._codec_from(c.init_from).to(self.device)
            # the base codec's own training record (or its path), for this run's provenance
            self._base_record = (CODEC_FILES.read_meta(c.init_from).get("trained_by")
                                 or str(c.init_from))
        else:
            self.codec = Codec(c.codec_config()).to(self.device)
            if c.init_gain > 0:
                boost_init(self.codec, c.init_gain)
        if c.train_decoder_only:
            if not c.init_from:
                raise AudiogenError("train_decoder_only needs init_from=CODEC_DIR: the frozen "
                                    "encoder and codebooks must come from a trained codec.")
            self.codec.encoder.requires_grad_(False)
            self.codec.quantizer.requires_grad_(False)
        self.disc = MultiScaleSTFTDiscriminator(
            DiscriminatorConfig(filters=c.disc_filters, n_ffts=list(c.disc_n_ffts))
        ).to(self.device)
        distributed.broadcast_module(self.codec)
        distributed.broadcast_module(self.disc)
        trained = [p for p in self.codec.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(trained, lr=c.lr, betas=tuple(c.betas))
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=c.lr, betas=tuple(c.betas))
        self.balancer = Balancer(self.weights, ema_decay=c.balancer_ema_decay)
        self.mel_loss = MultiScaleMelLoss(self.codec.sample_rate).to(self.device)

        self.segment = round(c.segment_seconds * self.codec.sample_rate)
        self.train_crops, self.valid_crops, self.unreadable = self._data()
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", c.keep_checkpoints)
        self.step = 0
        self.cpu_seconds = 0.0  # process CPU time spent in training steps, over resumes
        self._valid_batch: torch.Tensor | None = None

    def _codec_from(self, directory: str) -> Codec:
        """The codec in `directory`, loaded whole, or with a new decoder when this run's
        config asks for another: then its encoder and quantizer (codebooks included) are
        copied exactly and the decoder starts from a fresh initialisation."""
        base, config = Codec.load(directory), self.config.codec_config()
        if config == base.config:
            return base
        codec = Codec(config)
        codec.encoder.load_state_dict(base.encoder.state_dict(), strict=True)
        codec.quantizer.load_state_dict(base.quantizer.state_dict(), strict=True)
        return codec

    # --- data ---
    def _data(self) -> tuple[WeightedCrops, RandomCrops, int]:
        """Training crops from every source of `data` (by weight), validation crops from their
        held-out rows (or `valid_data`); returns them with the count of unreadable files."""
        c = self.config
        sr, bad = self.codec.sample_rate, 0
        train, valid = [], []
        for source in parse_sources(c.data):
            is_manifest = Path(source.path).is_file()
            files, unreadable = find_audio(source.path, split="train" if is_manifest else None)
            if not files:
                raise AudiogenError(f"{source.path}: no readable audio files"
                                    + (" in the 'train' split." if is_manifest else "."))
            train.append((source, RandomCrops(files, sr, self.segment, c.seed)))
            bad += unreadable
            if is_manifest and not c.valid_data:
                valid += find_audio(source.path, split="valid")[0]
        if c.valid_data:
            files, unreadable = find_audio(c.valid_data, split="valid"
                                           if Path(c.valid_data).is_file() else None)
            valid, bad = files, bad + unreadable
        self.valid_is_held_out = bool(valid)
        weights = None if train[0][0].weight is None else [s.weight for s, _ in train]
        crops = WeightedCrops([(s.name, r) for s, r in train], weights, c.seed)
        return (crops, RandomCrops(valid or crops.files, sr, self.segment, c.seed), bad)

    def _local_indices(self) -> range:
        return range(self.rank * self.local_batch, (self.rank + 1) * self.local_batch)

    # --- one step ---
    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                              enabled=self.amp_dtype is not None)

    def _discriminate(self, wav: torch.Tensor) -> tuple[list[torch.Tensor],
                                                         list[list[torch.Tensor]]]:
        """The discriminator's logits and feature maps of wav [b, 1, T], in float32 (the
        losses are computed in float32 whatever the precision of its layers)."""
        with self._autocast():
            logits, fmaps = self.disc(wav)
        return [t.float() for t in logits], [[t.float() for t in f] for f in fmaps]

    def train_step(self) -> dict[str, float]:
        """One optimisation step on the batch of step `self.step`; returns local metrics."""
        c, step = self.config, self.step
        torch.manual_seed(derive_seed(c.seed, "step", step, self.rank))
        x = self.train_crops.batch(step, self._local_indices()).to(self.device)
        self.codec.train()
        if c.train_decoder_only:  # eval mode: no codebook updates, no straight-through
            self.codec.encoder.eval()
            self.codec.quantizer.eval()
        self.disc.train()
        with self._autocast():
            out = self.codec(x)
        y = out.audio.float()
        metrics: dict[str, float] = dict(out.metrics)  # numbers the host knows already
        metrics["lr"] = self._set_lr(step)
        losses: dict[str, torch.Tensor] = {}  # read once, with the balancer's metrics

        warming = step < c.adv_warmup_steps
        update_disc = self.adversarial and (
            warming or host_uniform(c.seed, "disc", step) < c.disc_update_share)
        if update_disc:
            self.disc.requires_grad_(True)
            logits_fake, _ = self._discriminate(y.detach())
            logits_real, _ = self._discriminate(x)
            d_loss = hinge_discriminator(logits_fake, logits_real)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            distributed.sync_gradients(self.disc.parameters())
            # a non-finite loss is found by the step's one read, before the generator's
            # update; the run stops there, so this update is never saved
            self.opt_d.step()
            losses["d/hinge"] = d_loss.detach()

        balanced = {"l1": l1_time(y, x), "mel": self.mel_loss(y, x)}
        if self.adversarial and not warming:
            self.disc.requires_grad_(False)  # only d(loss)/dy is needed through D
            logits_fake, fmaps_fake = self._discriminate(y)
            with torch.no_grad():
                _, fmaps_real = self._discriminate(x)
            balanced["adv"] = hinge_generator(logits_fake)
            balanced["feat"] = relative_feature_matching(fmaps_fake, fmaps_real)
        commitment = out.commitment_loss
        self.opt_g.zero_grad(set_to_none=True)
        others = self.balancer.backward(
            {k: v for k, v in balanced.items() if k in self.weights}, y,
            other_loss=c.commitment_weight * commitment)
        losses.update({f"g/{k}": v.detach() for k, v in balanced.items()})
        losses["g/commitment"] = commitment.detach()
        metrics.update(self._read(losses, others))
        distributed.sync_gradients(self.codec.parameters())
        self.opt_g.step()
        return metrics

    def _set_lr(self, step: int) -> float:
        """Both optimizers' rate for `step`: a function of the step alone, so resuming needs no
        scheduler state."""
        c = self.config
        lr = c.lr * lr_factor(step, c.schedule, c.warmup_steps, c.steps, c.min_lr_ratio)
        for group in (*self.opt_g.param_groups, *self.opt_d.param_groups):
            group["lr"] = lr
        return lr

    def _read(self, losses: dict[str, torch.Tensor], others: dict[str, torch.Tensor]
              ) -> dict[str, float]:
        """The step's one host read: the losses, the other metrics and the number of
        non-finite losses over all processes, in one transfer. Raises NonFiniteLoss if a loss
        is NaN or infinite on any process."""
        values = torch.stack([v.double() for v in losses.values()])
        bad = distributed.all_reduce_sum_(torch.isfinite(values).logical_not().sum(0, True))
        read = torch.cat([bad.double(), values,
                          torch.stack([v.double() for v in others.values()])]).tolist()
        named = dict(zip([*losses, *others], read[1:]))
        if read[0] > 0:
            local = [k for k in losses if not math.isfinite(named[k])]
            raise NonFiniteLoss(f"non-finite loss at step {self.step + 1} "
                                f"({', '.join(local) or 'on another process'})")
        return named

    # --- validation ---
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """SI-SNR (dB) and mel distance of the fixed validation crops, in eval mode."""
        if self._valid_batch is None:
            self._valid_batch = self.valid_crops.batch("valid", range(self.config.valid_clips))
        self.codec.eval()
        snrs, dists = [], []
        for chunk in self._valid_batch.split(max(1, self.local_batch)):
            chunk = chunk.to(self.device)
            y = self.codec.decode(self.codec.encode(chunk))[..., :chunk.shape[-1]]
            snrs.append(si_snr(y, chunk))
            dists.append(mel_distance(y, chunk, self.codec.sample_rate))
        return {"si_snr_db": torch.cat(snrs).mean().item(),
                "mel_distance": torch.cat(dists).mean().item()}

    # --- checkpoints ---
    def save_checkpoint(self) -> Path | None:
        if not distributed.is_main():
            return None
        c = self.config

        def write(directory: Path) -> None:
            self.codec.save(directory, extra={"trained_by": self._provenance()})
            save_weights(directory / "discriminator.safetensors", self.disc)
            save_state(directory / "train_state.pt", {
                "step": self.step, "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "balancer": self.balancer.state_dict(),
                "skipped_files": self.train_crops.skipped, "cpu_seconds": self.cpu_seconds})
            write_json(directory / "train_config.json", config_to_dict(c))

        return self.checkpoints.save(self.step, write)

    def load_checkpoint(self, directory: Path) -> None:
        """Restore the run from a checkpoint. Every file is read before any state changes, so
        a damaged one (DamagedFileError) leaves this trainer as it was (see `resume`)."""
        saved = read_json(directory / "codec.json").get("config")
        codec = read_weights(directory / "codec.safetensors", self.device)
        disc = read_weights(directory / "discriminator.safetensors", self.device)
        state = load_state(directory / "train_state.pt", map_location=self.device)
        if saved != self.codec.config.to_dict():
            raise AudiogenError(f"{directory}: the checkpoint's codec config differs from this "
                                "run's (preset / codec settings); use a new run directory.")
        self.codec.load_state_dict(codec, strict=True)
        self.disc.load_state_dict(disc, strict=True)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.balancer.load_state_dict(state["balancer"])
        self.train_crops.skipped = int(state["skipped_files"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))  # absent before it was kept
        self.step = int(state["step"])

    def export_path(self) -> Path:
        """Where the final model directory goes."""
        return loop.export_path(self.config.export_dir, self.run_dir)

    def export(self) -> Path:
        """Write the model directory (codec.json + codec.safetensors) of the current weights."""
        return loop.export_model(self.export_path(), lambda out: self.codec.save(
            out, extra={"trained_by": self._provenance()}))

    def _stop(self, error: NonFiniteLoss) -> AudiogenError:
        """Save the weights before the failed step and return the error that ends the run.

        The failed step's forward pass has already moved the codebooks' EMA (and perhaps the
        discriminator) with its batch; resuming repeats that batch. Should that have left a
        weight non-finite, nothing is saved: the newest checkpoint stays the one to resume."""
        weights = [*self.codec.state_dict().values(), *self.disc.state_dict().values()]
        if all(torch.isfinite(w).all() for w in weights if w.is_floating_point()):
            saved = self.save_checkpoint() or self.checkpoints.path(self.step)
            distributed.barrier()
            return loop.non_finite_stop(error, self.step, saved, NON_FINITE_ADVICE)
        return AudiogenError(
            f"{error}: stopped with non-finite weights, not saved; resuming continues from the "
            f"newest checkpoint ({self.checkpoints.latest() or 'none: the run starts over'}), "
            f"so {NON_FINITE_ADVICE} or check the data.")

    def _provenance(self) -> dict[str, Any]:
        c = self.config
        made = {"trainer": "audiogen train codec", "step": self.step, "data": c.data,
                "batch_size": c.batch_size, "segment_seconds": c.segment_seconds}
        if c.init_from:  # what this run started from, so a model's history stays whole
            made.update(init_from=self._base_record, train_decoder_only=c.train_decoder_only)
        return made

    # --- the loop ---
    def train(self, show_progress: bool = True) -> dict[str, float]:
        """Resume if possible, train up to `steps` (or `stop_at`), validate, checkpoint, export.

        Returns the last validation metrics (empty if validation is off)."""
        c = self.config
        logger = loop.resume_and_open_log(self.checkpoints, self.load_checkpoint,
                                          lambda: self.step, self.run_dir, c.steps,
                                          show_progress)
        if distributed.is_main():
            write_json(self.run_dir / "train_config.json", config_to_dict(c))
        logger.write(f"codec: {sum(p.numel() for p in self.codec.parameters()) / 1e6:.2f}M "
                     f"parameters, {self.codec.bitrate / 1000:.2f} kbps; "
                     f"{len(self.train_crops.files)} training files "
                     f"({self._describe_sources()}) "
                     f"({self.unreadable} unreadable skipped); {self.world} process(es), "
                     f"global batch {c.batch_size}; validation on "
                     + ("held-out clips" if self.valid_is_held_out else "training crops"))
        valid: dict[str, float] = {}
        window: list[dict[str, float]] = []
        end = loop.end_step(c.steps, c.stop_at)
        try:
            while self.step < end:
                start, cpu_start = time.perf_counter(), time.process_time()
                metrics = self.train_step()
                metrics["step_time_s"] = time.perf_counter() - start
                self.cpu_seconds += time.process_time() - cpu_start
                window.append(metrics)
                self.step += 1
                logger.progress(1, {"mel": metrics["g/mel"]})
                last = self.step == end
                if loop.due(self.step, c.log_every, last):
                    logger.log("train", self.step, self._summarise(window))
                    window = []
                if loop.due(self.step, c.validate_every, last) and distributed.is_main():
                    valid = self.validate()
                    logger.log("valid", self.step, valid)
                    logger.write(f"step {self.step}: SI-SNR {valid['si_snr_db']:.2f} dB, "
                                 f"mel distance {valid['mel_distance']:.4f}")
                if loop.due(self.step, c.checkpoint_every, last):
                    self.save_checkpoint()
                    distributed.barrier()
        except NonFiniteLoss as e:
            raise self._stop(e) from None
        finally:
            logger.close()
        self.export()
        return valid

    def _describe_sources(self) -> str:
        crops = self.train_crops
        return ", ".join(f"{name}: share {float(w):.2f}"
                         for name, w in zip(crops.names, crops.weights))

    def _summarise(self, window: list[dict[str, float]]) -> dict[str, float]:
        """Mean of each metric over the steps since the last record (a metric such as d/hinge
        counts only the steps that have it), averaged over processes."""
        keys = sorted({k for m in window for k in m})
        local = {k: sum(m[k] for m in window if k in m) / sum(k in m for m in window)
                 for k in keys}
        local.update(self.train_crops.take_shares())
        summary = distributed.all_reduce_mean(local)
        summary["steps_per_s"] = 1 / summary["step_time_s"]
        summary["audio_s_per_s"] = (self.config.batch_size * self.config.segment_seconds
                                    * summary["steps_per_s"])
        summary["skipped_files"] = distributed.all_reduce_sum(self.train_crops.skipped)
        summary["cpu_s"] = self.cpu_seconds  # cumulative, this process: compares runs on a
        # shared machine, where wall time depends on what else runs
        return summary
