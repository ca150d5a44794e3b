"""Codec trainer: data crops, checkpoints, exact resume, overfitting one clip."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.codec import Codec
from audiogen.data.audio_crops import RandomCrops, find_audio
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.errors import AudiogenError
from audiogen.fileio import read_json
from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer
from audiogen.train.loop import NonFiniteLoss
from audiogen.train.metrics import read_metrics

SR = 16000
# A tiny codec and discriminator so that a training step takes well under a second.
TINY = {"n_filters": 4, "ratios": [4, 2], "dimension": 8, "lstm_layers": 0, "n_q": 2, "bins": 16}


def write_clip(path, seconds=1.0, sr=SR, freq=330.0, seed=0):
    t = np.arange(int(sr * seconds)) / sr
    noise = np.random.RandomState(seed).randn(len(t))
    x = (0.4 * np.sin(2 * math.pi * freq * t) + 0.05 * noise) * np.exp(-1.5 * t)
    sf.write(str(path), x.astype(np.float32), sr)
    return path


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    write_clip(d / "a.wav", 1.5)
    write_clip(d / "sub" / "b.flac", 0.7, sr=22050, freq=880.0, seed=1)  # short, resampled
    (d / "broken.wav").write_bytes(b"RIFF....WAVEnot really")
    return d


def tiny_config(data, **kw):
    base = {"data": str(data), "codec": dict(TINY), "disc_filters": 4, "batch_size": 2,
            "segment_seconds": 0.25, "valid_clips": 2, "steps": 4, "checkpoint_every": 2,
            "validate_every": 2, "log_every": 1, "seed": 3}
    base.update(kw)
    return CodecTrainConfig(**base)


def state_of(trainer):
    return {**{f"codec.{k}": v for k, v in trainer.codec.state_dict().items()},
            **{f"disc.{k}": v for k, v in trainer.disc.state_dict().items()}}


# --- data ------------------------------------------------------------------------------------

def test_folder_scan_skips_and_counts_unreadable(data_dir):
    files, bad = find_audio(data_dir)
    assert [f.path.split("/")[-1] for f in files] == ["a.wav", "b.flac"]
    assert bad == 1
    assert files[0].duration == pytest.approx(1.5)


def test_crops_are_reproducible_mono_and_padded(data_dir):
    files, _ = find_audio(data_dir)
    crops = RandomCrops(files, SR, 4000, seed=1)
    a = crops.batch(7, range(6))
    assert a.shape == (6, 1, 4000)
    assert torch.equal(a, RandomCrops(files, SR, 4000, seed=1).batch(7, range(6)))
    assert torch.equal(a[3:], crops.batch(7, range(3, 6)))  # an item depends only on its index
    assert not torch.equal(a, crops.batch(8, range(6)))
    long = RandomCrops(files[1:], SR, SR, seed=0).crop(0, 0)  # 0.7 s file, 1 s crop
    assert long.shape == (1, SR) and long[:, 11300:].abs().max() == 0


def test_vanished_file_in_manifest_is_skipped_and_counted(tmp_path, data_dir):
    manifest = write_manifest(tmp_path / "m.jsonl", [
        ManifestEntry(path=str(data_dir / "a.wav"), duration=1.5),
        ManifestEntry(path=str(tmp_path / "gone.wav"), duration=2.0)])
    files, _ = find_audio(manifest)
    crops = RandomCrops(files, SR, 1000, seed=0)
    batch = crops.batch(0, range(8))
    assert batch.shape == (8, 1, 1000) and crops.skipped > 0
    with pytest.raises(AudiogenError, match="could not be read"):
        RandomCrops(files[1:], SR, 1000).crop(0, 0)


# --- trainer ---------------------------------------------------------------------------------

def test_training_writes_checkpoints_metrics_and_model(tmp_path, data_dir):
    trainer = CodecTrainer(tiny_config(data_dir, keep_checkpoints=1), tmp_path / "run")
    valid = trainer.train(show_progress=False)
    assert set(valid) == {"si_snr_db", "mel_distance"} and math.isfinite(valid["mel_distance"])
    run = tmp_path / "run"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000004"]
    train_rows = read_metrics(run / "metrics.jsonl", "train")
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    for key in ("g/l1", "g/mel", "g/adv", "g/feat", "g/commitment", "step_time_s",
                "steps_per_s", "balancer/share/mel"):
        assert all(math.isfinite(r[key]) for r in train_rows), key
    assert any("d/hinge" in r for r in train_rows)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl", "valid")] == [2, 4]
    model = Codec.load(run / "model")
    for k, v in model.state_dict().items():
        assert torch.equal(v, trainer.codec.state_dict()[k]), k


def test_checkpoint_round_trip_is_bit_exact(tmp_path, data_dir):
    config = tiny_config(data_dir, steps=2, validate_every=0)
    trainer = CodecTrainer(config, tmp_path / "run")
    trainer.train(show_progress=False)
    restored = CodecTrainer(config, tmp_path / "run")
    restored.load_checkpoint(restored.checkpoints.latest())
    assert restored.step == 2
    ours, theirs = state_of(trainer), state_of(restored)
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), k
    for opt_a, opt_b in [(trainer.opt_g, restored.opt_g), (trainer.opt_d, restored.opt_d)]:
        for sa, sb in zip(opt_a.state.values(), opt_b.state.values()):
            assert all(torch.equal(sa[n], sb[n]) for n in sa)
    assert restored.balancer.state_dict() == trainer.balancer.state_dict()


def test_resume_equals_uninterrupted_training(tmp_path, data_dir):
    straight = CodecTrainer(tiny_config(data_dir, steps=5, checkpoint_every=100), tmp_path / "a")
    straight.train(show_progress=False)

    first = CodecTrainer(tiny_config(data_dir, steps=3, checkpoint_every=100), tmp_path / "b")
    first.train(show_progress=False)  # checkpoint at its last step, 3
    resumed = CodecTrainer(tiny_config(data_dir, steps=5, checkpoint_every=100), tmp_path / "b")
    resumed.train(show_progress=False)
    assert resumed.step == 5
    a, b = state_of(straight), state_of(resumed)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows_a = read_metrics(tmp_path / "a" / "metrics.jsonl", "train")
    rows_b = read_metrics(tmp_path / "b" / "metrics.jsonl", "train")
    assert [r["g/mel"] for r in rows_a] == [r["g/mel"] for r in rows_b]  # same loss curve


def test_resume_refuses_a_different_codec(tmp_path, data_dir):
    CodecTrainer(tiny_config(data_dir, steps=1, validate_every=0), tmp_path / "run").train(
        show_progress=False)
    other = tiny_config(data_dir, steps=2, codec=dict(TINY, n_q=3))
    with pytest.raises(AudiogenError, match="codec config differs"):
        CodecTrainer(other, tmp_path / "run").train(show_progress=False)


def test_bad_settings_are_clear_errors(tmp_path, data_dir):
    with pytest.raises(AudiogenError, match="no training data"):
        CodecTrainer(tiny_config(""), tmp_path / "r")
    with pytest.raises(AudiogenError, match="loss_weights"):
        CodecTrainer(tiny_config(data_dir, loss_weights={"typo": 1.0}), tmp_path / "r")
    with pytest.raises(AudiogenError, match="codec settings"):
        CodecTrainer(tiny_config(data_dir, codec={"n_filterz": 3}), tmp_path / "r")
    with pytest.raises(AudiogenError, match="no such folder or manifest"):
        CodecTrainer(tiny_config(tmp_path / "nowhere"), tmp_path / "r")
    with pytest.raises(AudiogenError, match=r"precision must be one of \('fp32', 'bf16'\)"):
        CodecTrainer(tiny_config(data_dir, precision="fp16"), tmp_path / "r")
    with pytest.raises(AudiogenError, match="schedule must be one of"):
        CodecTrainer(tiny_config(data_dir, schedule="linear"), tmp_path / "r")


def test_non_finite_loss_stops_before_the_generator_update(tmp_path, data_dir):
    trainer = CodecTrainer(tiny_config(data_dir), tmp_path / "run")
    trainer.train_step()
    trainer.mel_loss.forward = lambda y, x: (y - x).abs().mean() * float("nan")
    before = {k: v.clone() for k, v in trainer.codec.state_dict().items()
              if not k.startswith("quantizer.")}  # codebooks learn in the forward pass
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss at step 1 \(g/mel\)"):
        trainer.train_step()
    for key, value in before.items():
        assert torch.equal(trainer.codec.state_dict()[key], value), key


def test_overfit_one_clip_halves_mel_distance(tmp_path):
    """The small preset on one 1 s clip, at the recipe's lr (3e-4), reconstruction losses only
    (the discriminator would only slow this check down): 30 steps lower the multi-scale mel
    distance of that clip by more than half."""
    (tmp_path / "data").mkdir()
    write_clip(tmp_path / "data" / "clip.wav", 1.0)
    config = CodecTrainConfig(data=str(tmp_path / "data"), preset="small", batch_size=1,
                              steps=30, loss_weights={"l1": 0.1, "mel": 2.0, "adv": 0, "feat": 0},
                              valid_clips=1, validate_every=30, checkpoint_every=30)
    trainer = CodecTrainer(config, tmp_path / "run")
    before = trainer.validate()["mel_distance"]
    after = trainer.train(show_progress=False)["mel_distance"]
    assert after < 0.5 * before, (before, after)


def test_decoder_only_keeps_the_codes(data_dir, tmp_path):
    """Fine-tuning the decoder alone (adversarial losses on) leaves encoder, codebooks and so the
    codes unchanged, while the decoder moves."""
    first = CodecTrainer(tiny_config(data_dir, steps=2, loss_weights={"l1": 0.1, "mel": 2.0}),
                         tmp_path / "base")
    first.train(show_progress=False)
    base = Codec.load(tmp_path / "base" / "model")
    config = tiny_config(data_dir, steps=3, init_from=str(tmp_path / "base" / "model"),
                         train_decoder_only=True, disc_update_share=1.0,
                         disc_n_ffts=[64, 128])
    tuned = CodecTrainer(config, tmp_path / "tuned")
    assert len(tuned.disc.discriminators) == 2
    tuned.train(show_progress=False)
    after = Codec.load(tmp_path / "tuned" / "model")
    before_state, after_state = base.state_dict(), after.state_dict()
    for name, value in before_state.items():
        same = torch.equal(value, after_state[name])
        assert same == (not name.startswith("decoder.")), name
    wav = torch.randn(1, 1, SR // 2) * 0.1
    assert torch.equal(base.encode(wav), after.encode(wav))
    made = read_json(tmp_path / "tuned" / "model" / "codec.json")["trained_by"]
    assert made["step"] == 3 and made["train_decoder_only"] is True
    assert made["init_from"]["step"] == 2  # the base run's own record


def test_decoder_only_needs_a_trained_codec(data_dir, tmp_path):
    with pytest.raises(AudiogenError, match="init_from"):
        CodecTrainer(tiny_config(data_dir, train_decoder_only=True), tmp_path / "run")


def test_cosine_schedule_sets_both_rates_and_resumes_exactly(data_dir, tmp_path):
    """The rate is a function of the step alone: warm-up, then half a cosine down to
    min_lr_ratio * lr at `steps`, on the generator's and the discriminator's optimizer; a run
    interrupted under it resumes to the uninterrupted run's weights."""
    kw = {"steps": 5, "checkpoint_every": 100, "schedule": "cosine", "warmup_steps": 2,
          "min_lr_ratio": 0.1, "lr": 1e-3}
    straight = CodecTrainer(tiny_config(data_dir, **kw), tmp_path / "a")
    straight.train(show_progress=False)
    rates = [r["lr"] for r in read_metrics(tmp_path / "a" / "metrics.jsonl", "train")]
    cosine = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p / 3)) for p in (1, 2, 3)]
    assert rates == pytest.approx([5e-4, 1e-3, *(1e-3 * f for f in cosine)])
    assert [g["lr"] for g in straight.opt_d.param_groups] == pytest.approx([1e-4])

    CodecTrainer(tiny_config(data_dir, **kw, stop_at=3), tmp_path / "b").train(
        show_progress=False)
    resumed = CodecTrainer(tiny_config(data_dir, **kw), tmp_path / "b")
    resumed.train(show_progress=False)
    a, b = state_of(straight), state_of(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cpu_time_is_logged_and_survives_resume(data_dir, tmp_path):
    trainer = CodecTrainer(tiny_config(data_dir, steps=2), tmp_path / "run")
    trainer.train(show_progress=False)
    spent = trainer.cpu_seconds
    assert spent > 0
    resumed = CodecTrainer(tiny_config(data_dir, steps=4), tmp_path / "run")
    resumed.train(show_progress=False)
    records = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl")
               if r.get("split") == "train"]
    assert records[-1]["cpu_s"] > spent == pytest.approx(records[1]["cpu_s"])


