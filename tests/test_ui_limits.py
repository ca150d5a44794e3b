"""The web page's request checks (audiogen.ui.limits): no Gradio needed."""

import pytest
import soundfile as sf
import torch

from audiogen.errors import AudiogenError
from audiogen.generation import GenerationConfig
from audiogen.ui.limits import MAX_SEED, ServeConfig, parse_request

GEN = GenerationConfig(duration=2.0, max_duration=30.0)


def _parse(config=None, **fields):
    fields.setdefault("prompts", "a dog barks")
    return parse_request(config or ServeConfig(), GEN, **fields)


def test_defaults_come_from_the_model_and_the_seed_is_drawn():
    r = _parse(prompts="  a dog barks \n\n rain  \n")
    assert r.prompts == ["a dog barks", "rain"]
    assert (r.duration, r.cfg_coef, r.top_k, r.top_p, r.temperature) == (2.0, 3.0, 250, 0.0,
                                                                           1.0)
    assert 0 <= r.seed <= MAX_SEED and r.negative is None
    assert r.settings["seed"] == r.seed and r.stream_kwargs()["seed"] == r.seed


def test_fixed_seed_is_kept_and_random_seed_ignores_the_field():
    assert _parse(seed=42, random_seed=False).seed == 42
    seeds = {_parse(seed=42, random_seed=True).seed for _ in range(5)}
    assert seeds != {42}


@pytest.mark.parametrize("fields, message", [
    ({"prompts": " \n "}, "Enter a prompt"),
    ({"prompts": "a\nb\nc\nd\ne"}, "at most 4"),
    ({"duration": 0}, "Duration"),
    ({"duration": 31}, "at most 30"),
    ({"duration": float("nan")}, "Duration"),
    ({"duration": "abc"}, "enter a number"),
    ({"top_k": 2.5}, "whole number"),
    ({"top_p": 1.5}, "Top-p"),
    ({"temperature": -1}, "Temperature"),
    ({"guidance": float("inf")}, "Guidance"),
    ({"seed": -3, "random_seed": False}, "Seed"),
    ({"seed": 2**40, "random_seed": False}, "Seed"),
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
