"""`audiogen evaluate` end to end on small synthetic folders, and its error messages."""

import importlib.util
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.cli.main import main

needs_aisfx = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None,
                                 reason="aisfx weights not installed: "
                                        "pip install --no-deps aisfx==0.1.2")


def _tone(freq, seconds=1.0, sr=16000, noise=0.0, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * math.pi * freq * t) + noise * rng.standard_normal(t.size)) \
        .astype(np.float32)


def _folder(path, names, sr=16000, noise=0.0, shift=0.0):
    path.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        sf.write(str(path / f"{name}.wav"), _tone(200 * (k + 1) + shift, sr=sr, noise=noise,
                                                  seed=k), sr)
    return path


def _run(argv, capsys):
    threads = torch.get_num_threads()
    with pytest.raises(SystemExit) as e:
        main([*argv, "--threads", "1"])  # one thread: fastest on a shared, busy machine
    torch.set_num_threads(threads)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture
def codec_dir(tmp_path):
    from audiogen.codec import Codec, CodecConfig

    Codec(CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=0, n_q=2,
                      bins=16)).save(tmp_path / "codec")
    return str(tmp_path / "codec")


def _evaluate(tmp_path, gen, ref, codec_dir, *extra):
    return ["evaluate", "--generated", str(gen), "--reference", str(ref), "-o",
            str(tmp_path / "out" / "report.json"), "--embedder", "codec", "--codec", codec_dir,
            "--classifier", "none", *extra]


NAMES = [f"clip{k}" for k in range(8)]


