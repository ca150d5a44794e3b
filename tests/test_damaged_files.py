"""Damaged and inconsistent files: every one ends in one message naming the file, never a
traceback. One case per damaged input class (model files, codes, conversions, audio,
checkpoints), then a seeded fuzz pass that flips and truncates bytes of a model directory, a
codes file and a wav and accepts only a clean error or a successful load."""

import json
import math
import random
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from lm_train_data import make_cache, make_codec, make_corpus, tiny_config
from safetensors.torch import load_file
from tiny_model import tiny_model_dir

from audiogen.api import AudioGen
from audiogen.audio.io import load_audio
from audiogen.cli.main import main
from audiogen.codec import Codec
from audiogen.codec.codes_file import CodesFile, load_codes, save_codes
from audiogen.errors import AudiogenError
from audiogen.eval.judge import Judge, JudgeConfig, JudgeHead
from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer
from audiogen.train.lm_trainer import LMTrainer
from audiogen.train.metrics import read_metrics


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def wav_and_codes(tmp_path_factory, model_dir):
    """A 0.3 s clip and its codes file, made with the tiny model's codec."""
    d = tmp_path_factory.mktemp("codes")
    t = np.arange(4800) / 16000
    sf.write(str(d / "clip.wav"), (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32),
             16000, subtype="PCM_16")
    codec = Codec.load(model_dir)
    wav, _ = load_audio(d / "clip.wav", sample_rate=16000, channels=1)
    save_codes(d / "clip.codes", CodesFile.from_codec(codec, codec.encode(wav[None]), 4800))
    return d / "clip.wav", d / "clip.codes"


