"""LM training from several sources (token caches or manifests) with weights: shares per source
in the metrics, exact resume, the draws a function of the key only."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from lm_train_data import make_cache, make_codec, make_corpus, tiny_config
from safetensors.torch import load_file

from audiogen.data.dataset import AudioSegmentDataset, SegmentConfig
from audiogen.data.weighted import ConcatKeyed, WeightedDatasets
from audiogen.errors import AudiogenError
from audiogen.train.lm_trainer import LMTrainer
from audiogen.train.metrics import read_metrics


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_sources")
    first = make_corpus(root / "first", clips=6, valid=2)
    second = make_corpus(root / "second", clips=4, valid=1, seconds=2.0)
    codec = make_codec(root)
    return {"manifests": (first, second), "codec": codec,
            "caches": (make_cache(root / "first", first, codec),
                       make_cache(root / "second", second, codec))}


def _train(config, run_dir):
    trainer = LMTrainer(config, run_dir)
    trainer.train(show_progress=False)
    return trainer


def test_weighted_datasets_draw_by_weight_and_key(two_sources):
    seg = SegmentConfig(segment_seconds=1.0)
    a, b = (AudioSegmentDataset(m, seg, split="train") for m in two_sources["manifests"])
    mixed = WeightedDatasets([("a", a), ("b", b)], [0.1, 0.9], seed=3)
    assert len(mixed) == len(a) + len(b)
    sources = [mixed.locate((0, i))[0] for i in range(2000)]
    assert abs(np.mean(sources) - 0.9) < 0.03
    assert mixed.locate((4, 7)) == mixed.locate((4, 7))
    item = mixed[(1, 5)]
    assert torch.equal(item["wav"], mixed[(1, 5)]["wav"]) and item["source"] in (0, 1)
    # by hours: 4 s of the first source's train split, 6 s of the second's
    by_hours = WeightedDatasets([("a", a), ("b", b)])
    assert np.allclose(by_hours.weights, [0.4, 0.6])
    both = ConcatKeyed([a, b])
    assert len(both) == len(a) + len(b) and both[(0, len(a))]["source"] == 1
    with pytest.raises(IndexError):
        both[(0, len(both))]


def test_two_caches_with_weights_report_shares_and_resume_exactly(two_sources, tmp_path):
    first, second = (str(c) for c in two_sources["caches"])
    config = tiny_config(cache=f"{first}:0.25,{second}:0.75", codec=str(two_sources["codec"]),
                         steps=6, checkpoint_every=3, log_every=6, validate_every=6)
    _train(config, tmp_path / "full")
    rows = read_metrics(tmp_path / "full" / "metrics.jsonl", "train")
    shares = {k: v for k, v in rows[-1].items() if k.startswith("data/share/")}
    assert set(shares) == {"data/share/first/cache", "data/share/second/cache"}
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert read_metrics(tmp_path / "full" / "metrics.jsonl", "valid")
    _train(tiny_config(**{**config.__dict__, "steps": 3}), tmp_path / "split")
    _train(config, tmp_path / "split")
    a, b = (tmp_path / r / "checkpoints" / "step_00000006" / "lm.safetensors"
            for r in ("full", "split"))
    wa, wb = load_file(str(a)), load_file(str(b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_two_manifests_by_hours(two_sources, tmp_path):
    first, second = (str(m) for m in two_sources["manifests"])
    config = tiny_config(manifest=f"{first},{second}", codec=str(two_sources["codec"]),
                         steps=2, log_every=2, mixing={"enabled": False}, lm={"cfg_dropout": 0.0})
    _train(config, tmp_path / "run")
    row = read_metrics(tmp_path / "run" / "metrics.jsonl", "train")[-1]
    assert sum(v for k, v in row.items() if k.startswith("data/share/")) == pytest.approx(1)


def test_sources_need_all_or_no_weights(two_sources, tmp_path):
    first, second = (str(c) for c in two_sources["caches"])
    with pytest.raises(AudiogenError, match="every source or to none"):
        LMTrainer(tiny_config(cache=f"{first}:1,{second}", codec=str(two_sources["codec"])),
                  tmp_path / "run")


def test_one_source_is_unchanged(two_sources, tmp_path):
    """A single source reads the same batches whether or not it is written as a list."""
    cache = str(two_sources["caches"][0])
    codec = str(two_sources["codec"])
    _train(tiny_config(cache=cache, codec=codec, steps=2), tmp_path / "plain")
    _train(tiny_config(cache=f"{cache},", codec=codec, steps=2), tmp_path / "listed")
    la, lb = (read_metrics(tmp_path / r / "metrics.jsonl", "train") for r in ("plain", "listed"))
    assert [r["ce"] for r in la] == [r["ce"] for r in lb]
    shutil.rmtree(tmp_path / "plain")
