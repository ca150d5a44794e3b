"""VGGish and PANNs CNN14 embedders: parity with torchvggish / panns_inference on random weights
in the released file layouts (fixtures from tools/make_embedder_fixtures.py), shapes,
determinism, resampling, and the messages for missing or wrong weight files."""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.audio.io import load_audio, resample
from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.eval.embedders import build_embedder

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
VGGISH_DIR = FIXTURES / "vggish_random"
PANNS_DIRS = {32000: FIXTURES / "panns32k_random", 16000: FIXTURES / "panns16k_random"}


def _clip(sr: int) -> torch.Tensor:
    wav, file_sr = load_audio(FIXTURES / f"embedder_clip_{sr // 1000}k.wav")
    assert file_sr == sr
    return wav  # [1, T]


def _tones(seconds: float, sr: int) -> torch.Tensor:
    """Three tones below 7 kHz, so that every rate used here represents them alike."""
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    x = sum(a * torch.sin(2 * math.pi * f * t) for a, f in ((0.3, 330), (0.2, 1250), (0.1, 4100)))
    return (x * (0.6 + 0.4 * torch.sin(2 * math.pi * 2 * t))).to(torch.float32)[None]


# --------------------------------------------------------------------------- parity
def test_vggish_matches_torchvggish_on_random_weights():
    """Reference: torchvggish 0.2 (reduced widths, same layout) on the fixture clip."""
    from audiogen.eval.embedders.vggish import VGGishEmbedder, VGGishPCAEmbedder, examples

    ref = np.load(VGGISH_DIR / "reference_outputs.npz")
    wav = _clip(16000)
    plain = VGGishEmbedder.from_path(VGGISH_DIR)
    with_pca = VGGishPCAEmbedder.from_path(VGGISH_DIR / "vggish-10086976.pth")
    assert ref["raw"].shape == (3, 128)  # 3.3 s: three 0.96 s examples
    # measured 0 for all four on the machine that made the fixture; tolerances allow for BLAS
    assert np.abs(examples(wav[0]).numpy() - ref["examples"]).max() < 1e-5
    assert np.abs(plain.embed(wav).numpy() - ref["raw"]).max() < 1e-4
    relu = plain.network_output(wav, final_relu=True).numpy()
    assert np.abs(relu - ref["relu"]).max() < 1e-4
    quantized = with_pca.embed(wav).numpy()
    assert quantized.shape == (3, 128) and set(np.unique(quantized)) <= set(range(256))
    assert (np.abs(quantized - ref["pca"]) > 0).mean() < 0.01  # a rounding tie may flip
    assert np.abs(quantized - ref["pca"]).max() <= 1


@pytest.mark.parametrize("sr", [32000, 16000])
def test_panns_matches_panns_inference_on_random_weights(sr):
    """Reference: panns_inference 0.1.1 Cnn14 (reduced widths, same layout) on the fixture clip."""
    from audiogen.eval.embedders.panns import PannsEmbedder

    ref = np.load(PANNS_DIRS[sr] / "reference_outputs.npz")
    embedder = PannsEmbedder.from_path(PANNS_DIRS[sr])  # finds the released file name
    assert embedder.sample_rate == sr
    wav = _clip(sr)
    log_mel = embedder.model.log_mel(wav)[0].numpy()
    loud = ref["logmel"] > -60  # below that the reference's float32 conv STFT is noisy
    assert np.abs(log_mel - ref["logmel"])[loud].max() < 5e-3  # measured 1.2e-3 dB (32 kHz)
    assert np.abs(log_mel - ref["logmel"]).max() < 0.2  # measured 0.048 dB near -95 dB
    emb, probs = embedder.outputs(wav)
    assert np.abs(emb.numpy() - ref["embedding"]).max() < 1e-4  # measured 1.6e-6 / 4.5e-6
    assert np.abs(probs.numpy() - ref["clipwise"]).max() < 1e-4  # measured 4.5e-7 / 1.6e-6
    assert torch.equal(embedder.clipwise(wav), probs[0])


