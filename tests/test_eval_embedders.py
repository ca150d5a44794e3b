"""FAD embedders: aiSFX parity with the package's own code, shapes, determinism, registry."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from audiogen.errors import AudiogenError
from audiogen.eval.embedders import build_embedder

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
needs_aisfx = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None,
                                 reason="aisfx weights not installed: "
                                        "pip install --no-deps aisfx==0.1.2")


@pytest.fixture(scope="module")
def aisfx(tmp_path_factory):
    from audiogen.eval.embedders.aisfx import AisfxEmbedder

    with pytest.MonkeyPatch.context() as mp:  # convert the weights into a throwaway cache
        mp.setenv("AUDIOGEN_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield AisfxEmbedder()


def test_mel_filterbank_rows_sum_to_one_and_cover_the_band():
    from audiogen.eval.embedders.aisfx import mel_filterbank

    fb = mel_filterbank()
    assert fb.shape == (96, 1025)
    assert torch.allclose(fb.sum(dim=1), torch.ones(96, dtype=torch.float64))
    assert (fb >= 0).all()
    centres = fb.argmax(dim=1)
    assert (centres[1:] >= centres[:-1]).all()  # bands rise in frequency


def test_blocks_follow_the_package_rule():
    from audiogen.eval.embedders.aisfx import to_blocks

    assert to_blocks(torch.zeros(60, 96)).shape == (1, 100, 96)  # short: one padded block
    assert to_blocks(torch.zeros(200, 96)).shape == (3, 100, 96)  # exact fit
    assert to_blocks(torch.zeros(230, 96)).shape == (3, 100, 96)  # partial last block dropped


@needs_aisfx
def test_aisfx_matches_the_package_code(aisfx):
    """Golden embeddings from tools/aisfx_golden.py (the package's Essentia path)."""
    from audiogen.audio.io import load_audio

    wav, sr = load_audio(FIXTURES / "aisfx_clip.wav")
    assert sr == 44100
    ours = aisfx.embed(wav).numpy()
    golden = np.load(FIXTURES / "aisfx_clip_embeddings.npy")
    assert ours.shape == golden.shape == (2, 512)
    assert np.abs(ours - golden).max() < 1e-4  # measured 1.0e-5 (max |value| 5.8)


@needs_aisfx
def test_aisfx_shapes_and_determinism(aisfx):
    wav = 0.1 * torch.randn(1, 44100 * 4)
    a, b = aisfx.embed(wav), aisfx.embed(wav.clone())
    assert a.shape == (2, 512) and torch.equal(a, b)
    assert aisfx.embed(torch.zeros(1, 1000)).shape == (1, 512)  # shorter than one block
    assert torch.isfinite(aisfx.embed(torch.zeros(1, 44100))).all()  # silence is finite


@needs_aisfx
def test_aisfx_weights_are_converted_once_to_safetensors(aisfx, tmp_path, monkeypatch):
    from audiogen.eval.embedders.aisfx import converted_weights

    monkeypatch.setenv("AUDIOGEN_CACHE", str(tmp_path))
    path = converted_weights()
    assert path.parent == tmp_path and path.suffix == ".safetensors"
    mtime = path.stat().st_mtime_ns
    assert converted_weights() == path and path.stat().st_mtime_ns == mtime


@needs_aisfx
def test_aisfx_classifier_gives_distributions(aisfx):
    from audiogen.eval.embedders.aisfx import AisfxClassifier

    clf = AisfxClassifier(embedder=aisfx)
    p = clf.probabilities(0.1 * torch.randn(1, 44100 * 3))
    assert p.shape == (len(clf.labels),) == (69,)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5) and (p >= 0).all()


def test_codec_latent_embedder(tmp_path):
    from audiogen.codec import Codec, CodecConfig

    codec = Codec(CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=0, n_q=2,
                              bins=16))
    codec.save(tmp_path)
    emb = build_embedder("codec", codec=str(tmp_path))
    assert (emb.sample_rate, emb.dim) == (16000, 8)
    wav = torch.randn(1, 1600)
    out = emb.embed(wav)
    assert out.shape == (200, 8)  # 1600 samples / hop 8
    assert torch.equal(out, emb.embed(wav))
    emb.chunk = 800  # chunked encoding of long files keeps the frame count
    assert emb.embed(wav).shape == (200, 8)


def test_registry_errors_are_clear(tmp_path, monkeypatch):
    from audiogen.eval import embedders

    monkeypatch.setitem(embedders.NOT_IMPLEMENTED, "later", "a network not ported yet")
    with pytest.raises(AudiogenError, match="not available in this version"):
        build_embedder("later")
    with pytest.raises(AudiogenError, match="unknown embedder"):
        build_embedder("nope")
    with pytest.raises(AudiogenError, match="needs --codec"):
        build_embedder("codec")
    with pytest.raises(AudiogenError, match="missing file"):
        build_embedder("codec", codec=str(tmp_path))
