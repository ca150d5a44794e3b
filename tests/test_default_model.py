"""The default model directory: commands fall back to it when --model is not given."""

import pytest
from tiny_model import tiny_model_dir

import audiogen
import audiogen.default_model
from audiogen.cli.main import main
from audiogen.errors import MissingFilesError


def test_missing_default_model_lists_its_files(tmp_path, monkeypatch):
    monkeypatch.setattr(audiogen.default_model, "DEFAULT_MODEL_DIR", tmp_path / "none")
    with pytest.raises(MissingFilesError, match="lm.safetensors") as info:
        audiogen.default_model_dir()
    assert info.value.missing == ["codec.json", "codec.safetensors", "lm.json",
                                  "lm.safetensors"]


def test_generate_without_model_uses_the_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(audiogen.default_model, "DEFAULT_MODEL_DIR", tmp_path / "none")
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "a dog barks", "-o", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "default model: missing" in capsys.readouterr().err
    model = tiny_model_dir(tmp_path / "model")
    monkeypatch.setattr(audiogen.default_model, "DEFAULT_MODEL_DIR", model)
    assert audiogen.default_model_dir() == model
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "a dog barks", "--duration", "0.2", "-o", str(tmp_path / "x.wav")])
    assert exit_info.value.code == 0 and (tmp_path / "x.wav").is_file()


@pytest.mark.skipif(not (audiogen.default_model.DEFAULT_MODEL_DIR / "lm.safetensors").is_file(),
                    reason="no embedded default model")
def test_embedded_default_model_is_small_and_generates_reproducibly():
    import torch

    from audiogen.api import AudioGen

    folder = audiogen.default_model.DEFAULT_MODEL_DIR
    assert sum(f.stat().st_size for f in folder.iterdir()) < 60e6  # the budget
    model = AudioGen.from_pretrained(folder, device="cpu")
    a, sr = model.generate(["rain falls steadily"], duration=1.0, seed=7)
    b, _ = model.generate(["rain falls steadily"], duration=1.0, seed=7)
    assert sr == 16000 and a.shape == (1, 1, 16000) and torch.equal(a, b)
    assert torch.isfinite(a).all() and a.pow(2).mean().sqrt() > 1e-3  # not silent
