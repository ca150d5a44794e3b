"""LM training parts: schedules, EMA, configs and presets, the CLI (train, resume, plot)."""

from __future__ import annotations

import itertools

import pytest
import torch
import yaml
from lm_train_data import make_cache, make_codec, make_corpus, tiny_config

from audiogen.cli.main import main
from audiogen.errors import AudiogenError
from audiogen.train.config_file import config_to_yaml
from audiogen.train.ema import EMA
from audiogen.train.lm_config import PRESET_FILES, config_from_dict, load_config
from audiogen.train.metrics import read_metrics
from audiogen.train.overrides import apply_overrides
from audiogen.train.schedules import lr_factor


def test_inverse_sqrt_schedule_warms_up_then_decays():
    f = [lr_factor(s, "inverse_sqrt", 100, 10_000) for s in range(10_000)]
    assert f[0] == pytest.approx(0.01) and f[49] == pytest.approx(0.5)
    assert f[99] == 1.0 and max(f) == 1.0
    assert f[399] == pytest.approx(0.5)  # sqrt(100 / 400)
    assert all(a >= b for a, b in itertools.pairwise(f[99:]))


def test_cosine_schedule_ends_at_the_floor():
    f = [lr_factor(s, "cosine", 10, 110, min_ratio=0.1) for s in range(110)]
    assert f[9] == 1.0 and f[59] == pytest.approx(0.55) and f[109] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(0, "linear", 10, 100)


def test_ema_averages_every_n_steps():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.9, every=2)
    with torch.no_grad():
        model.weight.fill_(1.0)
    assert not ema.update(model, 1)  # not due
    assert torch.equal(ema.shadow["weight"], torch.zeros(1, 2))
    assert ema.update(model, 2)
    torch.testing.assert_close(ema.shadow["weight"], torch.full((1, 2), 0.1))
    with pytest.raises(KeyError):
        ema.load_state_dict({"other": torch.zeros(1)})


@pytest.mark.parametrize("name", sorted(PRESET_FILES))
def test_packaged_presets_load_and_name_their_shapes(name):
    config = load_config(name)
    params = config.lm_config().num_parameters() / 1e6
    expected = {"small": (5, 8), "medium": (1500, 1900), "paper-base": (250, 300),
                "paper-large": (1000, 1100)}[name]
    assert expected[0] < params < expected[1]
    assert config_from_dict(yaml.safe_load(config_to_yaml(config))) == config


def test_config_errors_name_the_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("lr: 1e-3\nlearning_rate: 0.1\n")
    with pytest.raises(AudiogenError, match="unknown setting.*learning_rate"):
        load_config(path)
    path.write_text("steps: many\n")
    with pytest.raises(AudiogenError, match="steps: expected"):
        load_config(path)
    config = apply_overrides(load_config("small"), ["lm.num_layers=2", "mixing.prob=0.25"])
    assert config.lm_config().num_layers == 2 and config.mixing == {"prob": 0.25}


def test_print_config_is_the_full_commented_file(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "lm", "--print-config", "small", "steps=7"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "# GLOBAL batch" in text and "steps: 7" in text
    assert config_from_dict(yaml.safe_load(text)) == apply_overrides(load_config("small"),
                                                                     ["steps=7"])


def test_cli_trains_resumes_and_plots(tmp_path, capsys):
    manifest = make_corpus(tmp_path, clips=6, valid=2)
    codec = make_codec(tmp_path)
    cache = make_cache(tmp_path, manifest, codec)
    config = tiny_config(cache=str(cache), codec=str(codec), steps=3, validate_every=2)
    (tmp_path / "lm.yaml").write_text(config_to_yaml(config))
    run = tmp_path / "run"
    for argv in (["--config", str(tmp_path / "lm.yaml")], ["steps=5"]):  # 2nd: resume
        with pytest.raises(SystemExit) as exit_:
            main(["train", "lm", "--out", str(run), "--no-progress", *argv])
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "trained 5 steps" in out
    rows = read_metrics(run / "metrics.jsonl")
    assert [(r["split"], r["step"]) for r in rows] == [
        ("train", 1), ("train", 2), ("valid", 2), ("train", 3), ("valid", 3), ("train", 4),
        ("valid", 4), ("train", 5), ("valid", 5)]
    with pytest.raises(SystemExit):
        main(["plot", str(run)])
    assert "9 records; last train ce" in capsys.readouterr().out
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the figure: test_plots
    with pytest.raises(SystemExit) as exit_:
        main(["plot", str(tmp_path)])  # no metrics there
    assert exit_.value.code == 2


def test_text_settings_change_single_fields_of_the_preset_encoder():
    config = apply_overrides(load_config("medium"), ['lm.text={"path": "/models/t5"}'])
    text = config.lm_config().text
    assert (text.kind, text.name, text.dim, text.path) == ("t5", "t5-large", 1024, "/models/t5")
