"""`audiogen generate` and `audiogen continue` on a tiny real model directory."""

import pytest
import soundfile as sf
import torch
from tiny_model import tiny_model_dir

from audiogen.audio.io import audio_info, save_audio
from audiogen.cli.main import main

SR = 16000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_model_dir(tmp_path_factory.mktemp("model")))


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_generate_one_file_per_prompt(model_dir, tmp_path, capsys):
    code, out, _ = _run(["generate", "a dog barks", "rain on a roof", "--model", model_dir,
                         "--duration", "0.3", "--seed", "11", "-o", str(tmp_path / "out")],
                        capsys)
    assert code == 0
    assert "seed: 11" in out
    files = sorted((tmp_path / "out").glob("*.wav"))
    assert [f.name for f in files] == ["000_a-dog-barks.wav", "001_rain-on-a-roof.wav"]
    for f in files:
        seconds, sr, channels = audio_info(f)
        assert (sr, channels) == (SR, 1) and seconds == pytest.approx(0.3)
        assert str(f) in out


def test_same_seed_same_file(model_dir, tmp_path, capsys):
    for name in ("a.wav", "b.wav"):
        code, _, _ = _run(["generate", "wind", "--model", model_dir, "--duration", "0.3",
                           "--seed", "5", "--top-k", "20", "--cfg-coef", "2.5",
                           "-o", str(tmp_path / name)], capsys)
        assert code == 0
    a, _ = sf.read(tmp_path / "a.wav")
    b, _ = sf.read(tmp_path / "b.wav")
    assert (a == b).all()


def test_seed_is_printed_when_drawn_and_reproduces(model_dir, tmp_path, capsys):
    code, out, _ = _run(["generate", "wind", "--model", model_dir, "--duration", "0.3",
                         "-o", str(tmp_path / "a.wav")], capsys)
    assert code == 0
    seed = out.split("seed: ")[1].split()[0]
    _run(["generate", "wind", "--model", model_dir, "--duration", "0.3", "--seed", seed,
          "-o", str(tmp_path / "b.wav")], capsys)
    assert (sf.read(tmp_path / "a.wav")[0] == sf.read(tmp_path / "b.wav")[0]).all()


def test_prompts_file_negative_and_sampling_options(model_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# sounds\nthunder\n\nan engine idles\n")
    code, out, _ = _run(["generate", "birds", "--prompts-file", str(prompts), "--model",
                         model_dir, "--duration", "0.2", "--negative", "music", "--top-p",
                         "0.9", "--temperature", "0.8", "--batch-size", "2",
                         "-o", str(tmp_path / "out")], capsys)
    assert code == 0
    names = sorted(f.name for f in (tmp_path / "out").glob("*.wav"))
    assert names == ["000_birds.wav", "001_thunder.wav", "002_an-engine-idles.wav"]
    assert out.count("seed: ") == 1 and all(name in out for name in names)


def test_empty_prompt_warns_unconditional(model_dir, tmp_path, capsys):
    code, _, err = _run(["generate", "", "--model", model_dir, "--duration", "0.2",
                         "-o", str(tmp_path / "u.wav")], capsys)
    assert code == 0
    assert "warning: prompt 0 is empty: generating it unconditionally" in err


@pytest.mark.parametrize("args,message", [
    (["--duration", "0"], "duration must be above 0 and at most 30 s, got 0."),
    (["--duration", "1000"], "duration must be above 0 and at most 30 s, got 1000."),
])
def test_bad_duration_exits_2(model_dir, tmp_path, capsys, args, message):
    code, _, err = _run(["generate", "x", "--model", model_dir, *args, "-o", str(tmp_path)],
                        capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_model_files_exit_2(tmp_path, capsys):
    code, _, err = _run(["generate", "x", "--model", str(tmp_path), "-o", str(tmp_path)], capsys)
    assert code == 2
    for name in ("codec.json", "codec.safetensors", "lm.json", "lm.safetensors"):
        assert name in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_exits_2(model_dir, tmp_path, capsys):
    code, _, err = _run(["generate", "x", "--model", model_dir, "--device", "cuda", "-o",
                         str(tmp_path)], capsys)
    assert code == 2 and "no CUDA device" in err


def test_no_prompt_exits_2(model_dir, tmp_path, capsys):
    code, _, err = _run(["generate", "--model", model_dir, "-o", str(tmp_path)], capsys)
    assert code == 2 and "no prompt" in err


def test_one_file_name_for_several_prompts_exits_2(model_dir, tmp_path, capsys):
    code, _, err = _run(["generate", "a", "b", "--model", model_dir, "-o",
                         str(tmp_path / "x.wav")], capsys)
    assert code == 2 and "give a folder" in err


def test_continue_stereo_44k_input(model_dir, tmp_path, capsys):
    clip = tmp_path / "clip.wav"
    save_audio(clip, torch.randn(2, 44100 // 2) * 0.1, 44100)  # 0.5 s stereo at 44.1 kHz
    code, out, _ = _run(["continue", str(clip), "--text", "a dog barks", "--model", model_dir,
                         "--duration", "0.6", "--seed", "1", "-o", str(tmp_path / "c.wav")],
                        capsys)
    assert code == 0 and "seed: 1" in out
    seconds, sr, channels = audio_info(tmp_path / "c.wav")
    assert (sr, channels) == (SR, 1) and seconds == pytest.approx(0.6)

    code, _, _ = _run(["continue", str(clip), "--model", model_dir, "--duration", "0.3",
                       "--prompt-seconds", "0.1", "--no-prompt-in-output",
                       "-o", str(tmp_path / "d.wav")], capsys)
    assert code == 0
    assert audio_info(tmp_path / "d.wav")[0] == pytest.approx(0.2)


def test_continue_unreadable_file_exits_2(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF this is not audio")
    code, _, err = _run(["continue", str(bad), "--model", model_dir, "-o",
                         str(tmp_path / "c.wav")], capsys)
    assert code == 2 and str(bad) in err and "Traceback" not in err
    code, _, err = _run(["continue", str(tmp_path / "none.wav"), "--model", model_dir, "-o",
                         str(tmp_path / "c.wav")], capsys)
    assert code == 2 and "no such audio file" in err


def test_continue_prompt_longer_than_duration_exits_2(model_dir, tmp_path, capsys):
    clip = tmp_path / "clip.wav"
    save_audio(clip, torch.randn(1, SR) * 0.1, SR)
    code, _, err = _run(["continue", str(clip), "--model", model_dir, "--duration", "0.5",
                         "-o", str(tmp_path / "c.wav")], capsys)
    assert code == 2 and "must be longer" in err


def test_dtype_flag_reaches_the_decoder(model_dir, tmp_path, capsys, monkeypatch):
    from audiogen.api import AudioGen

    loaded = []
    load = AudioGen.from_pretrained.__func__
    monkeypatch.setattr(AudioGen, "from_pretrained", classmethod(
        lambda cls, *a, **k: loaded.append(load(cls, *a, **k)) or loaded[-1]))
    code, _, _ = _run(["generate", "wind", "--model", model_dir, "--duration", "0.3",
                       "--dtype", "int8", "-o", str(tmp_path / "a.wav")], capsys)
    assert code == 0 and loaded[0].lm.dtype == torch.int8
    seconds, _, _ = audio_info(tmp_path / "a.wav")
    assert seconds == pytest.approx(0.3)
