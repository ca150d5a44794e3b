import json
from pathlib import Path

import pytest
import torch
from test_lm_parity import one_thread  # noqa: F401  (autouse: tiny models, one thread)
from test_text_conditioner import T5_FIXTURE, _make_t5_dir

from audiogen.cli.main import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LM_BIN = FIXTURES / "lm" / "tiny_state_dict.bin"  # 3 x 32 codes, t5-small width (512)
CODEC_BIN = FIXTURES / "codec" / "tiny.compression_state_dict.bin"  # 3 x 32 codes


def _convert(*argv) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(["convert-audiocraft", *map(str, argv)])
    return exit_info.value.code


def test_convert_writes_a_model_directory_that_generates(tmp_path, capsys):
    t5 = T5_FIXTURE
    out = tmp_path / "model"
    assert _convert("--lm", LM_BIN, "--compression", CODEC_BIN, "--text-encoder", t5,
                    "-o", out) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "codec.json", "codec.safetensors", "lm.json", "lm.safetensors"]
    meta = json.loads((out / "lm.json").read_text())
    assert meta["text_encoder"]["path"] == str(t5.resolve())
    assert meta["generation"]["cfg_coef"] == 3.0
    assert meta["config"]["cross_attention_mask"] is False

    from audiogen.api import AudioGen

    model = AudioGen.from_pretrained(out)
    with pytest.warns(UserWarning, match="empty"):
        wav, sr = model.generate(["a dog barks", ""], duration=0.004, seed=0)
    assert wav.shape[:2] == (2, 1) and sr == 16000 and torch.isfinite(wav).all()


def test_convert_refuses_a_bad_text_encoder_and_mismatched_files(tmp_path, capsys):
    out = tmp_path / "model"
    t5 = _make_t5_dir(tmp_path / "t5-novocab", words=[], d_model=512)
    assert _convert("--lm", LM_BIN, "--compression", CODEC_BIN, "--text-encoder", t5,
                    "-o", out) == 2
    assert "<unk>" in capsys.readouterr().err
    assert _convert("--lm", LM_BIN, "--compression", CODEC_BIN, "--text-encoder",
                    tmp_path / "nowhere", "-o", out) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()
    t5 = T5_FIXTURE
    other = FIXTURES / "codec" / "tiny-causal.compression_state_dict.bin"
    from audiogen.convert.codec import import_audiocraft_codec

    if import_audiocraft_codec(other).num_codebooks == 3:
        pytest.skip("no codec fixture with another shape")
    assert _convert("--lm", LM_BIN, "--compression", other, "--text-encoder", t5, "-o", out) == 2
