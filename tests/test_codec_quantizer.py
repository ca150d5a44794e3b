"""Residual vector quantizer: k-means init, EMA updates, dead codes, residual refinement, DDP."""

import itertools
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from audiogen.codec.quantizer import ResidualVectorQuantizer, kmeans


def _latents(batch=4, dim=8, frames=64, seed=0):
    """Clustered latents [B, D, F]: 12 centres plus noise, so k-means has structure to find."""
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(12, dim, generator=g)
    pick = torch.randint(0, 12, (batch * frames,), generator=g)
    x = centres[pick] + 0.3 * torch.randn(batch * frames, dim, generator=g)
    return x.view(batch, frames, dim).transpose(1, 2).contiguous()


def _rvq(**kw):
    args = {"dim": 8, "n_q": 4, "bins": 32, "kmeans_iters": 10, "threshold_ema_dead_code": 0.0}
    return ResidualVectorQuantizer(**{**args, **kw})


def test_codes_in_range_and_shapes():
    rvq = _rvq().train()
    x = _latents()
    out = rvq(x)
    assert out.codes.shape == (4, 4, 64) and out.codes.dtype == torch.long
    assert out.codes.min() >= 0 and out.codes.max() < 32
    assert out.quantized.shape == x.shape
    rvq.eval()
    codes = rvq.encode(x)
    assert torch.equal(codes, rvq(x).codes)
    assert torch.allclose(rvq.decode(codes), rvq(x).quantized)


def test_kmeans_init_happens_on_first_training_batch_only():
    rvq = _rvq()
    x = _latents()
    rvq.eval()
    rvq(x)  # evaluation never initialises
    assert all(cb.inited.item() == 0 for cb in rvq.codebooks)
    assert all(cb.embed.abs().sum() == 0 for cb in rvq.codebooks)
    rvq.train()
    rvq(x)
    assert all(cb.inited.item() == 1 for cb in rvq.codebooks)
    first = rvq.codebooks[0]
    # the stage-0 codebook fits the 12 clusters: error far below the data's spread
    err = (first.decode(first.encode(x.transpose(1, 2).reshape(-1, 8))) -
           x.transpose(1, 2).reshape(-1, 8)).pow(2).mean()
    assert err < 0.05 * x.var()
    embed = first.embed.clone()
    torch.manual_seed(1)
    rvq(x)  # a second batch: EMA moves the codebook a little, no new k-means
    assert (first.embed - embed).abs().max() < 0.5


def test_kmeans_reduces_error_against_random_means():
    samples = _latents().transpose(1, 2).reshape(-1, 8)
    means, counts = kmeans(samples, 12, 20)
    assert counts.sum() == samples.shape[0]
    dist_ = torch.cdist(samples, means).min(dim=1).values.pow(2).mean()
    random_means = samples[torch.randperm(samples.shape[0])[:12]]
    dist_random = torch.cdist(samples, random_means).min(dim=1).values.pow(2).mean()
    assert dist_ < dist_random


def test_error_falls_as_stages_are_added():
    rvq = _rvq(n_q=4, bins=16).train()
    x = _latents()
    rvq(x)
    rvq.eval()
    codes = rvq.encode(x)
    errors = [(rvq.decode(codes[:, :k]) - x).pow(2).mean().item() for k in range(1, 5)]
    assert all(b < a for a, b in itertools.pairwise(errors)), errors


def test_eval_mode_never_changes_buffers():
    rvq = _rvq().train()
    rvq(_latents())
    before = {k: v.clone() for k, v in rvq.state_dict().items()}
    rvq.eval()
    rvq(_latents(seed=3))
    rvq.encode(_latents(seed=4))
    for k, v in rvq.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_ema_moves_codes_towards_assigned_vectors():
    rvq = _rvq(n_q=1, bins=4, kmeans_init=False, decay=0.5)
    book = rvq.codebooks[0]
    book.embed.copy_(torch.eye(4, 8) * 10)
    book.embed_avg.copy_(book.embed)
    book.cluster_size.fill_(1.0)
    x = torch.zeros(1, 8, 3)
    x[0, 0, :] = 12.0  # three vectors at 12 * e0, all nearest to code 0
    rvq.train()
    rvq(x)
    # cluster_size 0.5 * 1 + 0.5 * 3 = 2; embed_avg 0.5 * 10 + 0.5 * 36 = 23 -> code ~ 11.5
    assert book.cluster_size[0].item() == pytest.approx(2.0)
    assert book.embed[0, 0].item() == pytest.approx(23 / 2, rel=1e-3)


