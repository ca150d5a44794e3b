"""The judge: training on procedural classes, save/load, the Classifier protocol, KL through
`audiogen evaluate`'s KL section, and the agreement arithmetic. Nothing here reads the corpus."""

import importlib.util
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.eval.judge import (
    Judge,
    JudgeConfig,
    JudgeHead,
    accuracy_report,
    agreement_from_probabilities,
    both_in_top_k,
    default_judge_dir,
    judge_agreement,
)
from audiogen.eval.judge_train import SplitFeatures, corpus_splits, fit_head
from audiogen.eval.kl import build_classifier

needs_aisfx = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None,
                                 reason="aisfx weights not installed: "
                                        "pip install --no-deps aisfx==0.1.2")
SR = 16000
CLASSES = ("tone", "noise", "clicks")


def _clip(kind: str, seed: int, seconds: float = 1.5) -> np.ndarray:
    """A procedural clip: a sine tone, white noise or a click train, with random settings."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    if kind == "tone":
        t = np.arange(n) / SR
        wav = np.sin(2 * math.pi * rng.uniform(300, 2000) * t)
    elif kind == "noise":
        wav = rng.standard_normal(n) * 0.5
    else:
        wav = np.zeros(n)
        period = int(SR / rng.uniform(4, 10))
        wav[rng.integers(0, period)::period] = 1.0
    return (rng.uniform(0.2, 0.6) * wav).astype(np.float32)


class BandEmbedder:
    """A cheap stand-in embedder: log energy in 8 bands per 0.1 s frame, `[F, 8]`."""

    name = "bands"
    sample_rate = SR
    dim = 8

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        frames = wav.mean(dim=0).unfold(0, 1600, 1600)  # [F, 1600]
        spec = torch.fft.rfft(frames).abs().pow(2)[:, 1:]  # [F, 800]
        return torch.log(spec.reshape(spec.shape[0], 8, -1).mean(dim=2) + 1e-8)

    def describe(self) -> dict:
        return {"name": self.name, "sample_rate": self.sample_rate, "dim": self.dim}


def _random_judge(labels=CLASSES, hidden=0, dim=8) -> Judge:
    head = JudgeHead(dim, len(labels), hidden=hidden)
    head.feature_mean.normal_()
    head.feature_std.uniform_(0.5, 2.0)
    return Judge(head, list(labels), JudgeConfig(embedder="bands", hidden=hidden),
                 BandEmbedder().describe(), {"test": {"n": 3, "top1": 1.0}},
                 embedder=BandEmbedder())


# --------------------------------------------------------------------------- no audio model
def test_clip_probabilities_are_the_mean_of_block_softmax():
    judge = _random_judge()
    frames = [torch.randn(1, 8), torch.randn(3, 8), torch.randn(2, 8)]
    split = SplitFeatures.from_frames(frames, torch.tensor([0, 1, 2]))
    with torch.no_grad():
        batched = split.clip_probabilities(judge.head)
    for i, f in enumerate(frames):  # the training-time batch path equals the judge's own
        expected = torch.softmax(judge.head(f), dim=-1).mean(dim=0)
        assert torch.allclose(batched[i], expected, atol=1e-6)
        assert torch.allclose(judge.probabilities_from_frames(f), expected, atol=1e-6)
    with pytest.raises(ValueError):
        judge.probabilities_from_frames(torch.zeros(0, 8))


def test_fit_head_learns_separable_features_and_keeps_best_valid_step():
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(4, 16, generator=g)

    def split(n):  # clips of 1-3 blocks around their class centre
        targets = torch.arange(4).repeat(n)
        frames = [centres[t] + torch.randn(1 + i % 3, 16, generator=g)
                  for i, t in enumerate(targets)]
        return SplitFeatures.from_frames(frames, targets)

    train, valid = split(10), split(5)
    for hidden in (0, 32):
        head, score = fit_head([train], valid, None, 4, JudgeConfig(hidden=hidden, epochs=100))
        assert score["valid_top1"] == 1.0 and score["step"] % 10 == 0
        assert torch.allclose(head.feature_mean, train.blocks.mean(dim=0))
        with torch.no_grad():
            assert (valid.clip_probabilities(head).argmax(dim=1) == valid.targets).all()


def test_mixture_targets_split_probability_between_their_two_labels():
    """Mixtures train with 1/2 + 1/2 targets: a head fitted on singles plus mixtures that all
    sit at one new point learns to give that point about 1/2 to each of the two labels."""
    g = torch.Generator().manual_seed(1)
    centres = 3 * torch.randn(4, 16, generator=g)
    targets = torch.arange(4).repeat(10)
    singles = SplitFeatures.from_frames([centres[t][None] + 0.3 * torch.randn(1, 16, generator=g)
                                         for t in targets], targets)
    point = -centres.mean(dim=0)  # away from every centre
    pairs = torch.tensor([[0, 2]] * 20)
    mixtures = SplitFeatures.from_frames([point[None] + 0.3 * torch.randn(1, 16, generator=g)
                                          for _ in pairs], pairs)
    soft = mixtures.soft_targets(4)
    assert soft[0].tolist() == [0.5, 0.0, 0.5, 0.0]
    assert singles.soft_targets(4)[1].tolist() == [0.0, 1.0, 0.0, 0.0]
    head, score = fit_head([singles, mixtures], singles, mixtures, 4,
                           JudgeConfig(hidden=0, epochs=300))
    assert score["valid_top1"] == 1.0 and score["valid_two_event"] == 1.0
    with torch.no_grad():
        p = torch.softmax(head(point[None]), dim=-1)[0]
    assert p[0] > 0.3 and p[2] > 0.3 and p[1] + p[3] < 0.2


def test_corpus_splits_keep_speed_copies_out_of_valid_and_test():
    def row(split, label, variant=False):
        return ManifestEntry(path=f"{split}-{label}-{variant}.flac", duration=1.0, split=split,
                             label=label, extra={"variant_of": "x"} if variant else {})

    rows = [row("train", "a"), row("train", "a", True), row("train", "b"), row("valid", "a"),
            row("valid", "b", True), row("test", "b"), row("test", "a", True)]
    labels, splits = corpus_splits(rows)
    assert labels == ["a", "b"]
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [3, 1, 1]
    assert all("variant_of" not in e.extra for s in ("valid", "test") for e in splits[s])
    with pytest.raises(AudiogenError, match="not in train"):
        corpus_splits(rows + [row("test", "c")])
    with pytest.raises(AudiogenError, match="without a label"):
        corpus_splits(rows + [row("train", "")])


def test_accuracy_report_counts_top1_top3_and_per_class():
    labels = ["a", "b", "c", "d"]
    probs = torch.tensor([[0.7, 0.1, 0.1, 0.1],   # a: right
                          [0.4, 0.3, 0.2, 0.1],   # b: second -> top-3 only
                          [0.1, 0.2, 0.3, 0.4],   # a: fourth -> wrong in both
                          [0.1, 0.1, 0.1, 0.7]])  # d: right
    out = accuracy_report(probs, torch.tensor([0, 1, 0, 3]), labels)
    assert out["n"] == 4 and out["top1"] == 0.5 and out["top3"] == 0.75
    assert out["per_class"] == {"a": {"n": 2, "top1": 0.5}, "b": {"n": 1, "top1": 0.0},
                                "d": {"n": 1, "top1": 1.0}}
    assert {"true": "b", "predicted": "a", "count": 1} in out["confusions"]


def test_agreement_arithmetic():
    labels = ["bird", "speech_male", "rain", "wind"]
    probs = torch.tensor([[0.6, 0.2, 0.1, 0.1],   # single bird: top-1 -> agrees
                          [0.5, 0.3, 0.1, 0.1],   # single rain: third -> disagrees
                          [0.1, 0.2, 0.3, 0.4],   # single wind: agrees
                          [0.4, 0.35, 0.2, 0.05],  # bird + speech: both in top-3
                          [0.4, 0.05, 0.35, 0.2]])  # bird + speech: speech is last
    prompts = [["bird"], ["rain"], ["wind"], ["bird", "speech_male"], ["speech_male", "bird"]]
    out = agreement_from_probabilities(probs, labels, prompts, k=3)
    assert out["single_event"] == {"n": 3, "accuracy": round(2 / 3, 4)}
    assert out["two_event"] == {"n": 2, "both_found_rate": 0.5, "top_k": 3}
    assert [p["agrees"] for p in out["per_prompt"]] == [True, False, True, True, False]
    assert agreement_from_probabilities(probs[3:], labels, prompts[3:], k=2)[
        "two_event"]["both_found_rate"] == 0.5
    assert agreement_from_probabilities(probs[:1], labels, prompts[:1])["two_event"][
        "both_found_rate"] is None
    pairs = torch.tensor([[0, 1], [1, 0]])
    assert both_in_top_k(probs[3:], pairs, 3).tolist() == [True, False]
    assert both_in_top_k(probs[3:], pairs, 2).tolist() == [True, False]
    assert both_in_top_k(probs[3:], pairs, 4).tolist() == [True, True]
    with pytest.raises(AudiogenError, match="not known"):
        agreement_from_probabilities(probs[:1], labels, [["dog"]])
    with pytest.raises(AudiogenError, match="one or two"):
        agreement_from_probabilities(probs[:1], labels, [["bird", "rain", "wind"]])


def test_save_load_round_trip_and_classifier_protocol(tmp_path):
    judge = _random_judge(hidden=16)
    judge.save(tmp_path / "j")
    loaded = build_classifier("judge", str(tmp_path / "j"))
    assert isinstance(loaded, Judge) and loaded.labels == list(CLASSES)
    assert loaded.sample_rate == SR and loaded.config == judge.config
    assert loaded.accuracy == judge.accuracy
    loaded._embedder = BandEmbedder()
    wav = torch.from_numpy(_clip("noise", 1))[None]
    p = loaded.probabilities(wav)
    assert p.shape == (3,) and float(p.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(p, judge.probabilities(wav))
    assert loaded.describe()["name"] == "judge"
    with pytest.raises(AudiogenError, match="needs --classifier-weights"):
        build_classifier("judge")


def test_loading_refuses_missing_or_mismatched_files(tmp_path):
    with pytest.raises(MissingFilesError):
        Judge.from_path(tmp_path)
    _random_judge().save(tmp_path)
    meta = json.loads((tmp_path / "judge.json").read_text())
    (tmp_path / "judge.json").write_text(json.dumps({**meta, "labels": ["a", "b"]}))
    with pytest.raises(AudiogenError, match="does not match its judge.json"):
        Judge.from_path(tmp_path)
    (tmp_path / "judge.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(AudiogenError, match="audiogen-judge"):
        Judge.from_path(tmp_path)


def test_judge_agreement_resamples_and_scores_wavs():
    judge = _random_judge()
    wavs = [torch.from_numpy(_clip(k, 3))[None] for k in CLASSES]
    probs = torch.stack([judge.probabilities(w) for w in wavs])
    prompts = [[CLASSES[int(p.argmax())]] for p in probs]  # what it hears: full agreement
    out = judge_agreement(judge, wavs, prompts, sample_rate=SR)
    assert out["single_event"] == {"n": 3, "accuracy": 1.0}
    with pytest.raises(AudiogenError, match="clips for"):
        judge_agreement(judge, wavs[:2], prompts)


@pytest.mark.skipif(not (default_judge_dir() / "judge.json").is_file(),
                    reason="no shipped judge in audiogen/assets/judge")
def test_shipped_judge_loads_and_states_its_test_accuracy():
    judge = Judge.default()
    assert len(judge.labels) >= 10 and judge.embedder_name == "aisfx"
    assert judge.accuracy["test"]["n"] > 0 and 0 < judge.accuracy["test"]["top1"] <= 1
    weights = default_judge_dir() / "judge.safetensors"
    assert weights.stat().st_size < 1_000_000


class HalfGainCodec:
    """A stand-in codec whose "reconstruction" is the input at half gain, counted per call."""

    sample_rate = SR
    bitrate = 1800.0

    def __init__(self):
        self.calls = 0

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return wav

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return 0.5 * codes


def test_train_judge_with_a_codec_adds_and_measures_its_reconstructions(procedural_corpus):
    from audiogen.eval.judge_train import train_judge

    codec = HalfGainCodec()
    judge = train_judge(procedural_corpus, None, grid=[JudgeConfig(embedder="bands", epochs=300)],
                        embedder=BandEmbedder(), mixtures=0.5, eval_mixtures=4, codec=codec,
                        log=lambda msg: None)
    # every clip of every split, and every mixture, once more through the codec
    assert codec.calls == (18 + 6 + 6) + (9 + 4 + 4)
    for name in ("test", "test_codec"):
        assert judge.accuracy[name]["n"] == 6 and judge.accuracy[f"{name}_mixtures"]["n"] == 4
    assert judge.accuracy["test_codec"]["top1"] >= 0.8  # half gain: still the same sounds
    assert judge.trained_on["codec_reconstructions"]["bitrate_kbps"] == 1.8
    plain = train_judge(procedural_corpus, None, grid=[JudgeConfig(embedder="bands", epochs=300)],
                        embedder=BandEmbedder(), mixtures=0.5, eval_mixtures=4,
                        log=lambda msg: None)
    assert "test_codec" not in plain.accuracy and "codec_reconstructions" not in plain.trained_on


# --------------------------------------------------------------------------- with aisfx
@pytest.fixture(scope="module")
def procedural_corpus(tmp_path_factory):
    """A labelled manifest of procedural clips: 6 train, 2 valid, 2 test per class."""
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for c, kind in enumerate(CLASSES):
        for k in range(10):
            split = "train" if k < 6 else "valid" if k < 8 else "test"
            path = root / f"{kind}_{k}.flac"
            sf.write(str(path), _clip(kind, 100 * c + k), SR)
            rows.append(ManifestEntry(path=path.name, duration=1.5, sample_rate=SR,
                                      channels=1, split=split, label=kind))
    return write_manifest(root / "manifest.jsonl", rows)


@pytest.mark.slow  # about 25 s on the shared 2-core machine
@needs_aisfx
def test_train_judge_cli_learns_procedural_classes_and_gives_kl(procedural_corpus, tmp_path,
                                                              capsys):
    from audiogen.cli.main import main
    from audiogen.eval.audio_sets import scan
    from audiogen.eval.pipeline import EvalConfig, kl_section

    threads = torch.get_num_threads()
    out_dir, cache = tmp_path / "judge", tmp_path / "cache"
    with pytest.raises(SystemExit) as e:
        main(["train", "judge", "--corpus", str(procedural_corpus), "-o", str(out_dir),
              "--cache", str(cache), "--mixtures", "0.5", "--eval-mixtures", "4"])
    torch.set_num_threads(threads)
    assert e.value.code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "test     6 clips: top-1 1.000" in out and "4 two-clip mixtures" in out
    assert len(list(cache.glob("*.npz"))) == 30  # every clip embedded once, cached
    judge = Judge.from_path(out_dir)
    assert judge.labels == sorted(CLASSES) and judge.accuracy["test"]["top1"] == 1.0
    assert judge.trained_on["clips"] == {"train": 18, "valid": 6, "test": 6}
    assert judge.trained_on["mixtures"] == {"train": 9, "valid": 4, "test": 4}
    assert judge.accuracy["test_mixtures"]["n"] == 4

    # unseen clips, through the audio path (aisfx at 44.1 kHz via judge_agreement's resampling)
    wavs = [torch.from_numpy(_clip(k, 999))[None] for k in CLASSES]
    agreement = judge_agreement(judge, wavs, [[k] for k in CLASSES], sample_rate=SR)
    assert agreement["single_event"]["accuracy"] == 1.0

    # as the KL classifier of `audiogen evaluate`: same clips -> KL 0; other classes -> large
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    for folder in (gen, ref):
        folder.mkdir()
    for k, kind in enumerate(CLASSES):
        sf.write(str(ref / f"c{k}.wav"), _clip(kind, 500 + k), SR)
        sf.write(str(gen / f"c{k}.wav"), _clip(CLASSES[(k + 1) % 3], 600 + k), SR)
    cfg = EvalConfig(classifier="judge", classifier_weights=str(out_dir))
    same = kl_section(scan(ref, "generated"), scan(ref, "reference"), cfg)
    other = kl_section(scan(gen, "generated"), scan(ref, "reference"), cfg)
    assert same["available"] and same["classifier"]["name"] == "judge"
    assert same["value"] == pytest.approx(0.0, abs=1e-9) and other["value"] > 1.0
