"""PaSST port: parity with hear21passt on shared weights, segments, loading errors, KL use.

The fixtures (tools/passt_reference.py --write-fixtures) hold a reduced PaSST (64 wide, 2
blocks, 4 heads, 527 labels) in the released checkpoints' key layout, with seeded random
weights, and hear21passt 0.0.26's mel, logits and features on two clips for those weights.
"""

from pathlib import Path

import pytest
import torch

from audiogen.audio.io import resample
from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.eval.kl import build_classifier, check_classifier
from audiogen.eval.passt import CHECKPOINT, Passt
from audiogen.eval.passt.frontend import kaldi_mel_banks

FIXTURES = Path(__file__).parent / "fixtures" / "passt"
WEIGHTS = FIXTURES / "tiny_passt.pt"
HEADS = 4  # not stored in checkpoints; the full model's default (width / 64) is 12


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURES / "reference_outputs.pt", weights_only=True)


@pytest.fixture(scope="module")
def passt():
    return Passt.from_path(WEIGHTS, num_heads=HEADS)


def _clip(reference, key):
    return reference[key]["audio"].float().unsqueeze(0)  # [1, T] at 32 kHz


@pytest.mark.parametrize("key", ["a", "b"])  # 2.5 s and 0.6 s
def test_matches_hear21passt_outputs(passt, reference, key):
    wav, ref = _clip(reference, key), reference[key]
    mel = passt.frontend(wav)[0]
    logits, features = passt.forward_segments(wav)
    assert mel.shape == ref["mel"].shape
    assert (mel - ref["mel"]).abs().max() < 1e-5  # measured 0 (same float32 mel banks)
    assert (logits[0] - ref["logits"]).abs().max() < 1e-4  # measured 2.9e-6
    assert (features[0] - ref["features"]).abs().max() < 1e-4  # measured 7.2e-7
    probs = passt.probabilities(wav)
    assert (probs - torch.softmax(ref["logits"], -1)).abs().max() < 1e-6
    assert probs.max() > 0.05  # far from uniform (1/527): the comparison has teeth


def test_a_wrong_head_count_breaks_parity(reference):
    """The check can fail: splitting attention into other heads changes the logits."""
    wrong = Passt.from_path(WEIGHTS, num_heads=2)
    logits, _ = wrong.forward_segments(_clip(reference, "a"))
    assert (logits[0] - reference["a"]["logits"]).abs().max() > 1e-2


def test_kaldi_mel_banks_shape_and_triangles():
    banks = kaldi_mel_banks(128, 1024, 32000, 0.0, 15000.0)
    assert banks.shape == (128, 513)
    assert (banks >= 0).all() and (banks <= 1).all()
    assert (banks[:, -1] == 0).all()  # Nyquist bin unused
    assert (banks[:, 481:] == 0).all()  # bin 480 x 31.25 Hz = 15 kHz: nothing above fmax
    peaks = banks.argmax(dim=1)
    assert (peaks[1:] >= peaks[:-1]).all()


def test_shapes_ranges_and_determinism(passt, reference):
    wav = _clip(reference, "a")
    probs, tags = passt.probabilities(wav), passt.tag_probabilities(wav)
    assert probs.shape == tags.shape == (527,)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert ((tags >= 0) & (tags <= 1)).all() and ((probs >= 0) & (probs <= 1)).all()
    assert passt.embed(wav).shape == (1, 64)
    assert torch.equal(passt.probabilities(wav), probs)
    assert len(passt.labels) == 527 and passt.labels[3] == "label_3"
    info = passt.describe()
    assert info["name"] == "passt" and info["sample_rate"] == 32000 and info["labels"] == 527


def test_long_clips_are_averaged_over_10s_segments(passt):
    g = torch.Generator().manual_seed(3)
    wav = 0.1 * torch.randn(1, 12 * 32000, generator=g)
    parts = [wav[:, :320000], wav[:, 320000:]]
    expected = torch.stack([passt.probabilities(p) for p in parts]).mean(dim=0)
    assert torch.allclose(passt.probabilities(wav), expected, atol=1e-6)
    assert passt.embed(wav).shape == (2, 64)
    # a last piece of 0.15 s or less is dropped, as audiocraft's KL metric does
    tail = torch.cat([parts[0], wav[:, 320000:320000 + 3200]], dim=1)
    assert torch.equal(passt.probabilities(tail), passt.probabilities(parts[0]))
    with pytest.raises(AudiogenError, match="too short"):
        passt.probabilities(wav[:, :4800])


def test_stereo_is_averaged_and_16khz_is_resampled(passt, reference):
    wav = _clip(reference, "a")
    stereo = torch.cat([wav * 0.5, wav * 1.5])
    assert torch.allclose(passt.probabilities(stereo), passt.probabilities(wav), atol=1e-6)
    wav16 = resample(wav, 32000, 16000)
    probs16 = passt.probabilities(wav16, sample_rate=16000)
    assert torch.equal(probs16, passt.probabilities(resample(wav16, 16000, 32000)))
    assert probs16.shape == (527,)
    # the band below 8 kHz survives: closer to the original than another clip is
    other = passt.probabilities(torch.roll(wav, 12345, dims=1).flip(-1))
    assert (probs16 - passt.probabilities(wav)).abs().sum() < (other - probs16).abs().sum()