def test_dead_codes_are_replaced_by_batch_vectors():
    rvq = _rvq(n_q=1, bins=16, threshold_ema_dead_code=2.0).train()
    x = _latents()
    rvq(x)  # k-means init
    book = rvq.codebooks[0]
    book.cluster_size[:5] = 0.0  # five codes fell out of use ...
    book.embed[:5] = 1e3  # ... and sit far from the data
    book.embed_avg[:5] = 0.0
    out = rvq(x)
    assert out.metrics["vq/dead_codes_replaced"] >= 5
    flat = x.transpose(1, 2).reshape(-1, 8)
    for row in book.embed[:5]:
        assert (flat - row).abs().max(dim=1).values.min() < 1e-5  # a vector of the batch
    assert (book.cluster_size >= 2.0 - 1e-6).all()



@pytest.mark.parametrize("n", [40, 7])  # enough vectors (a permutation), too few (repeats)
def test_dead_code_replacement_equals_boolean_indexing(n):
    """The i-th dead code takes the i-th random vector, as `embed[dead] = fresh` gave before
    the replacement stopped reading the mask's indices back."""
    book = _rvq(n_q=1, bins=16, threshold_ema_dead_code=2.0).codebooks[0]
    book.embed.normal_()
    book.embed_avg.normal_()
    book.cluster_size.uniform_(0, 4)
    dead = book.dead_codes()
    x = torch.randn(n, 8)
    expected = {k: v.clone() for k, v in book.state_dict().items()}
    torch.manual_seed(1)
    fresh = x[torch.randperm(n)[:int(dead.sum())]] if n >= 16 else \
        x[torch.randint(0, n, (int(dead.sum()),))]
    expected["embed"][dead] = fresh
    expected["embed_avg"][dead] = fresh * 2.0
    expected["cluster_size"][dead] = 2.0
    torch.manual_seed(1)
    book.replace_dead_codes(x, dead, int(dead.sum()))
    assert 0 < int(dead.sum()) < 16
    for key, value in book.state_dict().items():
        assert torch.equal(value, expected[key]), key

def test_straight_through_gradient_and_commitment_loss():
    rvq = _rvq().train()
    x = _latents().requires_grad_(True)
    out = rvq(x)
    assert out.commitment_loss > 0
    out.quantized.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # identity gradient
    x.grad = None
    out = rvq(x)
    out.commitment_loss.backward()
    assert x.grad.abs().sum() > 0


def _ddp_worker(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)  # different random streams on purpose
        rvq = _rvq(bins=16, threshold_ema_dead_code=2.0, random_active_codebooks=True).train()
        for step in range(3):
            rvq(_latents(seed=10 * step + rank))  # different data on each process
        results[rank] = {k: v.clone() for k, v in rvq.state_dict().items()}
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawns two processes (~15 s on two shared cores)
def test_buffers_stay_in_sync_under_distributed_training():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_ddp_worker, args=(port, results), nprocs=2, join=True)
    a, b = results[0], results[1]
    assert a["codebooks.0.inited"].item() == 1
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_training_forward_computes_in_float32_under_autocast():
    """Under mixed precision the codec's layers hand over bfloat16 latents; the codes, the
    codebook updates and the commitment loss are those of the same latents in float32."""
    latent = _latents().bfloat16()
    plain, mixed = (_rvq(threshold_ema_dead_code=2.0).train() for _ in range(2))
    mixed.load_state_dict(plain.state_dict())
    torch.manual_seed(0)
    expected = plain(latent.float())
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mixed(latent)
    assert out.quantized.dtype == out.commitment_loss.dtype == torch.float32
    assert torch.equal(out.codes, expected.codes)
    assert torch.equal(out.commitment_loss, expected.commitment_loss)
    for key, value in plain.state_dict().items():
        assert torch.equal(mixed.state_dict()[key], value), key
