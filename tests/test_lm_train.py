"""LM trainer: overfitting, exact resume, non-finite loss, the audio + mixing path, export."""

from __future__ import annotations

import math

import pytest
import torch
from lm_train_data import make_cache, make_codec, make_corpus, tiny_config
from safetensors.torch import load_file

from audiogen.errors import AudiogenError
from audiogen.lm import AudioLM
from audiogen.train.checkpoint import load_state
from audiogen.train.lm_config import load_config
from audiogen.train.lm_trainer import LMTrainer
from audiogen.train.metrics import read_metrics


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_corpus")
    manifest = make_corpus(root, clips=6, valid=2)
    codec = make_codec(root)
    return {"manifest": manifest, "codec": codec, "cache": make_cache(root, manifest, codec)}


def _train(config, run_dir):
    trainer = LMTrainer(config, run_dir)
    trainer.train(show_progress=False)
    return trainer


def test_tiny_lm_overfits_four_clips(corpus, tmp_path):
    """4 training clips of 1 s (200 tokens each), batch 4: train CE falls from ln(16) = 2.77
    nats to below 0.1 in 200 steps (measured 0.011)."""
    config = tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]), steps=200,
                         schedule="constant", warmup_steps=10, log_every=25, ema=False)
    _train(config, tmp_path / "run")
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl", "train")
    assert rows[0]["ce"] > 1.5
    assert rows[-1]["ce"] < 0.1, [r["ce"] for r in rows]
    assert rows[-1]["ppl/q0"] < 1.2 and rows[-1]["tokens_per_step"] == 4 * 4 * 50
    assert rows[-1]["tokens_per_s"] > 0


def test_resume_equals_uninterrupted_run(corpus, tmp_path):
    """Stop after 3 steps, resume to 6: weights, EMA, optimizer and logged losses equal an
    uninterrupted 6-step run exactly (accumulation, dropout and EMA all in play)."""
    config = tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]), steps=6,
                         checkpoint_every=3, grad_accum=2, ema_every=2, ema_decay=0.5,
                         lm={**tiny_config().lm, "cfg_dropout": 0.3, "dropout": 0.1})
    _train(config, tmp_path / "full")
    _train(tiny_config(**{**config.__dict__, "steps": 3}), tmp_path / "split")
    resumed = _train(config, tmp_path / "split")
    assert resumed.step == 6
    a, b = (tmp_path / r / "checkpoints" / "step_00000006" for r in ("full", "split"))
    for name in ("lm.safetensors", "ema.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    sa, sb = load_state(a / "train_state.pt"), load_state(b / "train_state.pt")
    for key, state in sa["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg_sq"], sb["optimizer"]["state"][key]["exp_avg_sq"])
    assert sa["scheduler"] == sb["scheduler"] and sb["micro_batches"] == 12
    la = [r["ce"] for r in read_metrics(tmp_path / "full" / "metrics.jsonl", "train")]
    lb = [r["ce"] for r in read_metrics(tmp_path / "split" / "metrics.jsonl", "train")]
    assert la == lb and len(la) == 6
    # the EMA differs from the live weights, and the export holds the EMA
    live, ema = load_file(str(a / "lm.safetensors")), load_file(str(a / "ema.safetensors"))
    exported = load_file(str(tmp_path / "full" / "model" / "lm.safetensors"))
    key = "heads.0.weight"
    assert not torch.equal(live[key], ema[key]) and torch.equal(exported[key], ema[key])


