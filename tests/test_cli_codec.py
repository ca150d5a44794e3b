"""`audiogen train codec`, `audiogen encode`, `audiogen decode` from the command line."""

import dataclasses
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.audio.io import load_audio
from audiogen.cli.main import main
from audiogen.codec import Codec, CodecConfig
from audiogen.codec.codes_file import load_codes

TINY = {"n_filters": 4, "ratios": [4, 2], "dimension": 8, "lstm_layers": 0, "n_q": 2, "bins": 16}


def run_cli(*argv):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    return exit_info.value.code


def make_model(directory, seed=0):
    torch.manual_seed(seed)
    codec = Codec(CodecConfig(**TINY))
    codec.save(directory)
    return Codec.load(directory)


@pytest.fixture
def stereo_wav(tmp_path):
    t = np.arange(11025) / 22050  # 0.5 s at 22.05 kHz, stereo
    x = np.stack([0.3 * np.sin(2 * math.pi * 440 * t), 0.2 * np.sin(2 * math.pi * 660 * t)], 1)
    path = tmp_path / "in.wav"
    sf.write(str(path), x.astype(np.float32), 22050)
    return path


def test_encode_decode_round_trip(tmp_path, stereo_wav, capsys):
    codec = make_model(tmp_path / "model")
    assert run_cli("encode", "--model", tmp_path / "model", stereo_wav,
                   "-o", tmp_path / "x.codes") == 0
    data = load_codes(tmp_path / "x.codes")
    assert data.codes.shape == (1, 2, 1000)  # 8000 samples at 16 kHz / hop 8
    assert data.num_samples == 8000 and data.sample_rate == 16000
    wav, _ = load_audio(stereo_wav, sample_rate=16000, channels=1)
    assert torch.equal(data.codes, codec.encode(wav[None]))

    assert run_cli("decode", "--model", tmp_path / "model", tmp_path / "x.codes",
                   "-o", tmp_path / "out.wav") == 0
    out, sr = load_audio(tmp_path / "out.wav")
    assert sr == 16000 and out.shape == (1, 8000)
    expected = codec.decode(data.codes)[0, :, :8000].clamp(-1, 1)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)  # 16-bit wav rounding
    assert "x.codes: 2 x 1000 codes" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_a_message(tmp_path, stereo_wav, capsys):
    make_model(tmp_path / "model")
    make_model(tmp_path / "other", seed=1)
    cases = [
        (("encode", "--model", tmp_path / "model", tmp_path / "missing.wav", "-o",
          tmp_path / "a.codes"), "no such audio file"),
        (("encode", "--model", tmp_path / "nomodel", stereo_wav, "-o", tmp_path / "a.codes"),
         "codec.json"),
    ]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    cases.append((("encode", "--model", tmp_path / "model", broken, "-o", tmp_path / "a.codes"),
                  "broken.wav"))
    for argv, message in cases:
        assert run_cli(*argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "a.codes").exists()

    assert run_cli("encode", "--model", tmp_path / "model", stereo_wav,
                   "-o", tmp_path / "x.codes") == 0
    assert run_cli("decode", "--model", tmp_path / "other", tmp_path / "x.codes",
                   "-o", tmp_path / "out.wav") == 2
    assert "different codec" in capsys.readouterr().err
    assert not (tmp_path / "out.wav").exists()
    assert run_cli("decode", "--model", tmp_path / "model", stereo_wav,
                   "-o", tmp_path / "out.wav") == 2
    assert "not a codes file" in capsys.readouterr().err


def test_train_codec_cli_trains_resumes_and_exports(tmp_path, stereo_wav, capsys):
    data = tmp_path / "data"
    data.mkdir()
    stereo_wav.rename(data / "clip.wav")
    run = tmp_path / "run"
    common = ["--no-progress", "batch_size=2", "segment_seconds=0.25", "disc_filters=4",
              "valid_clips=2", "validate_every=2", f"codec={json.dumps(TINY)}"]
    assert run_cli("train", "codec", "--data", data, "--out", run, "--steps", 2, *common) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    saved = json.loads((run / "train_config.json").read_text())
    del saved["stop_at"]  # as a run written before the setting existed
    (run / "train_config.json").write_text(json.dumps(saved))
    # only --out and a new step count: the run's saved settings are reused
    assert run_cli("train", "codec", "--out", run, "--steps", 3, "--no-progress",
                   "--export", tmp_path / "exported") == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "trained 3 steps" in out
    assert json.loads((run / "train_config.json").read_text())["batch_size"] == 2
    codec = Codec.load(tmp_path / "exported")
    assert codec.config.n_filters == 4
    assert json.loads((tmp_path / "exported" / "codec.json").read_text())["trained_by"]["step"] == 3
    assert run_cli("train", "codec", "--out", run, "no_such_setting=1") == 2
    assert "unknown setting" in capsys.readouterr().err
    # a run begun before some settings existed resumes with their defaults
    saved = json.loads((run / "train_config.json").read_text())
    del saved["precision"], saved["adv_warmup_steps"]
    (run / "train_config.json").write_text(json.dumps(saved))
    assert run_cli("train", "codec", "--out", run, "--steps", 4, "--no-progress") == 0
    assert "trained 4 steps" in capsys.readouterr().out
    assert json.loads((run / "train_config.json").read_text())["precision"] == "fp32"


def test_train_codec_cli_takes_a_yaml_config(tmp_path, stereo_wav, capsys):
    from audiogen.train.codec_config import load_config
    from audiogen.train.config_file import config_to_yaml
    from audiogen.train.overrides import config_to_dict

    data = tmp_path / "data"
    data.mkdir()
    stereo_wav.rename(data / "clip.wav")
    config = dataclasses.replace(load_config("small"), data=str(data), codec=dict(TINY),
                                 batch_size=2, segment_seconds=0.25, disc_filters=4,
                                 valid_clips=2, steps=2, stop_at=1, validate_every=0)
    (tmp_path / "codec.yaml").write_text(config_to_yaml(config))
    run = tmp_path / "run"
    assert run_cli("train", "codec", "--config", tmp_path / "codec.yaml", "-o", run,
                   "--no-progress") == 0
    assert "trained 1 steps" in capsys.readouterr().out  # stop_at
    assert json.loads((run / "train_config.json").read_text()) == config_to_dict(config)
