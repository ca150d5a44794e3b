"""Codec model: shapes at every preset, causality, training pass, model directory round trip."""

import dataclasses
import json
import math

import pytest
import torch

from audiogen.codec import PRESETS, Codec, CodecConfig, codec_preset
from audiogen.errors import AudiogenError, MissingFilesError

TINY = CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=1, n_q=3, bins=16,
                   kmeans_iters=5)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_shapes_at_every_preset(name):
    codec = Codec(codec_preset(name)).eval()
    hop = codec.hop_length
    length = 3 * hop + 7  # not a multiple of the hop: the encoder pads the last frame
    wav = 0.1 * torch.randn(2, 1, length)
    codes = codec.encode(wav)
    assert codes.shape == (2, codec.num_codebooks, 4) and codes.dtype == torch.long
    assert 0 <= codes.min() and codes.max() < codec.cardinality
    audio = codec.decode(codes)
    assert audio.shape == (2, 1, 4 * hop)
    out = codec(wav)
    assert out.audio.shape == wav.shape and torch.equal(out.codes, codes)
    assert codec.frame_rate == codec.sample_rate / hop
    assert codec.bitrate == pytest.approx(
        codec.frame_rate * codec.num_codebooks * math.log2(codec.cardinality))


def test_preset_values():
    released = codec_preset("audiogen-16khz")
    assert (released.n_filters, released.ratios, released.dimension) == (64, [8, 5, 4, 2], 128)
    assert (released.n_q, released.bins, released.hop_length) == (4, 2048, 320)
    assert released.bitrate == 2200.0
    assert sum(p.numel() for p in Codec(released).parameters()) == 56_819_138
    for name, hop, n_q, bins in [("paper-x32", 32, 1, 2048), ("paper-x64", 64, 2, 1024),
                                 ("paper-x128", 128, 4, 512), ("small", 320, 4, 1024)]:
        c = codec_preset(name)
        assert (c.hop_length, c.n_q, c.bins) == (hop, n_q, bins), name
    with pytest.raises(ValueError, match="small"):
        codec_preset("nope")
    assert codec_preset("small") is not codec_preset("small")  # fresh objects


def test_config_dict_round_trip_and_unknown_field():
    config = codec_preset("small")
    assert CodecConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(AudiogenError, match="n_filterz"):
        CodecConfig.from_dict({**config.to_dict(), "n_filterz": 3})
    incomplete = config.to_dict()
    del incomplete["n_q"]
    with pytest.raises(AudiogenError, match="missing setting.*n_q"):
        CodecConfig.from_dict(incomplete)
    with pytest.raises(AudiogenError, match="n_q: expected int, got '4'"):
        CodecConfig.from_dict({**config.to_dict(), "n_q": "4"})


def test_causal_codec_ignores_the_future():
    codec = Codec(dataclasses.replace(TINY, causal=True, kmeans_init=False)).eval()
    wav = torch.randn(1, 1, 80)
    changed = wav.clone()
    changed[..., 48:] = torch.randn(32)  # frames 0..5 (hop 8) end before sample 48
    latent, latent2 = codec.encoder(wav), codec.encoder(changed)
    assert torch.equal(latent[..., :6], latent2[..., :6])
    assert not torch.equal(latent[..., 6:], latent2[..., 6:])
    codes = codec.encode(wav)
    codes2 = codes.clone()
    codes2[..., 6:] = (codes2[..., 6:] + 1) % TINY.bins
    a, b = codec.decode(codes), codec.decode(codes2)
    assert torch.equal(a[..., :48], b[..., :48])


def test_training_pass_reaches_encoder_through_straight_through():
    codec = Codec(TINY).train()
    wav = 0.1 * torch.randn(2, 1, 200)
    out = codec(wav)
    assert out.audio.shape == wav.shape and out.commitment_loss.dim() == 0
    assert torch.isfinite(out.commitment_loss) and out.commitment_loss > 0
    assert out.metrics["vq/bandwidth_kbps"] == pytest.approx(codec.bitrate / 1000)
    out.audio.pow(2).mean().backward()
    assert codec.encoder.conv_in.weight_v.grad.abs().sum() > 0
    assert codec.decoder.conv_out.weight_g.grad.abs().sum() > 0


