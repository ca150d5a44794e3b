"""No host synchronisation on the hot paths, seen on a CPU with a dispatch-mode recorder
(tests/sync_detector.py): the fast decoder's loop, an LM training micro-batch, a codebook
update once initialised, the codec's gradient balancer; and one read of the device per LM
optimizer step, two per codec training step."""

from __future__ import annotations

import copy

import pytest
import torch
from lm_train_data import make_cache, make_codec, make_corpus, tiny_config
from sync_detector import SyncRecorder
from test_fast_generation import _cond, _lm

from audiogen.codec.quantizer import ResidualVectorQuantizer
from audiogen.generation import iter_decode
from audiogen.generation.fast import FastDecoder
from audiogen.lm.sampling import SamplingParams
from audiogen.train.lm_trainer import LMTrainer


@pytest.mark.parametrize("options", [{}, {"static": True}, {"cuda_graphs": True},
                                     {"dtype": torch.bfloat16, "act_dtype": torch.bfloat16}])
def test_fast_decode_loop_reads_nothing_back(options):
    fast = FastDecoder(copy.deepcopy(_lm()), **options)
    steps = iter_decode(fast, _cond(4), 12, guidance=3.0, sampling=SamplingParams(top_k=5),
                        generator=torch.Generator().manual_seed(0))
    next(steps)  # start() and the plan are set-up, not the loop
    with SyncRecorder() as recorder:
        for _ in steps:
            pass
    assert recorder.seen == []


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_syncs")
    manifest = make_corpus(root, clips=6, valid=2)
    codec = make_codec(root)
    cache = make_cache(root, manifest, codec)
    config = tiny_config(cache=str(cache), codec=str(codec), steps=10, grad_accum=2,
                         lm={**tiny_config().lm, "cfg_dropout": 0.3, "dropout": 0.1})
    return LMTrainer(config, root / "run")


def test_lm_micro_batches_read_nothing_and_the_step_reads_once(trainer, monkeypatch):
    trainer.train_step()  # warm-up: the data iterator starts, the optimizer state is made
    reads = []
    tolist = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda t: reads.append(t.shape) or tolist(t))
    # AdamW's step counters and a new epoch's DataLoader seed are CPU tensors on any device
    with SyncRecorder(ignore=("torch/optim/", "torch/utils/data/")) as recorder:
        metrics = trainer.train_step()
    assert recorder.seen == []
    assert len(reads) == 1  # metrics, gradient norm and non-finite flag together
    assert metrics["tokens"] == 4 * 4 * 50 and metrics["ce"] > 0


def test_codebooks_read_nothing_once_initialised():
    rvq = ResidualVectorQuantizer(8, n_q=2, bins=16, kmeans_iters=2,
                                  threshold_ema_dead_code=0).train()
    latent = torch.randn(2, 8, 40)
    rvq(latent)  # k-means on the first batch: reads the flag
    with SyncRecorder() as recorder:
        rvq(latent)
    assert recorder.seen == []
    state = rvq.state_dict()
    state["codebooks.0.inited"] = torch.zeros(1)
    rvq.load_state_dict(state)  # the flag is read again after a load
    before = rvq.codebooks[0].embed.clone()
    rvq(latent)
    assert not torch.equal(rvq.codebooks[0].embed, before)  # re-initialised by k-means



def test_dead_codes_of_all_codebooks_are_read_once_per_forward(monkeypatch):
    """The counts decide how many random vectors are drawn: one read for all codebooks."""
    rvq = ResidualVectorQuantizer(8, n_q=3, bins=64, kmeans_iters=2).train()
    latent = torch.randn(2, 8, 40)
    rvq(latent)  # k-means on the first batch: reads the flags
    reads = []
    tolist = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda t: reads.append(t.shape) or tolist(t))
    with SyncRecorder() as recorder:
        out = rvq(latent)
    assert recorder.seen == []
    assert reads == [(3,)]
    assert out.metrics["vq/dead_codes_replaced"] > 0  # 80 vectors for 64 codes: some unused

def test_balancer_reads_nothing_back():
    from audiogen.codec.balancer import Balancer

    balancer = Balancer({"a": 1.0, "b": 3.0})
    for _ in range(2):  # the second step updates the averages
        leaf = torch.randn(2, 1, 50, requires_grad=True)
        y = leaf * 1.0
        with SyncRecorder() as recorder:
            metrics = balancer.backward({"a": y.sum(), "b": y.pow(2).mean()}, y)
        assert recorder.seen == [] and leaf.grad is not None
    assert float(metrics["balancer/share/a"]) + float(metrics["balancer/share/b"]) == \
        pytest.approx(1.0)


def test_text_prefix_training_forward_reads_nothing_back():
    lm = _lm(text_prefix=True).train()
    codes = torch.randint(0, 64, (4, 4, 6))
    frame_mask = torch.ones(4, 6, dtype=torch.bool)
    frame_mask[0, 4:] = False
    with SyncRecorder() as recorder:
        loss, _ = lm.compute_loss(codes, _cond(4), frame_mask)
        loss.backward()
    assert recorder.seen == []


def test_codec_training_step_reads_the_device_twice(tmp_path, monkeypatch):
    """After the first step (k-means, optimizer state): the quantizer's dead-code counts and
    the step's losses and metrics, nothing else (the discriminator's coin is drawn on the
    host)."""
    from test_codec_train import tiny_config, write_clip

    from audiogen.train.codec_trainer import CodecTrainer

    write_clip(tmp_path / "a.wav", 1.0)
    trainer = CodecTrainer(tiny_config(tmp_path, disc_update_share=0.5), tmp_path / "run")
    trainer.train_step()
    reads = []
    tolist = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda t: reads.append(t.shape) or tolist(t))
    updates = 0
    for step in range(1, 4):  # the discriminator updated at steps 2 and 3 (seed 3)
        trainer.step = step
        # Adam's step counters and the data crops are CPU tensors on any device
        with SyncRecorder(ignore=("torch/optim/", "audiogen/data/")) as recorder:
            metrics = trainer.train_step()
        assert recorder.seen == []
        # 2 codebooks' counts; the non-finite count and every metric but the 3 vq/ numbers
        # and the learning rate (the host's own numbers)
        assert reads == [(2,), (1 + len(metrics) - 4,)]
        reads.clear()
        updates += "d/hinge" in metrics
    assert updates == 2
