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
    with pytest.raises(AudiogenError, match="at most 30 s, got 1000"):
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


# --- WAV written as it arrives, and `audiogen generate --stream` ---

def test_wav_stream_writer_file_is_valid_at_every_chunk(tmp_path):
    import soundfile as sf

    from audiogen.audio.wav_stream import WavStreamWriter

    wav = 0.5 * torch.sin(torch.arange(3000) / 10.0)[None]
    path = tmp_path / "grow.wav"
    with open(path, "wb") as f:
        writer = WavStreamWriter(f, SR)
        for i in range(0, 3000, 1000):
            writer.write(wav[:, i:i + 1000])
            data, sr = sf.read(path, dtype="float32")  # readable while it grows
            assert sr == SR and data.shape == (i + 1000,)
    assert abs(data - wav[0].numpy()).max() <= 1 / 32767


def _cli(argv, capsysbinary):
    from audiogen.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    out, err = capsysbinary.readouterr()
    return exit_info.value.code, out, err.decode()


def test_cli_stream_equals_plain_files(tmp_path, tmp_path_factory, capsysbinary):
    import soundfile as sf

    model_dir = tiny_model_dir(tmp_path_factory.mktemp("cli_model"))
    common = ["a dog barks", "rain", "--model", model_dir, "--duration", "1.5", "--seed", 4]
    assert _cli(["generate", *common, "--stream", "-o", tmp_path / "s"], capsysbinary)[0] == 0
    assert _cli(["generate", *common, "-o", tmp_path / "n"], capsysbinary)[0] == 0
    for name in ("000_a-dog-barks.wav", "001_rain.wav"):
        streamed, sr = sf.read(tmp_path / "s" / name, dtype="int16")
        plain, _ = sf.read(tmp_path / "n" / name, dtype="int16")
        assert sr == SR and streamed.shape == plain.shape == (24000,)
        assert abs(streamed.astype(int) - plain).max() <= 1  # int16 rounding of each writer
    code, out, err = _cli(["generate", "a dog barks", "--model", model_dir, "--duration", "0.4",
                           "--seed", 4, "--stream", "-o", "-"], capsysbinary)
    assert code == 0 and out[:4] == b"RIFF" and len(out) == 44 + 2 * 6400
    assert "seed: 4" in err  # the audio has standard output to itself
    code, _, err = _cli(["generate", "a", "b", "--model", model_dir, "--stream", "-o", "-"],
                        capsysbinary)
    assert code == 2 and "one prompt" in err


def test_stream_resumed_from_other_threads_builds_no_graph(model):
    """A web server resumes the generator from its worker threads, with grad mode on."""
    import threading

    stream = model.generate_stream("a bell", duration=0.6, seed=2, chunk_duration=0.1)
    chunks = []

    def pull():
        torch.set_grad_enabled(True)
        chunks.append(next(stream, None))

    while not chunks or chunks[-1] is not None:
        worker = threading.Thread(target=pull)
        worker.start()
        worker.join()
    chunks = chunks[:-1]
    assert len(chunks) > 2 and not any(c.requires_grad for c in chunks)


def test_long_outputs_decode_in_chunks(model, monkeypatch):
    """AudioGen.decode_codes past DECODE_CHUNK_FRAMES: chunked, equal to the whole decode."""
    import audiogen.api

    codes = torch.randint(0, model.codec.cardinality, (1, model.codec.num_codebooks, 90))
    whole = model.decode_codes(codes)
    calls = []
    decode = model.codec.decode
    monkeypatch.setattr(model.codec, "decode", lambda c: calls.append(1) or decode(c))
    monkeypatch.setattr(audiogen.api, "DECODE_CHUNK_FRAMES", 20)
    chunked = model.decode_codes(codes, num_samples=28000)
    assert not calls  # the whole-signal decoder was not used
    assert chunked.shape == (1, 1, 28000)
    assert (chunked - whole[..., :28000]).abs().max() <= TOL