def test_missing_checkpoint_names_file_and_place(tmp_path):
    with pytest.raises(MissingFilesError) as e:
        Passt.from_path(tmp_path)
    assert CHECKPOINT in str(e.value) and str(tmp_path) in str(e.value)
    with pytest.raises(MissingFilesError, match="elsewhere.pt"):
        Passt.from_path(tmp_path / "elsewhere.pt")


def test_wrong_layouts_are_clear_errors(tmp_path):
    state = torch.load(WEIGHTS, weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("head.")}, bad)
    with pytest.raises(AudiogenError, match="not a PaSST checkpoint.*head.0.weight"):
        Passt.from_path(bad)
    torch.save({**state, "blocks.5.norm1.weight": state["norm.weight"]}, bad)
    with pytest.raises(AudiogenError, match="transformer blocks"):
        Passt.from_path(bad)
    torch.save({**state, "blocks.0.mlp.fc1.weight": state["blocks.0.mlp.fc1.weight"][:7]}, bad)
    with pytest.raises(AudiogenError, match="does not fit"):
        Passt.from_path(bad)
    bad.write_bytes(b"not a torch file")
    with pytest.raises(AudiogenError, match="weights_only=True"):
        Passt.from_path(bad)
    torch.save({"weights": [1, 2]}, bad)
    with pytest.raises(AudiogenError, match="dict of tensors"):
        Passt.from_path(bad)


def test_wrapped_checkpoints_and_label_csv(tmp_path, reference):
    state = torch.load(WEIGHTS, weights_only=True)
    wav = _clip(reference, "b")
    expected = Passt.from_path(WEIGHTS, num_heads=HEADS).probabilities(wav)
    for i, wrapped in enumerate([{"model": state}, {f"net.{k}": v for k, v in state.items()}]):
        (tmp_path / str(i)).mkdir()
        torch.save(wrapped, tmp_path / str(i) / CHECKPOINT)
        loaded = Passt.from_path(tmp_path / str(i), num_heads=HEADS)  # a directory works too
        assert torch.equal(loaded.probabilities(wav), expected)
    rows = ["index,mid,display_name"] + [f'{i},/m/{i},"Sound {i}, kind"' for i in range(527)]
    (tmp_path / "0" / "class_labels_indices.csv").write_text("\n".join(rows) + "\n")
    named = Passt.from_path(tmp_path / "0")
    assert named.labels[5] == "Sound 5, kind" and named.describe()["label_names"] != "indices"
    (tmp_path / "0" / "class_labels_indices.csv").write_text("\n".join(rows[:10]) + "\n")
    with pytest.raises(AudiogenError, match="9 labels"):
        Passt.from_path(tmp_path / "0")


def test_registered_as_kl_classifier_and_embedder():
    from audiogen.eval.embedders import build_embedder

    assert check_classifier("passt", str(WEIGHTS))[0] == "audiogen.eval.passt"
    with pytest.raises(AudiogenError, match="needs --classifier-weights"):
        check_classifier("passt")
    passt = build_classifier("passt", str(WEIGHTS))
    assert isinstance(passt, Passt) and passt.net.config.num_heads == 1  # 64 / 64
    with pytest.raises(AudiogenError, match="needs --passt"):
        build_embedder("passt")
    embedder = build_embedder("passt", passt=str(WEIGHTS))
    assert embedder.dim == 64 and embedder.fingerprint


def test_evaluate_cli_reports_passt_kl(tmp_path, capsys):
    """`audiogen evaluate` with PaSST as FAD embedder and KL classifier, on 16 kHz files."""
    import json

    import soundfile as sf

    from audiogen.cli.main import main

    g = torch.Generator().manual_seed(5)
    for folder, scale in (("gen", 0.3), ("ref", 0.1)):
        (tmp_path / folder).mkdir()
        for k in range(3):
            wav = scale * torch.randn(16000, generator=g) * torch.linspace(0, 1, 16000) ** k
            sf.write(str(tmp_path / folder / f"clip{k}.wav"), wav.numpy(), 16000)
    out = tmp_path / "out" / "report.json"
    argv = ["evaluate", "--generated", str(tmp_path / "gen"), "--reference",
            str(tmp_path / "ref"), "-o", str(out), "--embedder", "passt", "--passt",
            str(WEIGHTS), "--classifier", "passt", "--classifier-weights", str(WEIGHTS),
            "--pooling", "clip", "--spectrograms", "0", "--threads", "1"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code in (0, None), capsys.readouterr().err
    report = json.loads(out.read_text())
    kl = report["kl"]
    assert kl["available"] and kl["pairs"] == 3 and kl["value"] > 0
    assert kl["classifier"]["name"] == "passt" and kl["classifier"]["weights"] == str(WEIGHTS)
    assert report["fad"]["available"] and report["settings"]["embedder"]["dim"] == 64