def test_a_wrong_port_would_fail_the_parity_check():
    """The reference outputs depend on the weights: perturbing one layer moves them."""
    from audiogen.eval.embedders.vggish import VGGishEmbedder

    ref = np.load(VGGISH_DIR / "reference_outputs.npz")
    plain = VGGishEmbedder.from_path(VGGISH_DIR)
    with torch.no_grad():
        plain.net.convs[3].weight.mul_(1.05)
    assert np.abs(plain.embed(_clip(16000)).numpy() - ref["raw"]).max() > 1e-2


# --------------------------------------------------------------------------- behaviour
def test_vggish_shapes_determinism_and_short_clips():
    vggish = build_embedder("vggish", vggish=str(VGGISH_DIR))
    assert (vggish.name, vggish.sample_rate, vggish.dim) == ("vggish", 16000, 128)
    wav = torch.randn(2, 16000 * 3) * 0.1  # stereo: mixed to mono
    a, b = vggish.embed(wav), vggish.embed(wav.clone())
    assert a.shape == (3, 128) and torch.equal(a, b)
    assert torch.allclose(a, vggish.embed(wav.mean(dim=0, keepdim=True)))
    assert vggish.embed(torch.zeros(1, 800)).shape == (1, 128)  # 50 ms: padded to one example
    assert torch.isfinite(vggish.embed(torch.zeros(1, 16000))).all()
    pca = build_embedder("vggish-pca", vggish=str(VGGISH_DIR))
    assert pca.embed(wav).shape == (3, 128)
    assert pca.describe()["output"].startswith("ReLU, PCA")


def test_panns_shapes_determinism_and_short_clips():
    panns = build_embedder("panns", panns=str(PANNS_DIRS[32000] / "Cnn14_mAP=0.431.pth"))
    assert (panns.name, panns.sample_rate, panns.dim) == ("panns", 32000, 64)  # reduced width
    wav = torch.randn(1, 32000 * 2) * 0.1
    a, b = panns.embed(wav), panns.embed(wav.clone())
    assert a.shape == (1, 64) and torch.equal(a, b)
    assert panns.embed(torch.zeros(1, 1000)).shape == (1, 64)  # 31 ms: padded to 32 frames
    assert torch.isfinite(panns.embed(torch.zeros(1, 32000))).all()
    assert panns.clipwise(wav).shape == (527,)


def test_resampled_input_embeds_like_native_rate_input(tmp_path):
    """The evaluation path resamples other rates to the embedder's: a 44.1 kHz file of the same
    band-limited sound gives nearly the native-rate embedding (soxr HQ)."""
    from audiogen.eval.audio_sets import load_clip, scan

    sf.write(str(tmp_path / "tones.wav"), _tones(2.0, 44100)[0].numpy(), 44100, subtype="FLOAT")
    audio_set = scan(tmp_path, "generated")
    for name, path in (("vggish", VGGISH_DIR), ("panns", PANNS_DIRS[32000])):
        embedder = build_embedder(name, **{name: str(path)})
        native = embedder.embed(_tones(2.0, embedder.sample_rate))
        for eval_rate in (None, 16000):  # straight to the model's rate, or through 16 kHz
            wav = load_clip(audio_set, 0, embedder.sample_rate, eval_rate)
            assert wav.shape[-1] == 2 * embedder.sample_rate
            got = embedder.embed(wav)
            assert got.shape == native.shape
            # measured 1.4e-5 (vggish), 3e-6 / 1.2e-5 (panns) of the largest value
            assert (got - native).abs().max() < 1e-3 * native.abs().max(), (name, eval_rate)
    unrelated = build_embedder("vggish", vggish=str(VGGISH_DIR))
    noise = unrelated.embed(resample(torch.randn(1, 88200) * 0.1, 44100, 16000))
    tones = unrelated.embed(_tones(2.0, 16000))
    assert (noise - tones).abs().max() > 1e-2 * tones.abs().max()  # the bound means something