def test_random_active_codebooks_only_at_training():
    codec = Codec(dataclasses.replace(TINY, random_active_codebooks=True))
    wav = 0.1 * torch.randn(2, 1, 64)
    codec.train()
    seen = {codec(wav).codes.shape[1] for _ in range(20)}
    assert seen == {1, 2, 3}
    codec.eval()
    assert codec(wav).codes.shape[1] == 3


def test_decode_with_fewer_streams_and_bad_shapes():
    codec = Codec(TINY).eval()
    codes = torch.randint(0, TINY.bins, (1, 3, 5))
    assert codec.decode(codes[:, :1]).shape == (1, 1, 40)
    with pytest.raises(ValueError, match="codes"):
        codec.decode(torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="audio"):
        codec.encode(torch.zeros(1, 2, 64))


def test_save_load_round_trip_is_bit_exact(tmp_path):
    codec = Codec(codec_preset("small")).train()
    codec(0.1 * torch.randn(2, 1, 3200))  # k-means init + an EMA step: non-trivial buffers
    codec.eval()
    codec.save(tmp_path, extra={"trained_by": "test"})
    meta = json.loads((tmp_path / "codec.json").read_text())
    assert meta["format"] == "audiogen-codec" and meta["version"] == 1
    assert meta["trained_by"] == "test" and meta["config"]["n_filters"] == 16
    loaded = Codec.load(tmp_path)
    assert not loaded.training
    original = codec.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, original[key]), key
    assert loaded.quantizer.codebooks[0].inited.item() == 1.0
    wav = 0.1 * torch.randn(1, 1, 1000)
    assert torch.equal(loaded.encode(wav), codec.encode(wav))
    assert torch.equal(loaded(wav).audio, codec(wav).audio)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_missing_files_are_listed(tmp_path):
    with pytest.raises(MissingFilesError) as err:
        Codec.load(tmp_path)
    assert err.value.missing == ["codec.json", "codec.safetensors"]
    assert str(tmp_path) in str(err.value)
    Codec(TINY).save(tmp_path)
    (tmp_path / "codec.safetensors").unlink()
    with pytest.raises(MissingFilesError) as err:
        Codec.load(tmp_path)
    assert err.value.missing == ["codec.safetensors"]


def test_wrong_format_or_mismatched_weights_are_errors(tmp_path):
    Codec(TINY).save(tmp_path)
    meta = json.loads((tmp_path / "codec.json").read_text())
    (tmp_path / "codec.json").write_text(json.dumps({**meta, "format": "audiogen-lm"}))
    with pytest.raises(AudiogenError, match="audiogen-codec"):
        Codec.load(tmp_path)
    meta["config"]["n_filters"] = 8  # weights no longer fit the config
    (tmp_path / "codec.json").write_text(json.dumps(meta))
    with pytest.raises(AudiogenError, match="does not match"):
        Codec.load(tmp_path)


@pytest.mark.parametrize("c_in,c_out,stride,length", [(3, 5, 2, 9), (4, 2, 5, 7), (2, 3, 1, 6)])
def test_polyphase_transposed_conv_equals_plain(c_in, c_out, stride, length):
    from audiogen.codec.conv import _polyphase_conv_transpose

    x = torch.randn(2, c_in, length)
    weight = torch.randn(c_in, c_out, 2 * stride)
    bias = torch.randn(c_out)
    fast = _polyphase_conv_transpose(x, weight, bias, stride)
    plain = torch.nn.functional.conv_transpose1d(x, weight, bias, stride)
    assert fast.shape == plain.shape
    assert torch.allclose(fast, plain, atol=1e-5)


def test_padded_conv_matches_explicit_padding():
    from audiogen.codec.conv import Conv1d

    for causal, pad_mode in [(False, "constant"), (True, "constant"), (False, "reflect")]:
        conv = Conv1d(3, 4, kernel_size=10, stride=5, causal=causal, pad_mode=pad_mode)
        x = torch.randn(1, 3, 23)
        y = conv(x)
        assert y.shape == (1, 4, 5)  # ceil(23 / 5)
        total = 10 - 5
        left = total if causal else total - total // 2
        extra = 2  # pads 23 + 5 up to 30 = (6 - 1) * 5 + 5, the last window full
        padded = torch.nn.functional.pad(x, (left, total - left + extra), mode=pad_mode)
        plain = torch.nn.functional.conv1d(padded, conv.effective_weight(), conv.bias, 5)
        assert torch.allclose(y, plain, atol=1e-6)
