import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.audio import (
    convert_channels,
    load_audio,
    loudness_normalize,
    peak_normalize,
    resample,
    rms_db,
    save_audio,
)
from audiogen.errors import AudiogenError, AudioReadError


def sine(freq=440.0, sr=16000, seconds=0.5, channels=1):
    t = torch.arange(int(sr * seconds)) / sr
    return (0.5 * torch.sin(2 * math.pi * freq * t)).repeat(channels, 1)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
def test_round_trip_formats(tmp_path, ext):
    wav = sine(channels=2)
    path = save_audio(tmp_path / f"a{ext}", wav, 16000)
    got, sr = load_audio(path)
    assert sr == 16000 and got.shape[0] == 2
    assert abs(got.shape[1] - wav.shape[1]) <= 1
    if ext != ".ogg":  # lossless formats
        assert torch.allclose(got, wav, atol=1e-3)


def test_resample_and_mono(tmp_path):
    path = save_audio(tmp_path / "a.wav", sine(sr=44100, channels=2), 44100)
    got, sr = load_audio(path, sample_rate=16000, channels=1)
    assert sr == 16000 and got.shape == (1, 8000)
    # a 440 Hz tone keeps its frequency after resampling
    spec = torch.fft.rfft(got[0]).abs()
    assert abs(spec.argmax().item() * 16000 / 8000 - 440) < 3


def test_offset_and_duration(tmp_path):
    path = save_audio(tmp_path / "a.wav", sine(seconds=1.0), 16000)
    got, _ = load_audio(path, offset=0.25, duration=0.5)
    assert got.shape == (1, 8000)


def test_resample_keeps_leading_dims():
    x = torch.randn(3, 2, 16000)
    y = resample(x, 16000, 8000)
    assert y.shape == (3, 2, 8000)


def test_channel_conversion():
    st = torch.stack([torch.ones(10), -torch.ones(10)])
    assert torch.allclose(convert_channels(st, 1), torch.zeros(1, 10))
    assert convert_channels(torch.ones(1, 10), 2).shape == (2, 10)
    with pytest.raises(AudiogenError):
        convert_channels(torch.ones(3, 10), 2)


def test_normalisation():
    x = sine()
    assert peak_normalize(x).abs().max().item() == pytest.approx(1.0, abs=1e-6)
    y = loudness_normalize(x, -25.0)
    assert rms_db(y).item() == pytest.approx(-25.0, abs=0.01)
    # a gain that would clip is lowered instead
    z = loudness_normalize(x, 0.0)
    assert z.abs().max().item() <= 1.0 + 1e-6


def test_missing_file(tmp_path):
    with pytest.raises(AudioReadError, match="no such audio file"):
        load_audio(tmp_path / "nope.wav")


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all")
    with pytest.raises(AudioReadError, match="bad.wav"):
        load_audio(bad)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioReadError, match="no samples"):
        load_audio(path)


def test_nan_file(tmp_path):
    path = tmp_path / "nan.wav"
    data = np.zeros((100, 1), dtype=np.float32)
    data[10] = np.nan
    sf.write(str(path), data, 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN"):
        load_audio(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = save_audio(tmp_path / "a.wav", sine(), 16000)
    before = path.read_bytes()
    with pytest.raises(AudiogenError):
        save_audio(path, torch.full((1, 10), float("nan")), 16000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temp file left behind


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    path = save_audio(tmp_path / "p.wav", sine(), 16000)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
