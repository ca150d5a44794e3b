"""LM training under `torchrun --nproc_per_node 2` (gloo on CPU), DDP and FSDP, matches one
process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from lm_train_data import make_cache, make_codec, make_corpus, tiny_config
from safetensors.torch import load_file

from audiogen.train.config_file import config_to_yaml
from audiogen.train.metrics import read_metrics

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
CLI = ["-m", "audiogen", "train", "lm", "--config", "lm.yaml", "--no-progress"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2"]


def _run(args, cwd):
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300,
                            env=ENV, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process, global batch 4 as 4 accumulated micro-batches of 1; 4 steps (the two
    processes below each accumulate 2 of them: the gradient sync is skipped on the first)."""
    root = tmp_path_factory.mktemp("lm_ddp")
    manifest = make_corpus(root, clips=10, valid=2)
    codec = make_codec(root)
    cache = make_cache(root, manifest, codec)
    config = tiny_config(cache=str(cache), codec=str(codec), steps=4, checkpoint_every=2,
                         validate_every=4, num_threads=1)
    (root / "lm.yaml").write_text(config_to_yaml(config))
    _run([sys.executable, *CLI, "--out", "one", "grad_accum=4"], root)
    return root


def _compare(root, run):
    """Same losses per step and same final weights and EMA as the single process, to float
    rounding (the processes sum the gradients in another order)."""
    one, two = (read_metrics(root / r / "metrics.jsonl") for r in ("one", run))
    assert [(r["split"], r["step"]) for r in two] == [(r["split"], r["step"]) for r in one]
    assert [r["step"] for r in one] == [1, 2, 3, 4, 4]
    for a, b in zip(one, two):
        assert a["ce"] == pytest.approx(b["ce"], rel=1e-5, abs=1e-6), (a, b)
    for name in ("lm.safetensors", "ema.safetensors"):
        wa, wb = (load_file(str(root / r / "checkpoints" / "step_00000004" / name))
                  for r in ("one", run))
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5, msg=k)
    assert (root / run / "model" / "lm.json").is_file()


@pytest.mark.slow
def test_ddp_two_processes_match_one(single):
    out = _run([*TORCHRUN, *CLI, "--out", "ddp", "grad_accum=2"], single)
    assert "2 process(es) x 2 micro-batch(es) of 1 = global batch 4" in out
    _compare(single, "ddp")


@pytest.mark.slow
def test_fsdp_two_processes_match_one_across_a_resume(single):
    """FSDP shards weights and optimizer state; checkpoints hold whole tensors. Stop after 2
    steps and resume to 4 (loading whole tensors back into the shards)."""
    fsdp = [*TORCHRUN, *CLI, "--out", "fsdp", "parallel=fsdp", "grad_accum=2"]
    _run([*fsdp, "steps=2"], single)
    out = _run(fsdp, single)
    assert "resumed from" in out
    rows = read_metrics(single / "fsdp" / "metrics.jsonl")
    (single / "fsdp" / "metrics.jsonl").write_text(  # drop the first run's final validation
        "".join(json.dumps(r) + "\n" for r in rows
                if not (r["split"] == "valid" and r["step"] == 2)))
    _compare(single, "fsdp")