def run_cli(capsys, *argv):
    """Exit status and stderr of an in-process `audiogen` call (an exception other than the
    CLI's clean exit fails the test: that would be a traceback for the user)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    return exit_info.value.code, capsys.readouterr().err


def _edit_json(name, change):
    def damage(d):
        meta = json.loads((d / name).read_text())
        change(meta)
        (d / name).write_text(json.dumps(meta))
    return damage


def _cut(name, keep):
    def damage(d):
        (d / name).write_bytes((d / name).read_bytes()[:keep])
    return damage


# (case id, file named in the message, damage, words the message must hold)
MODEL_CASES = [
    ("lm-weights-truncated", "lm.safetensors", _cut("lm.safetensors", 5000), "damaged"),
    ("lm-weights-empty", "lm.safetensors", _cut("lm.safetensors", 0), "damaged"),
    ("codec-weights-random", "codec.safetensors",
     lambda d: (d / "codec.safetensors").write_bytes(random.Random(0).randbytes(4096)),
     "damaged"),
    ("codec-weights-empty", "codec.safetensors", _cut("codec.safetensors", 0), "damaged"),
    ("lm-json-cut", "lm.json", _cut("lm.json", 120), "not a JSON file"),
    ("codec-json-cut", "codec.json", _cut("codec.json", 60), "not a JSON file"),
    ("lm-dim-a-string", "lm.json", _edit_json("lm.json", lambda m: m["config"].update(dim="32")),
     "dim: expected int, got '32'"),
    ("lm-num-layers-missing", "lm.json",
     _edit_json("lm.json", lambda m: m["config"].pop("num_layers")), "missing setting(s) num_layers"),
    ("codec-unknown-key", "codec.json",
     _edit_json("codec.json", lambda m: m["config"].update(n_filterz=4)), "unknown setting(s) n_filterz"),
    ("lm-text-mistyped", "lm.json",
     _edit_json("lm.json", lambda m: m["config"]["text"].update(max_length="8")),
     "text: max_length: expected int"),
    ("lm-config-missing", "lm.json", _edit_json("lm.json", lambda m: m.pop("config")),
     "missing key 'config'"),
    ("generation-mistyped", "lm.json",
     _edit_json("lm.json", lambda m: m["generation"].update(stride="0.4")), "stride: expected float"),
    ("generation-unknown-key", "lm.json",
     _edit_json("lm.json", lambda m: m["generation"].update(strides=0.4)), "unknown setting(s) strides"),
    ("weights-of-another-shape", "lm.safetensors",
     _edit_json("lm.json", lambda m: m["config"].update(num_layers=3)), "does not match its lm.json"),
]


@pytest.mark.parametrize("damage", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_damaged_model_directory_is_one_message_naming_the_file(tmp_path, model_dir, damage):
    _, name, make_damage, words = damage
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    make_damage(broken)
    with pytest.raises(AudiogenError) as info:
        AudioGen.from_pretrained(broken, device="cpu")
    message = str(info.value)
    assert str(broken / name) in message and words in message and "\n" not in message


def test_damaged_codec_through_the_cli(tmp_path, model_dir, wav_and_codes, capsys):
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    _cut("codec.safetensors", 100)(broken)
    code, err = run_cli(capsys, "decode", "--model", broken, wav_and_codes[1], "-o",
                        tmp_path / "out.wav")
    assert code == 2 and f"{broken / 'codec.safetensors'}: damaged" in err
    assert "Traceback" not in err and not (tmp_path / "out.wav").exists()


def test_damaged_judge_is_one_message(tmp_path):
    judge = Judge(JudgeHead(8, 3), ["a", "b", "c"], JudgeConfig(),
                  {"name": "x", "sample_rate": 16000})
    judge.save(tmp_path)
    assert Judge.from_path(tmp_path).labels == ["a", "b", "c"]
    meta = json.loads((tmp_path / "judge.json").read_text())
    (tmp_path / "judge.json").write_text(json.dumps({**meta, "in_dim": "8"}))
    with pytest.raises(AudiogenError, match="judge.json: in_dim: expected int"):
        Judge.from_path(tmp_path)
    del meta["config"]["hidden"]
    (tmp_path / "judge.json").write_text(json.dumps(meta))
    with pytest.raises(AudiogenError, match="missing setting.*hidden"):
        Judge.from_path(tmp_path)
    judge.save(tmp_path)
    (tmp_path / "judge.safetensors").write_bytes(b"")
    with pytest.raises(AudiogenError, match="judge.safetensors: damaged"):
        Judge.from_path(tmp_path)


def _rewrite_codes(source, target, change):
    data = load_codes(source)
    change(data)
    save_codes(target, data)


CODES_CASES = [
    ("zero-frames", lambda d: setattr(d, "codes", d.codes[..., :0]), "no code frames"),
    ("negative-num-samples", lambda d: setattr(d, "num_samples", -5), "num_samples=-5"),
    ("num-samples-beyond-frames", lambda d: setattr(d, "num_samples", 10 ** 6),
     "num_samples=1000000"),
]


@pytest.mark.parametrize("case", CODES_CASES, ids=[c[0] for c in CODES_CASES])
def test_inconsistent_codes_file_is_refused_by_decode(tmp_path, model_dir, wav_and_codes, case,
                                                      capsys):
    _, change, words = case
    codes = tmp_path / "x.codes"
    _rewrite_codes(wav_and_codes[1], codes, change)
    code, err = run_cli(capsys, "decode", "--model", model_dir, codes, "-o", tmp_path / "o.wav")
    assert code == 2 and str(codes) in err and words in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("keep", [0, 8, 200])
def test_truncated_codes_file_is_refused(tmp_path, model_dir, wav_and_codes, keep, capsys):
    codes = tmp_path / "x.codes"
    codes.write_bytes(wav_and_codes[1].read_bytes()[:keep])
    code, err = run_cli(capsys, "decode", "--model", model_dir, codes, "-o", tmp_path / "o.wav")
    assert code == 2 and f"{codes}: not a codes file" in err and "Traceback" not in err


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint\n"], ids=["empty", "text"])
@pytest.mark.parametrize("command", ["convert-audiocraft-codec", "convert-audiocraft"])
def test_conversion_of_a_non_checkpoint_is_one_message(tmp_path, command, content, capsys):
    source = tmp_path / "state_dict.bin"
    source.write_bytes(content)
    argv = ([command, source] if command == "convert-audiocraft-codec" else
            [command, "--lm", source, "--compression", source, "--text-encoder", tmp_path])
    code, err = run_cli(capsys, *argv, "-o", tmp_path / "out")
    assert code == 2 and f"{source}: not an audiocraft checkpoint" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_damaged_audio_is_one_message(tmp_path, model_dir, wav_and_codes, damage, capsys):
    wav = tmp_path / "in.wav"
    data = wav_and_codes[0].read_bytes()
    wav.write_bytes(data[:30] if damage == "truncated" else random.Random(1).randbytes(2000))
    code, err = run_cli(capsys, "encode", "--model", model_dir, wav, "-o", tmp_path / "x.codes")
    assert code == 2 and str(wav) in err and "Traceback" not in err
    assert not (tmp_path / "x.codes").exists()


# --------------------------------------------------------------------------- checkpoints
def _train_config(data, steps):
    return CodecTrainConfig(
        data=str(data), codec={"n_filters": 4, "ratios": [4, 2], "dimension": 8,
                               "lstm_layers": 0, "n_q": 2, "bins": 16},
        disc_filters=4, batch_size=2, segment_seconds=0.25, valid_clips=1, steps=steps,
        checkpoint_every=2, validate_every=0, log_every=1, seed=3)


@pytest.mark.parametrize("damaged_file", ["train_state.pt", "codec.safetensors", "codec.json"])
def test_resume_falls_back_to_the_newest_complete_checkpoint(tmp_path, wav_and_codes,
                                                             damaged_file, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(wav_and_codes[0], data / "a.wav")
    shutil.copy(wav_and_codes[0], data / "b.wav")
    straight = CodecTrainer(_train_config(data, 5), tmp_path / "straight")
    straight.train(show_progress=False)

    run = tmp_path / "run"
    CodecTrainer(_train_config(data, 4), run).train(show_progress=False)  # steps 2 and 4 saved
    newest = run / "checkpoints" / "step_00000004" / damaged_file
    newest.write_bytes(newest.read_bytes()[:len(newest.read_bytes()) // 2])
    stale = run / "checkpoints" / ".step_00000006.k2x9_a"  # a kill during a later save
    stale.mkdir()
    capsys.readouterr()
    resumed = CodecTrainer(_train_config(data, 5), run)
    resumed.train(show_progress=False)
    out = capsys.readouterr().out
    assert f"checkpoint {newest.parent} is damaged" in out and damaged_file in out
    assert "resumed from" in out and "step_00000002" in out and not stale.exists()
    for (k, a), b in zip(straight.codec.state_dict().items(),
                         resumed.codec.state_dict().values()):
        assert torch.equal(a, b), k  # the fallback resumes exactly
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    straight_rows = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl")
                     .read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3, 4, 5]
    assert ([r["g/mel"] for r in rows if r["split"] == "train"]
            == [r["g/mel"] for r in straight_rows if r["split"] == "train"])


def test_lm_resume_falls_back_past_a_damaged_ema_file(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", clips=6, valid=2)
    codec = make_codec(tmp_path / "corpus")
    config = tiny_config(cache=str(make_cache(tmp_path / "corpus", corpus, codec)),
                         codec=str(codec), steps=5, checkpoint_every=2, ema_every=1,
                         ema_decay=0.5, validate_every=0)
    LMTrainer(config, tmp_path / "full").train(show_progress=False)
    LMTrainer(tiny_config(**{**config.__dict__, "steps": 4}), tmp_path / "split").train(
        show_progress=False)
    damaged = tmp_path / "split" / "checkpoints" / "step_00000004" / "ema.safetensors"
    damaged.write_bytes(b"")
    capsys.readouterr()
    LMTrainer(config, tmp_path / "split").train(show_progress=False)
    assert f"checkpoint {damaged.parent} is damaged" in capsys.readouterr().out
    a, b = (load_file(str(tmp_path / r / "checkpoints" / "step_00000005" / "lm.safetensors"))
            for r in ("full", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    la, lb = (read_metrics(tmp_path / r / "metrics.jsonl", "train") for r in ("full", "split"))
    assert [r["ce"] for r in la] == [r["ce"] for r in lb] and len(lb) == 5
    raw = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in raw if '"train"' in x] == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- fuzz
def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """n damaged copies: half cut at a random point, half with 1-8 random bytes changed."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(data[:rng.randrange(len(data))])
        else:
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                # header bytes are where a flip changes the meaning; weight bytes only values
                pos = rng.randrange(min(len(b), 2048)) if rng.random() < 0.7 else \
                    rng.randrange(len(b))
                b[pos] = rng.randrange(256)
            out.append(bytes(b))
    return out


