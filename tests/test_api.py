"""AudioGen end to end on a tiny real model directory (random weights, MiniLM text encoder)."""

import shutil

import pytest
import torch
from tiny_model import tiny_model_dir

from audiogen.api import MODEL_FILES, AudioGen
from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.generation import plan_windows

SR = 16000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def model(model_dir):
    return AudioGen.from_pretrained(model_dir, device="cpu")


def _spy_codes(model, monkeypatch):
    """Record the codes each codec.decode call receives."""
    seen = []
    original = model.codec.decode

    def decode(codes):
        seen.append(codes.clone())
        return original(codes)

    monkeypatch.setattr(model.codec, "decode", decode)
    return seen


def test_generate_shape_rate_and_duration(model):
    wav, sr = model.generate(["a dog barks", "rain on a roof"], duration=0.5, seed=0)
    assert sr == SR == model.sample_rate
    assert wav.shape == (2, 1, 8000) and wav.dtype == torch.float32
    assert torch.isfinite(wav).all() and wav.abs().max() > 0
    assert model.last_seed == 0


def test_same_seed_same_audio_different_seed_different(model):
    a, _ = model.generate("a dog barks", duration=0.2)  # a seed is drawn and reported
    seed = model.last_seed
    assert isinstance(seed, int)
    b, _ = model.generate("a dog barks", duration=0.2, seed=seed)
    c, _ = model.generate("a dog barks", duration=0.2, seed=seed + 1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_empty_prompt_is_unconditional_and_says_so(model):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with pytest.warns(UserWarning, match="prompt 0 is empty"):
        a, _ = model.generate(["  "], duration=0.2, seed=3)
    assert torch.equal(torch.rand(3), expected)  # the global RNG is left alone
    b, _ = model.generate_unconditional(1, duration=0.2, seed=3)
    assert torch.equal(a, b)


def test_overlong_prompt_is_truncated_with_a_warning(model):
    text = "a dog barks loudly while a car passes by in the heavy rain and the thunder rolls"
    with pytest.warns(UserWarning, match="truncated"):
        wav, _ = model.generate(text, duration=0.2, seed=0)
    assert wav.shape == (1, 1, 3200)


@pytest.mark.parametrize("duration", [0, -1.0, float("nan"), 30.5])
def test_bad_durations_are_refused(model, duration):
    with pytest.raises(AudiogenError, match="duration"):
        model.generate("a dog", duration=duration)


def test_bad_sampling_settings_are_refused(model):
    with pytest.raises(AudiogenError, match="top_p"):
        model.generate("a dog", duration=0.2, top_p=2.0)


def test_guidance_and_negative_prompt_change_the_output(model):
    base, _ = model.generate("a dog barks", duration=0.2, seed=5, cfg_coef=3.0)
    plain, _ = model.generate("a dog barks", duration=0.2, seed=5, cfg_coef=1.0)
    negative, _ = model.generate("a dog barks", duration=0.2, seed=5, cfg_coef=3.0,
                                 negative_prompt="a cat meows")
    assert not torch.equal(base, plain)
    assert not torch.equal(base, negative)


def test_greedy_is_deterministic_whatever_the_seed(model):
    a, _ = model.generate("a dog barks", duration=0.2, seed=1, temperature=0)
    b, _ = model.generate("a dog barks", duration=0.2, seed=2, temperature=0)
    assert torch.equal(a, b)


def test_long_form_uses_sliding_windows(model, monkeypatch):
    # The test model's window is 1.0 s with a 0.4 s stride (lm.json "generation").
    starts = []
    original = model.lm.start
    monkeypatch.setattr(model.lm, "start", lambda *a, **k: starts.append(a[1]) or original(*a, **k))
    codes = _spy_codes(model, monkeypatch)
    wav, _ = model.generate("rain", duration=1.5, seed=0)
    assert wav.shape == (1, 1, round(1.5 * SR))
    windows = plan_windows(75, 50, 20)
    assert len(starts) == len(windows) == 3
    assert codes[0].shape == (1, 4, 75)
    # each window's cache holds at most the trained window of frames
    assert max(starts) == model.lm.pattern.num_steps(50)


def test_continuation_keeps_the_prompt_codes(model, monkeypatch):
    torch.manual_seed(0)
    prompt = torch.randn(2, 6615) * 0.1  # 0.3 s of stereo at 22.05 kHz
    from audiogen.audio.io import resample

    mono = resample(prompt.mean(0, keepdim=True), 22050, SR)[None]
    expected = model.codec.encode(mono)
    seen = _spy_codes(model, monkeypatch)
    wav, sr = model.generate_continuation(prompt, 22050, duration=1.0, seed=0)
    assert sr == SR and wav.shape == (1, 1, SR)
    P = expected.shape[-1]
    assert P == 15
    assert torch.equal(seen[0][..., :P], expected)

    cut, _ = model.generate_continuation(prompt, 22050, duration=1.0, seed=0,
                                         include_prompt=False)
    assert cut.shape == (1, 1, SR - mono.shape[-1])
    torch.testing.assert_close(cut, wav[..., mono.shape[-1]:])


def test_continuation_with_texts_repeats_one_prompt(model):
    prompt = torch.randn(1, 3200) * 0.1
    wav, _ = model.generate_continuation(prompt, SR, texts=["a dog", "a cat"], duration=0.3,
                                         seed=0)
    assert wav.shape == (2, 1, 4800)


def test_continuation_prompt_must_be_shorter_than_duration(model):
    with pytest.raises(AudiogenError, match="prompt"):
        model.generate_continuation(torch.randn(1, SR), SR, duration=1.0)
    with pytest.raises(AudiogenError, match="NaN"):
        model.generate_continuation(torch.full((1, 100), float("nan")), SR, duration=1.0)


def test_missing_model_files_are_listed(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "lm.safetensors").unlink()
    (broken / "codec.json").unlink()
    with pytest.raises(MissingFilesError) as err:
        AudioGen.from_pretrained(broken)
    assert err.value.missing == ["codec.json", "lm.safetensors"]
    assert str(broken) in str(err.value)
    with pytest.raises(MissingFilesError) as err:
        AudioGen.from_pretrained(tmp_path / "nowhere")
    assert err.value.missing == list(MODEL_FILES)


def test_codec_and_lm_must_match(model):
    import dataclasses

    from tiny_model import tiny_codec_config

    from audiogen.codec import Codec

    other = Codec(dataclasses.replace(tiny_codec_config(), bins=32))
    with pytest.raises(AudiogenError, match="does not match"):
        AudioGen(other, model.lm)


def test_from_pretrained_decodes_with_the_fast_decoder_unless_asked_not_to(model_dir):
    from audiogen.generation.fast import FastDecoder
    from audiogen.lm import AudioLM

    fast = AudioGen.from_pretrained(model_dir, device="cpu")
    plain = AudioGen.from_pretrained(model_dir, device="cpu", fast=False)
    assert isinstance(fast.lm, FastDecoder) and type(plain.lm) is AudioLM
    greedy = {"duration": 0.4, "seed": 2, "temperature": 0.0}
    torch.testing.assert_close(fast.generate(["rain"], **greedy)[0],
                               plain.generate(["rain"], **greedy)[0])


def test_a_request_object_equals_its_keywords(model):
    from audiogen.generation import GenerationRequest

    request = GenerationRequest(duration=0.2, cfg_coef=2.0, top_k=5, seed=4)
    a, _ = model.generate("a dog barks", request)
    b, _ = model.generate("a dog barks", duration=0.2, cfg_coef=2.0, top_k=5, seed=4)
    c, _ = model.generate("a dog barks", request, seed=5)  # keywords replace its fields
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert model.last_seed == 5
    stream = torch.cat(list(model.generate_stream("a dog barks", request)), dim=-1)
    assert torch.allclose(stream, a, atol=1e-5)
