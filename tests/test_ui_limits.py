"""The web page's request checks (audiogen.ui.limits): no Gradio needed."""

import pytest
import soundfile as sf
import torch

from audiogen.errors import AudiogenError
from audiogen.generation import GenerationConfig
from audiogen.generation.request import DRAWN_SEED_LIMIT
from audiogen.ui.limits import ServeConfig, parse_request

GEN = GenerationConfig(duration=2.0, max_duration=30.0)


def _parse(config=None, **fields):
    fields.setdefault("prompts", "a dog barks")
    return parse_request(config or ServeConfig(), GEN, **fields)


def test_defaults_come_from_the_model_and_the_seed_is_drawn():
    r = _parse(prompts="  a dog barks \n\n rain  \n")
    assert r.prompts == ["a dog barks", "rain"]
    g = r.generation
    assert (g.duration, g.cfg_coef, g.top_k, g.top_p, g.temperature) == (2.0, 3.0, 250, 0.0,
                                                                           1.0)
    assert 0 <= r.seed < DRAWN_SEED_LIMIT and g.negative_prompt is None
    assert r.settings["seed"] == r.seed


def test_fixed_seed_is_kept_and_random_seed_ignores_the_field():
    assert _parse(seed=42, random_seed=False).seed == 42
    seeds = {_parse(seed=42, random_seed=True).seed for _ in range(5)}
    assert seeds != {42}


@pytest.mark.parametrize("fields, message", [
    ({"prompts": " \n "}, "Enter a prompt"),
    ({"prompts": "a\nb\nc\nd\ne"}, "at most 4"),
    ({"duration": 0}, "duration must be above 0 and at most 30 s"),
    ({"duration": 31}, "at most 30"),
    ({"duration": float("nan")}, "duration must be a finite number"),
    ({"duration": "abc"}, "duration must be a number"),
    ({"top_k": 2.5}, "whole number"),
    ({"top_p": 1.5}, "top_p"),
    ({"temperature": -1}, "temperature"),
    ({"guidance": float("inf")}, "cfg_coef"),
    ({"seed": -3, "random_seed": False}, "seed"),
    ({"seed": 2**63, "random_seed": False}, "seed"),
])
def test_bad_fields_are_user_errors(fields, message):
    with pytest.raises(AudiogenError, match=message):
        _parse(**fields)


def test_server_caps_lower_the_models_cap():
    assert ServeConfig(max_duration=5).duration_cap(GEN) == 5
    assert ServeConfig(max_duration=100).duration_cap(GEN) == 30
    with pytest.raises(AudiogenError, match="at most 5"):
        _parse(ServeConfig(max_duration=5), duration=6)
    with pytest.raises(AudiogenError, match="at most 1 per request"):
        _parse(ServeConfig(max_batch=1), prompts="a\nb")
    with pytest.raises(AudiogenError):
        ServeConfig(max_batch=0)
    with pytest.raises(AudiogenError, match=r"slots \(2\) must be at least max_batch \(4\)"):
        ServeConfig(slots=2)


def test_clip_to_continue(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, 0.1 * torch.randn(8000).numpy(), 16000)
    r = _parse(prompts="", prompt_audio=str(path), include_prompt=False)
    assert r.prompts == [None] and r.prompt_audio.shape == (1, 8000)
    assert r.prompt_sample_rate == 16000 and r.include_prompt is False
    assert r.settings["continuation"] is True
    with pytest.raises(AudiogenError, match="must be longer"):
        _parse(prompt_audio=str(path), duration=0.4)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(AudiogenError):
        _parse(prompt_audio=str(tmp_path / "bad.wav"))