def test_fuzzed_files_load_or_give_a_clean_error(tmp_path, model_dir, wav_and_codes, capsys):
    """Seeded: 32 damaged model files, 10 codes files, 10 wavs; each one either loads (a flip
    in the weights only changes values) or raises AudiogenError; nothing else escapes."""
    rng = random.Random(1234)
    outcomes = {"loaded": 0, "refused": 0}
    work = tmp_path / "model"
    for name in ("codec.json", "codec.safetensors", "lm.json", "lm.safetensors"):
        for damaged in _mutations((model_dir / name).read_bytes(), rng, 8):
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(model_dir, work)
            (work / name).write_bytes(damaged)
            try:
                AudioGen.from_pretrained(work, device="cpu")
                outcomes["loaded"] += 1
            except AudiogenError as e:
                assert str(work) in str(e)
                outcomes["refused"] += 1
    wav, codes = wav_and_codes
    for source, argv in [(codes, ("decode", "--model", model_dir, "{}", "-o", "{}.wav")),
                         (wav, ("encode", "--model", model_dir, "{}", "-o", "{}.codes"))]:
        for i, damaged in enumerate(_mutations(source.read_bytes(), rng, 10)):
            path = tmp_path / f"{i}{source.suffix}"
            path.write_bytes(damaged)
            code, err = run_cli(capsys, *[str(a).format(path) for a in argv])
            assert code in (0, 2) and "Traceback" not in err
            outcomes["loaded" if code == 0 else "refused"] += 1
    assert sum(outcomes.values()) == 52 and outcomes["refused"] >= 26