def test_stop_at_trains_in_slices_on_the_whole_runs_schedule(corpus, tmp_path):
    """`stop_at` stops (checkpoint + export) early without shortening the cosine schedule, so
    slices of 2 + 2 steps end with the weights of one 4-step run, unlike a run of `steps=2`."""
    config = tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]), steps=4,
                         schedule="cosine", warmup_steps=1, ema=False)
    _train(config, tmp_path / "full")
    first = _train(tiny_config(**{**config.__dict__, "stop_at": 2}), tmp_path / "sliced")
    assert first.step == 2 and (tmp_path / "sliced" / "model" / "lm.safetensors").is_file()
    short = _train(tiny_config(**{**config.__dict__, "steps": 2}), tmp_path / "short")
    assert first.scheduler.get_last_lr() != short.scheduler.get_last_lr()
    _train(config, tmp_path / "sliced")
    a, b = (load_file(str(tmp_path / r / "checkpoints" / "step_00000004" / "lm.safetensors"))
            for r in ("full", "sliced"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_on_the_audio_path_repeats_the_uninterrupted_run(corpus, tmp_path):
    """Manifest path (a loader process, mixing, condition dropout): stopped at step 3 and
    resumed, the losses equal an uninterrupted run's (the loader's iterator starts at step 3
    on resume and draws from the global RNG, which must not shift the dropout draws)."""
    config = tiny_config(manifest=str(corpus["manifest"]), codec=str(corpus["codec"]), steps=6,
                         lm={"cfg_dropout": 0.3}, mixing={"prob": 0.5}, batch_size=2,
                         segment_seconds=0.5, num_workers=1, checkpoint_every=3)
    _train(config, tmp_path / "full")
    _train(tiny_config(**{**config.__dict__, "stop_at": 3}), tmp_path / "split")
    _train(config, tmp_path / "split")
    la, lb = ([r["ce"] for r in read_metrics(tmp_path / run / "metrics.jsonl", "train")]
              for run in ("full", "split"))
    assert la == lb and len(la) == 6


def test_non_finite_loss_saves_a_checkpoint_and_stops(corpus, tmp_path, monkeypatch):
    original = AudioLM.compute_loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        loss, metrics = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # the third step
            return loss * math.nan, {**metrics, "ce": math.nan}
        return loss, metrics

    monkeypatch.setattr(AudioLM, "compute_loss", poisoned)
    config = tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]), steps=10)
    trainer = LMTrainer(config, tmp_path / "run")
    with pytest.raises(AudiogenError, match="non-finite loss at step 3.*step_00000002"):
        trainer.train(show_progress=False)
    saved = tmp_path / "run" / "checkpoints" / "step_00000002"
    weights = load_file(str(saved / "lm.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (tmp_path / "run" / "model").exists()


def test_audio_path_with_mixing_survives_bad_files(corpus, tmp_path):
    """Manifest path: segments are mixed, encoded by the codec and captioned by the real
    MiniLM; a corrupt file and a vanished one are skipped and counted, not fatal; the
    exported directory loads with AudioGen.from_pretrained and generates."""
    import json

    from audiogen.api import AudioGen

    rows = [json.loads(line) for line in corpus["manifest"].read_text().splitlines()]
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    rows += [{**rows[0], "path": str(bad)}, {**rows[0], "path": str(tmp_path / "gone.wav")}]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tiny_config(manifest=str(manifest), codec=str(corpus["codec"]), steps=3,
                         lm={"cfg_dropout": 0.1}, mixing={"prob": 1.0}, batch_size=2,
                         validate_every=3, segment_seconds=0.5, num_workers=1)
    trainer = _train(config, tmp_path / "run")
    assert trainer.data.load == 4  # 4 clips read, mixed into 2
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    train = [r for r in metrics if r["split"] == "train"]
    assert train[-1]["skipped_files"] >= 1 and all(math.isfinite(r["ce"]) for r in train)
    assert [r["step"] for r in metrics if r["split"] == "valid"] == [3]
    model = AudioGen.from_pretrained(tmp_path / "run" / "model", device="cpu")
    assert model.config.window == 0.5 and model.config.stride == 0.25
    wav, sr = model.generate(["a low hum"], duration=0.3, seed=1)
    assert sr == 16000 and wav.shape == (1, 1, 4800) and torch.isfinite(wav).all()


def test_run_saves_its_full_config_beside_every_checkpoint(corpus, tmp_path):
    config = tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]), steps=2,
                         checkpoint_every=1, keep_checkpoints=1)
    _train(config, tmp_path / "run")
    steps = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert steps == ["step_00000002"]  # keep the last 1
    for path in (tmp_path / "run" / "train_config.yaml",
                 tmp_path / "run" / "checkpoints" / "step_00000002" / "train_config.yaml"):
        text = path.read_text()
        assert "# AdamW peak learning rate" in text and "# --- optimisation ---" in text
        assert load_config(path) == config


def test_bad_settings_are_reported(corpus, tmp_path):
    with pytest.raises(AudiogenError, match="multiple of processes x grad_accum"):
        LMTrainer(tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]),
                              batch_size=3, grad_accum=2), tmp_path / "a")
    with pytest.raises(AudiogenError, match="too few"):
        LMTrainer(tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]),
                              batch_size=8), tmp_path / "b")
    with pytest.raises(AudiogenError, match="expects 4 x 2048"):
        LMTrainer(tiny_config(cache=str(corpus["cache"]), codec=str(corpus["codec"]),
                              preset="small"), tmp_path / "c")
