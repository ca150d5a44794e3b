"""AudioGen's mixing augmentation: SNR, overlap, loudness, captions, batch size, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from audiogen.data.dataset import AudioBatch
from audiogen.data.mixing import BatchMixer, MixingConfig
from audiogen.errors import AudiogenError

T = 4000


def make_batch(B: int = 8, seed: int = 0) -> AudioBatch:
    """Clips of different lengths, levels and spectra, zero-padded to T."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(T // 4, T + 1, (B,), generator=g)
    lengths[0] = T
    wav = torch.zeros(B, 1, T)
    for b in range(B):
        n = int(lengths[b])
        t = torch.arange(n) / 8000
        tone = torch.sin(2 * math.pi * (200 + 150 * b) * t)
        level = 10 ** (-(5 + 5 * b) / 20)
        wav[b, 0, :n] = level * (0.5 * tone + 0.5 * torch.randn(n, generator=g).clamp(-3, 3))
    return AudioBatch(wav, lengths, [f"sound {b}" for b in range(B)], skipped=2)


def rms(x: torch.Tensor) -> float:
    return x.pow(2).mean().sqrt().item()


def test_mixed_batch_properties():
    batch = make_batch()
    mixer = BatchMixer(MixingConfig(prob=1.0))
    snrs = []
    for step in range(6):
        out = mixer(batch, torch.Generator().manual_seed(step))
        assert out.mixed and len(out) == 4 and out.wav.shape == (4, 1, T)
        assert out.skipped == 2  # failure counts survive the transform
        snr = out.info["snr_db"]
        snrs.append(snr)
        assert -5 <= snr <= 5
        for b, (i, j, offset, out_db) in enumerate(out.info["pairs"]):
            assert i != j
            assert out.captions[b] == f"sound {i} and sound {j}"
            ls, lt = int(batch.lengths[i]), int(batch.lengths[j])
            # overlap: at least half of the shorter clip sounds together with the other
            overlap = min(ls, offset + lt) - offset
            assert overlap >= 0.5 * min(ls, lt)
            # valid length and padding
            length = int(out.lengths[b])
            assert length == min(T, max(ls, offset + lt))
            mix = out.wav[b, 0]
            assert not mix[length:].any()
            # loudness: the drawn RMS, within [-35, -15] dBFS, and no clipping
            level = 20 * math.log10(rms(mix[:length]))
            assert -35 <= level <= -15 and level == pytest.approx(out_db, abs=1e-3)
            assert mix.abs().max() <= 0.99
            # measure the SNR: least-squares fit of the mix on the two placed sources
            s = torch.zeros(T)
            s[:ls] = batch.wav[i, 0, :ls]
            t = torch.zeros(T)
            n = min(lt, T - offset)
            t[offset:offset + n] = batch.wav[j, 0, :n]
            basis = torch.stack([s, t], 1).double()
            coef = torch.linalg.lstsq(basis, mix.double()[:, None]).solution[:, 0]
            residual = mix.double() - basis @ coef
            assert residual.abs().max() < 1e-4  # the mix is exactly the two, placed at offset
            measured = 20 * math.log10(abs(coef[0].item()) * rms(batch.wav[i, 0, :ls])
                                       / (abs(coef[1].item()) * rms(batch.wav[j, 0, :lt])))
            assert measured == pytest.approx(snr, abs=1e-3)
    assert len(set(snrs)) == len(snrs)  # one SNR per batch, drawn anew


def test_unmixed_batch_keeps_k_random_items():
    batch = make_batch()
    out = BatchMixer(MixingConfig(prob=0.0))(batch, torch.Generator().manual_seed(1))
    assert not out.mixed and len(out) == 4
    keep = out.info["kept"]
    assert len(set(keep)) == 4
    assert torch.equal(out.wav, batch.wav[keep]) and out.captions == [f"sound {i}" for i in keep]
    assert torch.equal(out.lengths, batch.lengths[keep])


def test_probability_and_determinism():
    batch = make_batch(B=4)
    mixer = BatchMixer()  # the defaults: on, prob 0.5
    outs = [mixer(batch, torch.Generator().manual_seed(s)) for s in range(200)]
    share = sum(o.mixed for o in outs) / len(outs)
    assert 0.38 < share < 0.62
    assert all(len(o) == 2 for o in outs)  # same batch size mixed or not
    again = mixer(batch, torch.Generator().manual_seed(17))
    assert torch.equal(again.wav, outs[17].wav) and again.captions == outs[17].captions


def test_identical_captions_joined_once_and_silence_is_safe():
    batch = make_batch(B=2)
    batch.captions = ["rain", "Rain "]
    batch.wav[1] = 0  # a silent clip must not produce NaN
    out = BatchMixer(MixingConfig(prob=1.0, keep_ratio=1.0))(batch, torch.Generator())
    assert out.captions == ["rain", "rain"]
    assert torch.isfinite(out.wav).all()


def test_disabled_and_bad_configs():
    batch = make_batch()
    assert BatchMixer(MixingConfig(enabled=False))(batch) is batch
    assert MixingConfig(enabled=False).output_size(8) == 8 and MixingConfig().output_size(8) == 4
    with pytest.raises(AudiogenError):
        MixingConfig(snr_low=5, snr_high=-5)
    with pytest.raises(AudiogenError):
        MixingConfig(prob=2)
    stereo = AudioBatch(torch.zeros(2, 2, 10), torch.tensor([10, 10]), ["a", "b"])
    with pytest.raises(AudiogenError, match="mono"):
        BatchMixer()(stereo)


def test_peaky_mix_is_scaled_below_clipping():
    wav = torch.zeros(2, 1, T)
    wav[:, 0, ::400] = 1.0  # clicks: a 26 dB crest factor would clip at -15 dBFS RMS
    batch = AudioBatch(wav, torch.tensor([T, T]), ["click", "clack"])
    cfg = MixingConfig(prob=1.0, keep_ratio=1.0, out_rms_low=-15, out_rms_high=-15)
    out = BatchMixer(cfg)(batch, torch.Generator())
    assert out.wav.abs().max().item() == pytest.approx(0.99, abs=1e-6)
