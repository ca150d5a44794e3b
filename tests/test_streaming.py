"""AudioGen.generate_stream on a tiny real model: chunks early, joined equal to `generate`.

Tolerance: max |joined stream - generate| <= 1e-6 (measured <= 1.2e-7, float32 CPU): the same
tokens are drawn, and the codec pieces decode exactly (see test_chunked_decode.py).
"""

import pytest
import torch
from tiny_model import tiny_model_dir

from audiogen.api import AudioGen
from audiogen.errors import AudiogenError

TOL = 1e-6
SR = 16000


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return AudioGen.from_pretrained(tiny_model_dir(tmp_path_factory.mktemp("model")),
                                    device="cpu")


def _joined(chunks) -> torch.Tensor:
    chunks = list(chunks)
    assert all(c.dim() == 3 and c.shape[1] == 1 and c.shape[-1] > 0 for c in chunks)
    return torch.cat(chunks, dim=-1)


@pytest.mark.parametrize("duration", [0.5, 2.3])  # 2.3 s: past the 1 s window, sliding
def test_stream_joined_equals_generate(model, duration):
    kwargs = {"duration": duration, "seed": 7, "negative_prompt": "wind"}
    texts = ["a dog barks", "rain on a roof"]
    ref, _ = model.generate(texts, **kwargs)
    out = _joined(model.generate_stream(texts, chunk_duration=0.1, **kwargs))
    assert out.shape == ref.shape == (2, 1, round(duration * SR))
    assert (out - ref).abs().max() <= TOL
    assert ref.abs().max() > 1e-2


@pytest.mark.parametrize("include_prompt", [True, False])
def test_stream_continuation_equals_generate_continuation(model, include_prompt):
    prompt = 0.1 * torch.randn(2, 11025)  # stereo, 0.5 s at 22.05 kHz: resampled and mixed
    kwargs = {"duration": 1.6, "seed": 3, "include_prompt": include_prompt}
    ref, _ = model.generate_continuation(prompt, 22050, texts="thunder", **kwargs)
    out = _joined(model.generate_stream("thunder", prompt_audio=prompt,
                                        prompt_sample_rate=22050, chunk_duration=0.2, **kwargs))
    assert out.shape == ref.shape
    assert (out - ref).abs().max() <= TOL


def test_first_chunk_comes_before_generation_ends(model, monkeypatch):
    steps = []
    step = model.lm.step
    monkeypatch.setattr(model.lm, "step", lambda *a, **k: steps.append(1) or step(*a, **k))
    frames = []
    stream = model.generate_stream("a bell rings", duration=0.8, seed=1, chunk_duration=0.2,
                                   callback=lambda done, total: frames.append((done, total)))
    first = next(stream)
    at_first = len(steps)
    rest = list(stream)
    assert first.shape[-1] > 0 and rest
    # 0.8 s = 40 frames; the first chunk needs 10 final frames, i.e. about 10 + 3 (delays)
    # + 1 steps of the 43, and the codec's context of 4 frames
    assert at_first < len(steps) / 2
    assert frames[0][0] < frames[0][1] == 40 and frames[-1] == (40, 40)


def test_stream_checks_arguments_at_the_call(model):
    with pytest.raises(AudiogenError, match="cap"):
        model.generate_stream("x", duration=1000.0)
    with pytest.raises(AudiogenError):
        model.generate_stream([])
    with pytest.raises(AudiogenError, match="longer"):
        model.generate_stream("x", duration=0.2, prompt_audio=torch.zeros(1, SR),
                              prompt_sample_rate=SR)
    with pytest.raises(AudiogenError):
        model.generate_stream("x", chunk_duration=0)


def test_stream_seed_drawn_and_reported(model):
    out = _joined(model.generate_stream("a car horn", duration=0.3))
    seed = model.last_seed
    assert isinstance(seed, int)
    again = _joined(model.generate_stream("a car horn", duration=0.3, seed=seed))
    assert torch.equal(out, again)
