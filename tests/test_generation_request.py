"""GenerationRequest: parsed and checked once, then filled from a model's defaults."""

import pytest

from audiogen.errors import AudiogenError
from audiogen.generation import GenerationConfig, GenerationRequest
from audiogen.generation.request import DRAWN_SEED_LIMIT, SEED_LIMIT

CONFIG = GenerationConfig(duration=2.0, cfg_coef=3.5, top_k=40, window=1.0, stride=0.4,
                          max_duration=30.0)


def test_left_out_settings_take_the_models_defaults_and_frames_follow():
    r = GenerationRequest(seed=3).resolve(CONFIG, frame_rate=50, sample_rate=16000)
    assert (r.duration, r.cfg_coef, r.sampling.top_k, r.sampling.top_p) == (2.0, 3.5, 40, 0.0)
    assert r.sampling.temperature == 1.0 and r.seed == 3 and r.negative_prompt is None
    assert (r.num_frames, r.num_samples, r.window, r.stride) == (100, 32000, 50, 20)


def test_numbers_given_as_text_are_parsed():
    typed = GenerationRequest(duration="1.5", cfg_coef=" 2 ", top_k="7", top_p="0.5",
                              temperature="0", seed="12", negative_prompt="  music ").checked()
    assert (typed.duration, typed.cfg_coef, typed.top_k, typed.top_p, typed.temperature,
            typed.seed, typed.negative_prompt) == (1.5, 2.0, 7, 0.5, 0.0, 12, "music")
    assert GenerationRequest(seed=7.0, top_k=3.0).checked().top_k == 3  # the page's floats


def test_seed_drawn_once_and_kept():
    request = GenerationRequest().checked()
    assert 0 <= request.seed < DRAWN_SEED_LIMIT
    assert request.checked().seed == request.seed  # checking again draws nothing new
    assert request.resolve(CONFIG, 50, 16000).seed == request.seed
    seeds = {GenerationRequest(seed="").checked().seed for _ in range(8)}
    assert len(seeds) > 1


def test_seed_offsets_wrap_into_the_range():
    assert GenerationRequest(seed=5).with_seed_offset(2).seed == 7
    assert GenerationRequest(seed=SEED_LIMIT - 1).with_seed_offset(1).seed == 0


def test_the_lower_cap_applies():
    with pytest.raises(AudiogenError, match="at most 5 s, got 6."):
        GenerationRequest(duration=6).resolve(CONFIG, 50, 16000, max_duration=5)
    with pytest.raises(AudiogenError, match="at most 30 s, got 31."):
        GenerationRequest(duration=31).resolve(CONFIG, 50, 16000, max_duration=100)


def test_prompt_filling_the_duration_is_refused():
    r = GenerationRequest(duration=1.0, seed=0).resolve(CONFIG, 50, 16000)
    r.check_prompt(15999, 50 - 1)
    for samples, frames in ((16000, None), (100, 50)):
        with pytest.raises(AudiogenError, match="must be longer"):
            r.check_prompt(samples, frames)


def test_a_models_own_defaults_are_checked_too():
    bad = GenerationConfig(temperature=-1.0)  # a hand-edited lm.json
    with pytest.raises(AudiogenError, match="temperature must be >= 0"):
        GenerationRequest().resolve(bad, 50, 16000)
    assert GenerationRequest(temperature=0.5).resolve(bad, 50, 16000).sampling.temperature == 0.5
