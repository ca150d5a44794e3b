"""Codec training parts: discriminator shapes, loss values, balancer arithmetic, metrics."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from audiogen.codec.balancer import Balancer
from audiogen.codec.discriminator import DiscriminatorConfig, MultiScaleSTFTDiscriminator
from audiogen.codec.losses import (
    MultiScaleMelLoss,
    hinge_discriminator,
    hinge_generator,
    l1_time,
    relative_feature_matching,
)
from audiogen.codec.mel import MelSpectrogram, mel_filters
from audiogen.codec.metrics import mel_distance, si_snr

SR = 16000
# Made by tools/make_codec_train_fixtures.py with audiocraft 1.3.0.
REFERENCE = Path(__file__).parent / "fixtures" / "codec_train" / "reference.safetensors"


def _sine(freq: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    return (amp * torch.sin(2 * math.pi * freq * t)).view(1, 1, -1)


# --- discriminator ---------------------------------------------------------------------------

def test_discriminator_shapes():
    disc = MultiScaleSTFTDiscriminator()
    wav = torch.randn(2, 1, SR)
    logits, fmaps = disc(wav)
    assert len(logits) == len(fmaps) == 5
    for n_fft, logit, fmap in zip([1024, 2048, 512, 256, 128], logits, fmaps):
        frames = (SR - n_fft) // (n_fft // 4) + 1
        freq = n_fft // 2 + 1
        for _ in range(3):  # three convs with stride 2 along frequency, kernel 9, padding 4
            freq = (freq - 1) // 2 + 1
        assert logit.shape == (2, 1, frames, freq)
        assert len(fmap) == 5  # first conv, three dilated convs, the 3x3 conv
        assert all(f.shape[:3] == (2, 32, frames) for f in fmap)
        assert fmap[0].shape[3] == n_fft // 2 + 1 and fmap[-1].shape[3] == freq


def test_discriminator_is_weight_normed_and_sees_its_input():
    disc = MultiScaleSTFTDiscriminator(DiscriminatorConfig(filters=8))
    names = [n for n, _ in disc.named_parameters()]
    assert any("parametrizations.weight.original0" in n for n in names)
    wav = torch.randn(1, 1, 4000, requires_grad=True)
    logits, _ = disc(wav)
    sum(lg.sum() for lg in logits).backward()
    assert wav.grad is not None and wav.grad.abs().sum() > 0


def _from_reference_names(ref: dict) -> dict:
    """audiocraft's MS-STFT discriminator keys -> ours: `convs.j.conv.{weight_g, weight_v}`
    (legacy weight norm) -> `convs.j.parametrizations.weight.{original0, original1}`,
    `convs.j.conv.{weight, bias}` -> `convs.j.{weight, bias}`, `conv_post` -> `post`."""
    out = {}
    for key, value in ref.items():
        key = key.removeprefix("ref.disc.").replace(".conv_post.", ".post.")
        key = key.replace(".conv.weight_g", ".parametrizations.weight.original0")
        key = key.replace(".conv.weight_v", ".parametrizations.weight.original1")
        out[key.replace(".conv.", ".")] = value
    return out


def test_discriminator_matches_reference():
    fixture = load_file(str(REFERENCE))
    disc = MultiScaleSTFTDiscriminator(DiscriminatorConfig(filters=4))
    disc.load_state_dict(_from_reference_names(
        {k: v for k, v in fixture.items() if k.startswith("ref.disc.")}), strict=True)
    logits, fmaps = disc(fixture["disc.input"])
    for i, logit in enumerate(logits):
        torch.testing.assert_close(logit, fixture[f"disc.logits.{i}"], atol=1e-5, rtol=1e-5)
    sums = torch.tensor([[f.sum().item() for f in fm] for fm in fmaps])
    torch.testing.assert_close(sums, fixture["disc.fmap_sums"], atol=1e-2, rtol=1e-5)


# --- losses ----------------------------------------------------------------------------------

def test_hinge_losses_on_known_logits():
    x = [torch.tensor([2.0, 0.0, -2.0])]
    assert hinge_generator(x).item() == pytest.approx(4 / 3)  # relu(1 - x) = 0, 1, 3
    # real: relu(1 - x) = 0, 1, 3; fake: relu(1 + x) = 3, 1, 0
    assert hinge_discriminator(x, x).item() == pytest.approx(8 / 3)
    # averaged over sub-discriminators
    two = [torch.tensor([2.0]), torch.tensor([-1.0])]
    assert hinge_generator(two).item() == pytest.approx((0 + 2) / 2)


def test_relative_feature_matching():
    real = [[torch.randn(2, 4, 5, 6), torch.randn(2, 4, 5, 3)], [torch.randn(2, 4, 3, 3)]]
    assert relative_feature_matching(real, real).item() == pytest.approx(0.0)
    doubled = [[2 * f for f in layers] for layers in real]
    # |2f - f| / |f| = 1 for every layer, whatever its scale
    assert relative_feature_matching(doubled, real).item() == pytest.approx(1.0, rel=1e-5)
    scaled = [[f * 100 for f in layers] for layers in real]
    assert relative_feature_matching([[3 * f for f in ls] for ls in scaled],
                                     scaled).item() == pytest.approx(2.0, rel=1e-5)


def test_l1_time():
    assert l1_time(torch.zeros(1, 1, 4), torch.tensor([[[1.0, -1.0, 2.0, 0.0]]])).item() == 1.0


def test_mel_filters_are_torchaudios():
    """torchaudio's melscale_fbanks (HTK, no norm), written out: triangles linear in Hz
    between edges equally spaced in mel."""
    n_freqs, n_mels = 513, 64
    freqs = np.linspace(0, SR // 2, n_freqs)
    edges_mel = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), n_mels + 2)
    edges = 700 * (10 ** (edges_mel / 2595) - 1)
    slopes = edges[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / np.diff(edges)[:-1]
    up = slopes[:, 2:] / np.diff(edges)[1:]
    expected = np.maximum(0, np.minimum(down, up))
    np.testing.assert_allclose(mel_filters(1024, n_mels, SR).numpy(), expected, atol=1e-6)


def test_mel_spectrogram_matches_numpy_framing():
    wav = torch.randn(1, 1, 1000)
    mel = MelSpectrogram(SR, n_fft=256, n_mels=64)
    out = mel(wav)
    hop = 64
    assert out.shape == (1, 64, math.ceil(1000 / hop))
    # independent computation: reflect pad, zero tail, Hann frames, |rfft|^2, filters
    x = wav.numpy()[0, 0].astype(np.float64)
    pad = (256 - hop) // 2
    x = np.pad(x, pad, mode="reflect")
    frames = out.shape[-1]
    x = np.pad(x, (0, (frames - 1) * hop + 256 - len(x)))
    window = np.hanning(257)[:256]  # periodic Hann, as torch.hann_window
    spec = np.stack([np.abs(np.fft.rfft(x[i * hop:i * hop + 256] * window)) ** 2
                     for i in range(frames)], axis=1)
    expected = mel_filters(256, 64, SR).numpy().T.astype(np.float64) @ spec
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_mel_loss_values():
    loss = MultiScaleMelLoss(SR)
    x = _sine(1000.0) + 0.01 * torch.randn(1, 1, SR)
    assert loss(x, x).item() == 0.0
    y = 2 * x  # power x4: L1 term 3 * mean(mel), log term (log10 4)^2 where mel >> floor
    mels = loss.mel(x)
    l1 = np.mean([3 * m.mean().item() for m in mels])
    assert loss(y, x).item() > (l1 + 0.5 * math.log10(4) ** 2) / 2
    assert loss(y, x).item() < (l1 + math.log10(4) ** 2) / 2 + 1e-6


# --- balancer --------------------------------------------------------------------------------

def _balanced_step(balancer, y_leaf, c):
    y = y_leaf * 1.0  # a non-leaf "model output"
    losses = {"a": (y * c).sum(), "b": 0.5 * y.pow(2).sum()}
    return balancer.backward(losses, y)


def test_balancer_arithmetic_exact():
    torch.manual_seed(1)
    weights = {"a": 1.0, "b": 3.0}
    balancer = Balancer(weights, total_norm=1.0, ema_decay=0.999, eps=0.0)
    c = torch.randn(2, 1, 50)
    y1 = torch.randn(2, 1, 50, requires_grad=True)
    _balanced_step(balancer, y1, c)

    def item_norm(g):  # per batch item L2 norm, averaged over the batch
        return g.flatten(1).norm(dim=1).mean().item()

    na1, nb1 = item_norm(c), item_norm(y1.detach())  # d a / dy = c, d b / dy = y
    expected = 0.25 * c / na1 + 0.75 * y1.detach() / nb1
    torch.testing.assert_close(y1.grad, expected, rtol=1e-6, atol=1e-7)

    # second step: the norms are bias-corrected EMAs over both steps
    y2 = torch.randn(2, 1, 50, requires_grad=True) * 5
    y2.retain_grad()
    metrics = _balanced_step(balancer, y2, c)
    nb2 = item_norm(y2.detach())
    ema_a = (na1 * 0.999 + na1) / 1.999
    ema_b = (nb1 * 0.999 + nb2) / 1.999
    expected = 0.25 * c / ema_a + 0.75 * y2.detach() / ema_b
    torch.testing.assert_close(y2.grad, expected, rtol=1e-6, atol=1e-7)
    assert float(metrics["balancer/scale/b"]) == pytest.approx(0.75 / ema_b)
    assert float(metrics["balancer/share/a"]) == pytest.approx(ema_a / (ema_a + ema_b))

    # state round trip continues the same averages
    clone = Balancer(weights, eps=0.0)
    clone.load_state_dict(balancer.state_dict())
    assert clone.state_dict() == balancer.state_dict()


def test_balancer_adds_other_loss_unbalanced_and_checks_names():
    balancer = Balancer({"a": 1.0})
    y_leaf = torch.ones(1, 1, 4, requires_grad=True)
    extra = torch.ones(1, requires_grad=True)
    y = y_leaf * 1.0
    balancer.backward({"a": (3 * y).sum()}, y, other_loss=(extra * 7).sum())
    assert extra.grad.item() == 7.0  # commitment-style loss: plain gradient
    # the only balanced loss gets norm R whatever its scale: g / ||g|| = 3 / sqrt(4 * 9)
    torch.testing.assert_close(y_leaf.grad, torch.full((1, 1, 4), 0.5))
    with pytest.raises(KeyError):
        y = y_leaf * 1.0
        balancer.backward({"zzz": y.sum()}, y)


def test_balancer_matches_reference_over_three_steps():
    fixture = load_file(str(REFERENCE))
    balancer = Balancer({"a": 4.0, "b": 0.1, "c": 2.0}, ema_decay=0.999)
    c = fixture["balancer.c"]
    for step in range(3):
        leaf = fixture[f"balancer.input.{step}"].clone().requires_grad_(True)
        y = leaf * 1.0
        balancer.backward({"a": (y * c).sum(), "b": (y ** 2).mean(), "c": y.abs().sum() * 10}, y)
        torch.testing.assert_close(leaf.grad, fixture[f"balancer.grad.{step}"],
                                   atol=1e-7, rtol=1e-6)


# --- metrics ---------------------------------------------------------------------------------

def test_si_snr_known_values():
    t = torch.arange(1600) / SR
    ref = torch.sin(2 * math.pi * 100 * t).view(1, 1, -1)  # whole periods: zero mean
    noise = 0.1 * torch.cos(2 * math.pi * 100 * t).view(1, 1, -1)  # orthogonal to ref
    assert si_snr(ref + noise, ref).item() == pytest.approx(20.0, abs=1e-3)
    assert si_snr(3 * (ref + noise), ref).item() == pytest.approx(20.0, abs=1e-3)  # scale-free
    assert si_snr(ref, ref).item() > 80
    batch = si_snr(torch.cat([ref + noise, ref + 10 * noise]), torch.cat([ref, ref]))
    assert batch.shape == (2,) and batch[1].item() == pytest.approx(0.0, abs=1e-3)


def test_mel_distance():
    x = torch.cat([_sine(440.0), _sine(3000.0)])
    d = mel_distance(x, x, SR)
    assert d.shape == (2,) and d.abs().max().item() == 0.0
    d2 = mel_distance(2 * x, x, SR)  # log10 of a 4x power ratio, except bands under the floor
    assert (d2 > 0.1).all() and (d2 <= math.log10(4) + 1e-4).all()
    assert (mel_distance(x + 0.3 * torch.randn_like(x), x, SR) > d2).all()
