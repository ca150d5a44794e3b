"""`audiogen evaluate-codec`: metrics of reconstructions and of Opus via ffmpeg."""

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.cli.main import main
from audiogen.eval.codec_eval import (
    CodecEvalConfig,
    clip_metrics,
    evaluate_codec,
    ffmpeg_opus_available,
    markdown,
    opus_bitrates,
    opus_roundtrip,
)

needs_ffmpeg = pytest.mark.skipif(ffmpeg_opus_available() is not None,
                                  reason=f"needs ffmpeg with libopus: {ffmpeg_opus_available()}")


def _signal(seconds=1.0, sr=16000, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * math.pi * 440 * t) + 0.2 * np.sin(2 * math.pi * 1250 * t)
    return torch.from_numpy((x + 0.02 * rng.standard_normal(t.size)).astype(np.float32))[None]


@pytest.fixture
def tiny_codec(tmp_path):
    from audiogen.codec import Codec, CodecConfig

    codec = Codec(CodecConfig(n_filters=4, ratios=[8, 5], dimension=8, lstm_layers=0, n_q=2,
                              bins=16))
    codec.save(tmp_path / "codec")
    return tmp_path / "codec"


def test_opus_bitrates_are_6_kbps_1x_and_3x_at_least_the_libopus_minimum():
    assert opus_bitrates(2200) == {"opus-6kbps": 6000, "opus-6.6kbps": 6600}
    assert opus_bitrates(1000) == {"opus-6kbps": 6000}
    assert opus_bitrates(8000) == {"opus-6kbps": 6000, "opus-8kbps": 8000, "opus-24kbps": 24000}


def test_clip_metrics_on_identical_and_degraded_audio():
    x = _signal()
    same = clip_metrics(x, x, 16000, speech=False)
    assert same["si_snr"] > 60 and same["mel_distance"] == pytest.approx(0.0, abs=1e-6)
    noisy = clip_metrics(x + 0.1 * torch.randn_like(x), x, 16000, speech=False)
    assert noisy["si_snr"] < 10 and noisy["mel_distance"] > 0.01


@needs_ffmpeg
def test_opus_roundtrip_is_aligned_and_improves_with_bitrate(tmp_path):
    x = _signal()
    low = clip_metrics(opus_roundtrip(x, 16000, 6000, tmp_path), x, 16000, False)
    high = opus_roundtrip(x, 16000, 64000, tmp_path)
    assert high.shape == x.shape
    high_m = clip_metrics(high, x, 16000, False)
    assert high_m["si_snr"] > 15  # a misaligned decode would score near 0 dB
    assert high_m["si_snr"] > low["si_snr"] and high_m["mel_distance"] < low["mel_distance"]


def _data(tmp_path, clips=2, seconds=1.0):
    data = tmp_path / "data"
    data.mkdir()
    for k in range(clips):
        sf.write(str(data / f"c{k}.wav"), _signal(seconds=seconds, seed=k)[0].numpy(), 16000)
    return data


