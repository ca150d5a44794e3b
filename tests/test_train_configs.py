"""Training configurations as YAML: the packaged presets (codec and LM), the file format, and
`train codec --config / --print-config`."""

import dataclasses

import pytest
import yaml

from audiogen.cli.main import main
from audiogen.errors import AudiogenError
from audiogen.train import codec_config, lm_config
from audiogen.train.codec_trainer import CodecTrainConfig
from audiogen.train.config_file import CONFIG_DIR, config_to_yaml
from audiogen.train.lm_config import LMTrainConfig
from audiogen.train.overrides import apply_overrides


def test_packaged_presets_are_what_the_generator_writes():
    from tools.make_train_configs import render

    written = render()
    assert sorted(written) == sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))
    for name, text in written.items():
        assert (CONFIG_DIR / name).read_text() == text, f"run tools/make_train_configs.py ({name})"


@pytest.mark.parametrize("cls", [CodecTrainConfig, LMTrainConfig])
def test_every_setting_is_written_with_its_comment(cls):
    lines = [line for line in config_to_yaml(cls()).splitlines()
             if line and not line.startswith("#")]
    assert [line.split(":")[0] for line in lines] == [f.name for f in dataclasses.fields(cls)]
    assert all("  # " in line for line in lines)


@pytest.mark.parametrize("name", sorted(codec_config.PRESET_FILES))
def test_codec_presets_load_and_round_trip(name):
    config = codec_config.load_config(name)
    assert config.preset == name
    assert isinstance(config.betas, tuple)  # YAML lists become the field's tuple
    assert codec_config.config_from_dict(yaml.safe_load(config_to_yaml(config))) == config


def test_codec_config_errors_name_the_setting(tmp_path):
    path = tmp_path / "codec.yaml"
    path.write_text("lr: fast\n")
    with pytest.raises(AudiogenError, match=r"codec.yaml: lr: expected a value like 0.0003"):
        codec_config.load_config(path)
    path.write_text("stepz: 3\n")
    with pytest.raises(AudiogenError, match="unknown setting.*stepz.*valid settings: preset"):
        codec_config.load_config(path)
    with pytest.raises(AudiogenError, match=r"nope: no such config file, nor a preset \(small"):
        codec_config.load_config("nope")
    assert lm_config.load_config("small").preset == "small"  # the LM's presets stay apart


def test_train_codec_prints_the_full_commented_config(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "codec", "--print-config", "small", "--steps", "7", "lr=1e-3"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "# --- optimisation ---" in text and "# Adam learning rate" in text
    assert codec_config.config_from_dict(yaml.safe_load(text)) == apply_overrides(
        codec_config.load_config("small"), ["steps=7", "lr=1e-3"])
    with pytest.raises(SystemExit) as exit_:
        main(["train", "codec", "--data", "x"])  # no -o
    assert exit_.value.code == 2
    assert "-o RUN_DIR is required" in capsys.readouterr().err