@needs_aisfx
def test_end_to_end_with_aisfx_is_deterministic(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUDIOGEN_CACHE", str(tmp_path / "cache"))
    gen = _folder(tmp_path / "gen", NAMES[:4], noise=0.05)
    ref = _folder(tmp_path / "ref", NAMES[:4])
    argv = ["evaluate", "--generated", str(gen), "--reference", str(ref), "-o",
            str(tmp_path / "out" / "report.json"), "--spectrograms", "2"]
    code, out, _ = _run(argv, capsys)
    assert code == 0, out
    first = (tmp_path / "out" / "report.json").read_bytes()
    report = json.loads(first)
    assert report["fad"]["available"] and report["fad"]["value"] > 0
    assert report["fad"]["n_generated"] == report["fad"]["n_reference"] == 4
    assert report["fad_inf"]["available"] and len(report["fad_inf"]["points"]) >= 3
    assert report["kl"]["available"] and report["kl"]["pairs"] == 4 and report["kl"]["value"] > 0
    assert report["clap"] == {"available": False, "reason": "no captions given (--captions FILE)"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| FAD (aisfx) |" in md and "not available" in md
    pngs = sorted((tmp_path / "out" / "report_files").glob("*.png"))
    assert len(pngs) == 2 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = _run(argv, capsys)
    assert code == 0 and (tmp_path / "out" / "report.json").read_bytes() == first


def test_set_against_itself_scores_zero_and_noise_raises_it(tmp_path, capsys, codec_dir):
    ref = _folder(tmp_path / "ref", NAMES)
    values = []
    for noise in (0.0, 0.05, 0.3):
        gen = _folder(tmp_path / f"gen{noise}", NAMES, noise=noise)
        code, _, err = _run(_evaluate(tmp_path, gen, ref, codec_dir, "--spectrograms", "0"),
                            capsys)
        assert code == 0, err
        values.append(json.loads((tmp_path / "out" / "report.json").read_text())["fad"]["value"])
    assert values[0] == pytest.approx(0.0, abs=1e-9)
    assert values[2] > values[1] > 100 * max(values[0], 1e-12), values


def test_empty_folder_is_a_clear_error(tmp_path, capsys, codec_dir):
    (tmp_path / "empty").mkdir()
    ref = _folder(tmp_path / "ref", NAMES[:2])
    code, _, err = _run(_evaluate(tmp_path, tmp_path / "empty", ref, codec_dir), capsys)
    assert code == 2 and "holds no audio files" in err and "Traceback" not in err
    code, _, err = _run(_evaluate(tmp_path, tmp_path / "nowhere", ref, codec_dir), capsys)
    assert code == 2 and "does not exist" in err
    argv = [*_evaluate(tmp_path, ref, ref, codec_dir)[:-2], "--classifier", "passt",
            "--classifier-weights", str(tmp_path / "nowhere")]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "passt-s-f128-p16-s10-ap.476-swa.pt" in err and "Traceback" not in err


def test_unreadable_files_are_all_named(tmp_path, capsys, codec_dir):
    gen = _folder(tmp_path / "gen", NAMES[:3])
    (gen / "broken.wav").write_bytes(b"not audio at all")
    (gen / "empty.wav").write_bytes(b"")
    ref = _folder(tmp_path / "ref", NAMES[:3])
    code, _, err = _run(_evaluate(tmp_path, gen, ref, codec_dir), capsys)
    assert code == 2 and "2 of 5 generated files cannot be read" in err
    assert "broken.wav" in err and "empty.wav" in err


def test_silent_files_and_mismatched_rates_are_reported(tmp_path, capsys, codec_dir):
    gen = _folder(tmp_path / "gen", NAMES[:4], sr=22050)
    sf.write(str(gen / "quiet.wav"), np.zeros(22050, np.float32), 22050)
    ref = _folder(tmp_path / "ref", NAMES[:4], sr=16000)
    code, out, err = _run(_evaluate(tmp_path, gen, ref, codec_dir), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    warnings = " ".join(report["warnings"])
    assert "different sample rates" in warnings and "resampled to 16000 Hz" in warnings
    assert "1 generated file(s) are silent" in warnings and "quiet.wav" in warnings
    assert report["sets"]["generated"]["silent_files"] == ["quiet.wav"]
    assert report["sets"]["generated"]["sample_rates"] == {"22050": 5}
    assert "warning:" in out


def test_clap_without_weights_says_where_they_go(tmp_path, capsys, codec_dir):
    gen = _folder(tmp_path / "gen", NAMES[:4])
    captions = tmp_path / "captions.jsonl"
    captions.write_text("".join(json.dumps({"path": f"{n}.wav", "captions": [f"tone {n}"]})
                                + "\n" for n in NAMES[:4]))
    code, _, err = _run(_evaluate(tmp_path, gen, gen, codec_dir, "--captions", str(captions),
                                  "--clap", str(tmp_path / "clap")), capsys)
    assert code == 0, err
    clap = json.loads((tmp_path / "out" / "report.json").read_text())["clap"]
    assert clap["available"] is False and "value" not in clap
    assert str(tmp_path / "clap") in clap["details"] and "model.safetensors" in clap["details"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| CLAP score | not available |" in md


def test_read_captions_formats(tmp_path):
    from audiogen.errors import AudiogenError
    from audiogen.eval.pipeline import read_captions

    jl = tmp_path / "c.jsonl"
    jl.write_text('{"path": "sub/a.wav", "captions": ["a dog"]}\n{"name": "b", "caption": "rain"}\n')
    assert read_captions(jl) == {"a": "a dog", "b": "rain"}
    tsv = tmp_path / "c.tsv"
    tsv.write_text("a.wav\ta dog barks\n\nb\train\n")
    assert read_captions(tsv) == {"a": "a dog barks", "b": "rain"}
    bad = tmp_path / "bad.txt"
    bad.write_text("no tab here\n")
    with pytest.raises(AudiogenError, match="bad.txt:1"):
        read_captions(bad)


def test_clip_pooling_and_too_few_files_for_fad_inf(tmp_path, capsys, codec_dir):
    gen = _folder(tmp_path / "gen", NAMES[:3], noise=0.1)
    ref = _folder(tmp_path / "ref", NAMES[:3])
    code, _, err = _run(_evaluate(tmp_path, gen, ref, codec_dir, "--pooling", "clip"), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["fad"]["vectors_generated"] == 3 and report["fad"]["available"]
    assert report["fad_inf"]["available"] is False
    assert "too few generated files" in report["fad_inf"]["reason"]
    code, _, err = _run(_evaluate(tmp_path, gen, ref, codec_dir, "--pooling", "clip",
                                  "--fad-n", "1"), capsys)
    assert code == 2 and "only 1 embedding vector" in err


@needs_aisfx
def test_kl_from_shared_aisfx_frames_equals_kl_from_audio(tmp_path, monkeypatch):
    from audiogen.eval.audio_sets import scan
    from audiogen.eval.embedders import build_embedder
    from audiogen.eval.pipeline import EvalConfig, embed_set, kl_section

    monkeypatch.setenv("AUDIOGEN_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = scan(_folder(tmp_path / "gen", NAMES[:3], noise=0.1), "generated")
    ref = scan(_folder(tmp_path / "ref", NAMES[:3]), "reference")
    cfg = EvalConfig()
    emb = build_embedder("aisfx")
    frames = ("aisfx", embed_set(emb, gen, cfg), embed_set(emb, ref, cfg))
    shared, direct = kl_section(gen, ref, cfg, frames), kl_section(gen, ref, cfg)
    torch.set_num_threads(threads)
    assert shared["pairs"] == direct["pairs"] == 3
    assert shared["value"] == pytest.approx(direct["value"], rel=1e-6)
    assert shared["value"] > 0


def test_embedding_cache_is_used_and_invalidated(tmp_path, capsys, codec_dir, monkeypatch):
    from audiogen.eval.embedders.codec_latents import CodecLatentEmbedder

    gen = _folder(tmp_path / "gen", NAMES[:4], noise=0.1)
    ref = _folder(tmp_path / "ref", NAMES[:4])
    argv = _evaluate(tmp_path, gen, ref, codec_dir, "--cache", str(tmp_path / "cache"),
                     "--spectrograms", "0")
    assert _run(argv, capsys)[0] == 0
    first = (tmp_path / "out" / "report.json").read_text()
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 8

    def refuse(self, wav):
        raise AssertionError("embedded again despite the cache")

    monkeypatch.setattr(CodecLatentEmbedder, "embed", refuse)
    assert _run(argv, capsys)[0] == 0
    assert (tmp_path / "out" / "report.json").read_text() == first
    monkeypatch.undo()
    sf.write(str(gen / "clip0.wav"), np.zeros(16000, np.float32), 16000)  # a changed file
    assert _run(argv, capsys)[0] == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["sets"]["generated"]["silent_files"] == ["clip0.wav"]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 9


def test_duplicate_names_only_disable_kl(tmp_path, capsys, codec_dir):
    gen = _folder(tmp_path / "gen", NAMES[:3])
    _folder(gen / "sub", NAMES[:1])  # gen/sub/clip0.wav beside gen/clip0.wav
    ref = _folder(tmp_path / "ref", NAMES[:3])
    argv = [*_evaluate(tmp_path, gen, ref, codec_dir)[:-2], "--classifier", "aisfx"]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["fad"]["available"] and report["fad"]["n_generated"] == 4
    assert report["kl"]["available"] is False and "share the name" in report["kl"]["reason"]