def _evaluate(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(["evaluate-codec", "--threads", "1", *argv])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    return out.out


@needs_ffmpeg
def test_cli_writes_report_with_opus_rows(tmp_path, tiny_codec, capsys):
    out = tmp_path / "out" / "codec.json"
    printed = _evaluate(capsys, "--model", str(tiny_codec), "--data", str(_data(tmp_path)),
                        "-o", str(out), "--no-pitch")
    report = json.loads(out.read_text())
    assert list(report["systems"]) == ["codec", "opus-6kbps", "opus-9.6kbps"]
    assert report["systems"]["codec"]["bitrate"] == 3200  # 2 codebooks x 4 bits x 400 Hz
    assert report["systems"]["opus-9.6kbps"]["bitrate"] == 9600  # 3x the codec's
    assert report["files"] == 2 and report["opus"]["available"]
    assert report["pitch"] == {"available": False, "reason": "not requested (--no-pitch)"}
    for row in report["systems"].values():
        assert math.isfinite(row["si_snr"]) and row["mel_distance"] >= 0
        assert "pitch_50c" not in row
    assert [c["file"] for c in report["clips"]] == ["c0.wav", "c1.wav"]
    for name, row in report["systems"].items():  # the rows are the means of the clips
        assert row["mel_distance"] == pytest.approx(
            np.mean([c[name]["mel_distance"] for c in report["clips"]]))
    md = out.with_suffix(".md").read_text()
    assert "| opus-9.6kbps |" in md and "6 kbps minimum" in md and "--no-pitch" in md
    codec, opus = (report["systems"][k]["mel_distance"] for k in ("codec", "opus-6kbps"))
    assert printed.splitlines()[-1] == \
        f"codec vs opus-6kbps mel distance: {codec:.3f} vs {opus:.3f}"


@pytest.mark.skipif(not importlib.util.find_spec("librosa"), reason="needs librosa")
@pytest.mark.skipif(not importlib.util.find_spec("matplotlib"), reason="needs matplotlib")
def test_cli_compares_codecs_with_pitch_and_pictures(tmp_path, tiny_codec, capsys):
    from audiogen.codec import Codec, CodecConfig

    torch.manual_seed(1)
    Codec(CodecConfig(n_filters=4, ratios=[8, 5], dimension=8, lstm_layers=0, n_q=1,
                      bins=16)).save(tmp_path / "old")
    out = tmp_path / "codec.json"
    printed = _evaluate(capsys, "--model", str(tiny_codec), "--model", str(tmp_path / "old"),
                        "--data", str(_data(tmp_path)), "-o", str(out), "--spectrograms", "1",
                        "--no-opus")
    report = json.loads(out.read_text())
    assert report["codecs"] == ["codec", "old"] and list(report["systems"]) == ["codec", "old"]
    assert report["systems"]["old"]["bitrate"] == 1600
    voiced = sum(c["voiced_frames"] for c in report["clips"])
    assert report["pitch"] == {"available": True, "voiced_frames": voiced} and voiced > 40
    for name, row in report["systems"].items():  # pooled: hits over all voiced frames
        hits = sum(c[name]["pitch_50c"] * c["voiced_frames"] for c in report["clips"])
        assert row["pitch_50c"] == pytest.approx(hits / voiced)
    assert report["spectrograms"] == ["codec_files/clip_00.png"]
    assert sorted(p.name for p in (tmp_path / "codec_files").iterdir()) == ["clip_00.png"]
    md = out.with_suffix(".md").read_text()
    assert "## Pitch fidelity per clip" in md and "](codec_files/clip_00.png)" in md
    assert printed.splitlines()[-1] == (
        f"codec vs opus-6kbps mel distance: {report['systems']['codec']['mel_distance']:.3f}"
        " vs n/a")


def test_unvoiced_clips_have_no_pitch_score(tmp_path, tiny_codec):
    pytest.importorskip("librosa")
    from audiogen.codec import Codec

    path = tmp_path / "noise.wav"
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    sf.write(str(path), 0.3 * noise, 16000)
    result = evaluate_codec({"codec": Codec.load(tiny_codec)}, [path],
                            CodecEvalConfig(opus=False))
    assert result["pitch"] == {"available": True, "voiced_frames": 0}
    assert result["systems"]["codec"]["pitch_50c"] is None
    assert result["clips"][0]["codec"]["pitch_50c"] is None
    report = {**result, "models": ["m"], "data": "d"}
    assert "Pitch fidelity: n/a, the clips have no voiced frames." in markdown(report)
    assert "| codec | 3.20 |" in markdown(report)


def test_without_librosa_pitch_is_left_out_with_the_reason(tmp_path, tiny_codec, capsys,
                                                          monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "librosa" else real(name, *a))
    printed = _evaluate(capsys, "--model", str(tiny_codec), "--data",
                        str(_data(tmp_path, clips=1)), "--no-opus")
    assert ("Pitch fidelity: not measured (librosa is not installed: "
            "pip install 'audiogen[eval]').") in printed
    assert "pitch_50c |" not in printed


def test_cli_errors(tmp_path, tiny_codec, capsys):
    data = str(_data(tmp_path, clips=1))
    for argv, message in ((["--spectrograms", "2"], "--spectrograms needs -o REPORT.json"),
                          (["--model", str(tiny_codec)], "the same --model is given twice")):
        with pytest.raises(SystemExit) as e:
            main(["evaluate-codec", "--model", str(tiny_codec), "--data", data, *argv])
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_without_ffmpeg_opus_is_not_available(tmp_path, tiny_codec, monkeypatch):
    from audiogen.codec import Codec

    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "a.wav"
    sf.write(str(path), _signal(seconds=0.5)[0].numpy(), 16000)
    result = evaluate_codec({"codec": Codec.load(tiny_codec)}, [Path(path)],
                            CodecEvalConfig(pitch=False))
    assert set(result["systems"]) == {"codec"}
    assert result["opus"] == {"available": False,
                              "reason": "ffmpeg is not installed (e.g. apt-get install ffmpeg)"}


@pytest.mark.skipif(not all(__import__("importlib").util.find_spec(m) for m in ("pesq", "pystoi")),
                    reason="pesq / pystoi not installed")
def test_speech_metrics_when_installed():
    x = _signal(seconds=2.0)
    m = clip_metrics(x + 0.01 * torch.randn_like(x), x, 16000, speech=True)
    assert 1.0 <= m["pesq_wb"] <= 4.7 and 0 <= m["stoi"] <= 1


def test_manifest_split_and_an_evenly_spaced_sample(tmp_path, tiny_codec, capsys):
    """--data MANIFEST evaluates its --split rows; --max-files takes every k-th of the sorted
    files, so each source of a mixed set keeps its share."""
    from audiogen.data.manifest import ManifestEntry, write_manifest
    from audiogen.eval.audio_sets import list_eval_audio

    data = _data(tmp_path, clips=6)
    rows = [ManifestEntry(path=f"data/c{k}.wav", duration=1.0, split="test" if k < 4 else "train")
            for k in range(6)]
    manifest = write_manifest(tmp_path / "manifest.jsonl", rows)
    files, root = list_eval_audio(manifest)
    assert [f.name for f in files] == ["c0.wav", "c1.wav", "c2.wav", "c3.wav"]
    assert root == tmp_path.resolve()
    assert [f.name for f in list_eval_audio(manifest, max_files=2)[0]] == ["c0.wav", "c2.wav"]
    assert [f.name for f in list_eval_audio(data, max_files=3)[0]] == ["c0.wav", "c2.wav",
                                                                        "c4.wav"]
    out = tmp_path / "report.json"
    _evaluate(capsys, "--model", str(tiny_codec), "--data", str(manifest), "--split", "train",
              "--no-opus", "--no-pitch", "-o", str(out))
    report = json.loads(out.read_text())
    assert [c["file"] for c in report["clips"]] == ["data/c4.wav", "data/c5.wav"]
    assert report["settings"]["split"] == "train"


def test_bottleneck_views_decode_the_latent_and_the_first_codebooks(tiny_codec):
    from audiogen.codec import Codec
    from audiogen.eval.codec_views import bottleneck_views

    codec = Codec.load(tiny_codec)
    views = bottleneck_views("c", codec)
    assert list(views) == ["c/latent", "c/q1"]  # K = 2: the latent and the first codebook
    wav = _signal(seconds=0.1)[None]
    with torch.no_grad():
        latent = views["c/latent"].encode(wav)
        assert torch.equal(views["c/latent"].decode(latent), codec.decoder(codec.encoder(wav)))
    codes = views["c/q1"].encode(wav)
    assert torch.equal(codes, codec.encode(wav)[:, :1])
    assert torch.equal(views["c/q1"].decode(codes), codec.decode(codec.encode(wav)[:, :1]))
    assert views["c/q1"].bitrate == codec.bitrate / 2
    assert views["c/latent"].bitrate == 8 * 32 * codec.frame_rate  # D float32 numbers a frame


def test_cli_bottleneck_adds_the_views_rows(tmp_path, tiny_codec, capsys):
    out = tmp_path / "codec.json"
    _evaluate(capsys, "--model", str(tiny_codec), "--data", str(_data(tmp_path)), "-o", str(out),
              "--no-pitch", "--no-opus", "--bottleneck")
    report = json.loads(out.read_text())
    assert list(report["systems"]) == ["codec", "codec/latent", "codec/q1"]
    assert all(math.isfinite(r["mel_distance"]) for r in report["systems"].values())