# --------------------------------------------------------------------------- errors
def test_missing_weights_name_the_file_and_where_it_goes(tmp_path):
    with pytest.raises(AudiogenError, match="needs --vggish"):
        build_embedder("vggish")
    with pytest.raises(MissingFilesError, match="vggish-10086976.pth") as e:
        build_embedder("vggish", vggish=str(tmp_path))
    assert str(tmp_path) in str(e.value) and "--vggish" in str(e.value)
    with pytest.raises(MissingFilesError, match="vggish-10086976.pth"):
        build_embedder("vggish", vggish=str(tmp_path / "absent"))
    (tmp_path / "vggish-10086976.pth").write_bytes((VGGISH_DIR / "vggish-10086976.pth")
                                                   .read_bytes())
    with pytest.raises(MissingFilesError, match="vggish_pca_params-970ea276.pth"):
        build_embedder("vggish-pca", vggish=str(tmp_path))
    with pytest.raises(MissingFilesError, match=r"Cnn14_mAP=0\.431\.pth") as e:
        build_embedder("panns", panns=str(tmp_path))
    assert "Cnn14_16k_mAP=0.438.pth" in str(e.value) and str(tmp_path) in str(e.value)


def test_wrong_layouts_are_refused_with_the_file_named(tmp_path):
    from audiogen.eval.embedders.panns import PannsEmbedder
    from audiogen.eval.embedders.vggish import VGGishEmbedder

    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(AudiogenError, match="torchvggish layout") as e:
        VGGishEmbedder.from_path(wrong)
    assert str(wrong) in str(e.value)
    with pytest.raises(AudiogenError, match="CNN14 layout"):
        PannsEmbedder.from_path(wrong)
    # the VGGish file given as a PANNs checkpoint (and the other way round)
    with pytest.raises(AudiogenError, match="CNN14 layout"):
        PannsEmbedder.from_path(VGGISH_DIR / "vggish-10086976.pth")
    with pytest.raises(AudiogenError, match="torchvggish layout"):
        VGGishEmbedder.from_path(PANNS_DIRS[16000] / "Cnn14_16k_mAP=0.438.pth")
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(AudiogenError, match="cannot read .*notes.pth"):
        VGGishEmbedder.from_path(text)


def test_pickled_code_is_not_executed(tmp_path):
    """Only tensors, containers and numpy arrays are unpickled; any other global is refused."""
    from audiogen.eval.embedders.panns import PannsEmbedder

    path = tmp_path / "Cnn14_mAP=0.431.pth"
    torch.save({"model": {}, "args": argparse.Namespace(lr=1e-3)}, path)
    with pytest.raises(AudiogenError, match="safe .*weights-only") as e:
        PannsEmbedder.from_path(tmp_path)
    assert "argparse.Namespace" in str(e.value) and "keep only its weights" in str(e.value)


def test_pca_parameters_as_tensors_or_numpy_arrays_agree(tmp_path):
    """The PCA file may hold numpy arrays (as the fixture) or tensors: same output."""
    from audiogen.eval.embedders.vggish import PCA_FILE, WEIGHTS_FILE, VGGishPCAEmbedder
    from audiogen.eval.weights import read_torch_weights

    (tmp_path / WEIGHTS_FILE).write_bytes((VGGISH_DIR / WEIGHTS_FILE).read_bytes())
    params = read_torch_weights(VGGISH_DIR / PCA_FILE, "PCA")  # numpy arrays -> tensors
    torch.save(params, tmp_path / PCA_FILE)
    wav = _clip(16000)
    assert torch.equal(VGGishPCAEmbedder.from_path(tmp_path).embed(wav),
                       VGGishPCAEmbedder.from_path(VGGISH_DIR).embed(wav))


def test_evaluate_cli_with_vggish(tmp_path, capsys):
    from audiogen.cli.main import main

    for folder, shift in (("gen", 0.0), ("ref", 37.0)):
        (tmp_path / folder).mkdir()
        for k in range(3):
            t = np.arange(24000) / 16000
            x = 0.3 * np.sin(2 * np.pi * (300 * (k + 1) + shift) * t)
            sf.write(str(tmp_path / folder / f"c{k}.wav"), x.astype(np.float32), 16000)
    out = tmp_path / "report.json"
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--generated", str(tmp_path / "gen"), "--reference",
              str(tmp_path / "ref"), "-o", str(out), "--embedder", "vggish", "--vggish",
              str(VGGISH_DIR), "--classifier", "none", "--spectrograms", "0", "--threads", "1"])
    assert e.value.code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["settings"]["embedder"]["name"] == "vggish"
    assert report["fad"]["available"] and report["fad"]["value"] > 0