def test_adversarial_warmup_trains_the_discriminator_first(data_dir, tmp_path):
    """During adv_warmup_steps the discriminator updates at every step and the generator sees
    no adversarial or feature loss; afterwards both come back."""
    trainer = CodecTrainer(tiny_config(data_dir, adv_warmup_steps=2, disc_update_share=0.0),
                           tmp_path / "run")
    first = [trainer.train_step() for trainer.step in range(3)]
    for m in first[:2]:
        assert "d/hinge" in m and "g/adv" not in m and "balancer/share/adv" not in m
    assert "d/hinge" not in first[2] and "g/adv" in first[2]  # share 0: no update after


def test_stop_at_trains_in_slices_that_repeat_the_whole_run(data_dir, tmp_path):
    """`stop_at` stops early (validation, checkpoint, export at that step); resuming the run
    without it reaches the uninterrupted run's weights and loss curve exactly."""
    straight = CodecTrainer(tiny_config(data_dir, steps=4, checkpoint_every=100), tmp_path / "a")
    straight.train(show_progress=False)
    first = CodecTrainer(tiny_config(data_dir, steps=4, stop_at=3, checkpoint_every=100),
                         tmp_path / "b")
    first.train(show_progress=False)
    assert first.step == 3 and (tmp_path / "b" / "checkpoints" / "step_00000003").is_dir()
    assert Codec.load(tmp_path / "b" / "model").config == first.codec.config
    valid = read_metrics(tmp_path / "b" / "metrics.jsonl", "valid")
    assert [r["step"] for r in valid] == [2, 3]
    resumed = CodecTrainer(tiny_config(data_dir, steps=4, checkpoint_every=100), tmp_path / "b")
    resumed.train(show_progress=False)
    a, b = state_of(straight), state_of(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    curve = [[r["g/mel"] for r in read_metrics(tmp_path / run / "metrics.jsonl", "train")]
             for run in ("a", "b")]
    assert curve[0] == curve[1] and len(curve[0]) == 4


def test_non_finite_loss_saves_a_checkpoint_and_stops(data_dir, tmp_path, monkeypatch):
    from audiogen.codec import losses

    calls = {"n": 0}
    original = losses.l1_time

    def poisoned(y, x):
        calls["n"] += 1
        return original(y, x) * (math.nan if calls["n"] == 3 else 1.0)  # the third step

    monkeypatch.setattr("audiogen.train.codec_trainer.l1_time", poisoned)
    trainer = CodecTrainer(tiny_config(data_dir, steps=10, checkpoint_every=100), tmp_path / "r")
    with pytest.raises(AudiogenError, match=r"non-finite loss at step 3 \(g/l1\): stopped\. "
                                            r"The weights before it are saved in .*step_00000002"):
        trainer.train(show_progress=False)
    saved = Codec.load(tmp_path / "r" / "checkpoints" / "step_00000002")
    assert all(torch.isfinite(w).all() for w in saved.state_dict().values())
    assert not (tmp_path / "r" / "model").exists()


def test_non_finite_weights_are_not_saved(data_dir, tmp_path, monkeypatch):
    """A step that leaves a weight NaN before its loss check writes no checkpoint: resuming
    goes back to the newest good one."""
    calls = {"n": 0}
    original = CodecTrainer.train_step

    def poisoned(self):
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                self.codec.quantizer.codebooks[0].embed.fill_(math.nan)
            self._read({"g/mel": torch.tensor(math.nan)}, {"x": torch.tensor(0.0)})
        return original(self)

    monkeypatch.setattr(CodecTrainer, "train_step", poisoned)
    trainer = CodecTrainer(tiny_config(data_dir, steps=10), tmp_path / "r")
    with pytest.raises(AudiogenError, match=r"non-finite weights, not saved; resuming continues "
                                            r"from the newest checkpoint \(.*step_00000002\)"):
        trainer.train(show_progress=False)
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == [
        "step_00000002"]
