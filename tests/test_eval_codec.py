"""`audiogen evaluate-codec`: metrics of reconstructions and of Opus via ffmpeg."""

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
    opus_bitrates,
    opus_roundtrip,
)

needs_ffmpeg = pytest.mark.skipif(ffmpeg_opus_available() is not None,
                                  reason=f"needs ffmpeg with libopus: {ffmpeg_opus_available()}")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_opus_bitrates_respect_the_libopus_minimum():
    assert opus_bitrates(2200) == {"opus_1x": 6000, "opus_3x": 6600}
    assert opus_bitrates(1000) == {"opus_1x": 6000, "opus_3x": 6000}
    assert opus_bitrates(6000) == {"opus_1x": 6000, "opus_3x": 18000}


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


@needs_ffmpeg
def test_cli_writes_report_with_opus_columns(tmp_path, tiny_codec, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for k in range(2):
        sf.write(str(data / f"c{k}.wav"), _signal(seed=k)[0].numpy(), 16000)
    out = tmp_path / "out" / "codec.json"
    with pytest.raises(SystemExit) as e:
        main(["evaluate-codec", "--model", str(tiny_codec), "--data", str(data), "-o", str(out),
              "--threads", "1"])
    assert e.value.code == 0
    report = json.loads(out.read_text())
    assert set(report["systems"]) == {"codec", "opus_1x", "opus_3x"}
    assert report["systems"]["codec"]["bitrate"] == 3200  # 2 codebooks x 4 bits x 400 Hz
    assert report["systems"]["opus_1x"]["bitrate"] == 6000  # raised to the minimum
    assert report["systems"]["opus_3x"]["bitrate"] == 9600
    assert report["files"] == 2 and report["opus"]["available"]
    for row in report["systems"].values():
        assert math.isfinite(row["si_snr"]) and row["mel_distance"] >= 0
    md = out.with_suffix(".md").read_text()
    assert "| opus_3x |" in md and "6 kbps minimum" in md


def test_without_ffmpeg_opus_is_not_available(tmp_path, tiny_codec, monkeypatch):
    from audiogen.codec import Codec

    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "a.wav"
    sf.write(str(path), _signal(seconds=0.5)[0].numpy(), 16000)
    result = evaluate_codec(Codec.load(tiny_codec), [Path(path)], CodecEvalConfig())
    assert set(result["systems"]) == {"codec"}
    assert result["opus"] == {"available": False,
                              "reason": "ffmpeg is not installed (e.g. apt-get install ffmpeg)"}


@pytest.mark.skipif(not all(__import__("importlib").util.find_spec(m) for m in ("pesq", "pystoi")),
                    reason="pesq / pystoi not installed")
def test_speech_metrics_when_installed():
    x = _signal(seconds=2.0)
    m = clip_metrics(x + 0.01 * torch.randn_like(x), x, 16000, speech=True)
    assert 1.0 <= m["pesq_wb"] <= 4.7 and 0 <= m["stoi"] <= 1
