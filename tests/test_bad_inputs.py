"""Bad input gets one clear line before any work is done, never a traceback.

One section per input class; each case asserts the exit code, the message, no traceback in
standard error, nothing left on disk, and, where the input allows, that no model was loaded:
  - generation values (CLI, Python API, web page: the same message for the same value)
  - output paths
  - devices
  - HTTP requests (the web page's API)
  - the command line's consistency (flags and listing)
"""

from __future__ import annotations

import errno
import os
import tempfile

import pytest
import torch
from tiny_model import tiny_model_dir

import audiogen.fileio
from audiogen.api import AudioGen
from audiogen.audio.io import save_audio
from audiogen.cli.main import COMMANDS, build_parser, main
from audiogen.codec import Codec
from audiogen.errors import AudiogenError
from audiogen.generation import GenerationConfig
from audiogen.ui.limits import ServeConfig, check_inputs, parse_request

SR = 16000
CAP = 30  # the tiny model's generation.max_duration


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_model_dir(tmp_path_factory.mktemp("model")))


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if any model or codec is loaded."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was refused")

    monkeypatch.setattr(AudioGen, "from_pretrained", refuse)
    monkeypatch.setattr(Codec, "load", refuse)


def _files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def _refused(argv, capsys, tmp_path, message: str) -> str:
    """Run argv; assert exit 2, `message` in standard error, no traceback, no new file."""
    before = _files(tmp_path)
    code, _, err = _run(argv, capsys)
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err and err.count("\n") == 1  # one line
    assert _files(tmp_path) == before
    return err.strip()


# ------------------------------------------------------------------ generation values
# (flag, value typed, message): the web page's field for each flag is in WEB_FIELD
SEED = "seed must be a whole number from 0 to 2**63 - 1 (leave it empty for a random one),"
BAD_VALUES = [
    ("--cfg-coef", "nan", "cfg_coef must be a finite number, got nan."),
    ("--cfg-coef", "inf", "cfg_coef must be a finite number, got inf."),
    ("--cfg-coef", "-2", "cfg_coef (guidance) must be >= 0 (1 = no guidance), got -2."),
    ("--temperature", "nan", "temperature must be a finite number, got nan."),
    ("--temperature", "-1", "temperature must be >= 0 (0 = greedy), got -1."),
    ("--top-k", "-1", "top_k must be a whole number >= 0 (0 = off), got -1."),
    ("--top-k", "2.5", "top_k must be a whole number >= 0 (0 = off), got 2.5."),
    ("--top-p", "1.5", "top_p must be between 0 and 1 (0 = off), got 1.5."),
    ("--top-p", "nan", "top_p must be a finite number, got nan."),
    ("--seed", str(2**70), f"{SEED} got {2**70}."),
    ("--seed", "-1", f"{SEED} got -1."),
    ("--seed", "abc", f"{SEED} got 'abc'."),
    ("--duration", "-1", f"duration must be above 0 and at most {CAP} s, got -1."),
    ("--duration", "0", f"duration must be above 0 and at most {CAP} s, got 0."),
    ("--duration", "1000", f"duration must be above 0 and at most {CAP} s, got 1000."),
    ("--duration", "nan", "duration must be a finite number, got nan."),
    ("--duration", "five", "duration must be a number, got 'five'."),
]
WEB_FIELD = {"--cfg-coef": "guidance", "--temperature": "temperature", "--top-k": "top_k",
             "--top-p": "top_p", "--seed": "seed", "--duration": "duration"}


@pytest.mark.parametrize("flag, value, message", BAD_VALUES)
def test_bad_value_generate(flag, value, message, model_dir, tmp_path, capsys, no_model):
    _refused(["generate", "a dog", "--model", model_dir, flag, value,
              "-o", tmp_path / "out"], capsys, tmp_path, message)


@pytest.mark.parametrize("flag, value, message", BAD_VALUES[::4])
def test_bad_value_continue(flag, value, message, model_dir, tmp_path, capsys, no_model):
    clip = tmp_path / "clip.wav"
    save_audio(clip, torch.zeros(1, SR // 10), SR)
    _refused(["continue", clip, "--model", model_dir, flag, value, "-o", tmp_path / "c.wav"],
             capsys, tmp_path, message)


@pytest.mark.parametrize("flag, value, message", BAD_VALUES)
def test_bad_value_same_message_on_the_web_page(flag, value, message, model_dir):
    """The page sends numbers (or the text typed); either way the CLI's message."""
    config = GenerationConfig.from_dict(
        audiogen.fileio.read_json(f"{model_dir}/lm.json")["generation"])
    for sent in {value, _as_number(value)}:
        with pytest.raises(AudiogenError) as info:
            parse_request(ServeConfig(), config, prompts="a dog", **{WEB_FIELD[flag]: sent})
        assert str(info.value) == message


def _as_number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def test_duration_zero_and_negative_share_one_message(model_dir, tmp_path, capsys, no_model):
    lines = [_refused(["generate", "x", "--model", model_dir, "--duration", d,
                       "-o", tmp_path / "o"], capsys, tmp_path, "duration")
             for d in ("-1", "0")]
    assert lines[0].rsplit("got", 1)[0] == lines[1].rsplit("got", 1)[0]


@pytest.mark.parametrize("settings, message", [
    ({"temperature": float("nan")}, "temperature must be a finite number"),
    ({"cfg_coef": float("inf")}, "cfg_coef must be a finite number"),
    ({"seed": 2**64}, "seed must be a whole number"),
    ({"seed": -1}, "seed must be a whole number"),
    ({"duration": -1}, f"at most {CAP} s"),
])
def test_bad_value_python_api(model_dir, settings, message):
    model = AudioGen.from_pretrained(model_dir, device="cpu")
    for call in (lambda: model.generate("a dog", **settings),
                 lambda: model.generate_stream("a dog", **settings)):
        with pytest.raises(AudiogenError, match=message):
            call()


# ------------------------------------------------------------------ output paths
def test_output_parent_is_a_file(model_dir, tmp_path, capsys, no_model):
    (tmp_path / "notes.txt").write_text("x")
    _refused(["generate", "a dog", "--model", model_dir, "-o", tmp_path / "notes.txt" / "out"],
             capsys, tmp_path, "notes.txt is a file, not a folder")
    _refused(["continue", tmp_path / "notes.txt", "--model", model_dir,
              "-o", tmp_path / "notes.txt" / "c.wav"], capsys, tmp_path,
             "notes.txt is a file, not a folder")


def test_output_in_a_read_only_folder(model_dir, tmp_path, capsys, no_model, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)  # enough for a normal user; root ignores it, so refuse it here too
    mkstemp = tempfile.mkstemp

    def refusing(*args, dir=None, **kwargs):
        if dir is not None and os.path.realpath(dir) == os.path.realpath(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(locked))
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(audiogen.fileio.tempfile, "mkstemp", refusing)
    try:
        _refused(["generate", "a dog", "--model", model_dir, "-o", locked / "out"], capsys,
                 tmp_path, "Permission denied; choose another output location")
        _refused(["generate", "a dog", "--model", model_dir, "-o", locked / "a.wav"], capsys,
                 tmp_path, f"cannot write into {locked}")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("name, prompts, message", [
    ("x.txt", ["a"], ".txt is not an audio format this writes"),
    ("x.mp4", ["a"], ".mp4 is not an audio format this writes"),
    ("x.mp3", ["a", "b"], "names one file but there are 2 prompts"),
    ("x.wav", ["a", "b"], "names one file but there are 2 prompts"),
])
def test_output_name_refused(name, prompts, message, model_dir, tmp_path, capsys, no_model):
    _refused(["generate", *prompts, "--model", model_dir, "-o", tmp_path / name], capsys,
             tmp_path, message)
    assert not (tmp_path / name).exists()  # no folder named like a file


def test_output_mp3_is_one_file(model_dir, tmp_path, capsys):
    code, _, err = _run(["generate", "a dog", "--model", model_dir, "--duration", "0.2",
                         "--seed", "1", "-o", tmp_path / "x.mp3"], capsys)
    assert code == 0, err
    assert (tmp_path / "x.mp3").is_file()


@pytest.mark.parametrize("target, message", [
    ("folder", "folder: not a .wav/.flac/.ogg/.mp3 file name"),
    ("c.txt", "c.txt: not a .wav/.flac/.ogg/.mp3 file name"),
])
def test_continue_output_checked_before_the_model(target, message, model_dir, tmp_path,
                                                  capsys, no_model):
    (tmp_path / "folder").mkdir()
    clip = tmp_path / "clip.wav"
    save_audio(clip, torch.zeros(1, SR // 10), SR)
    _refused(["continue", clip, "--model", model_dir, "-o", f"{tmp_path / target}/"], capsys,
             tmp_path, message)


@pytest.mark.parametrize("argv, message", [
    (["decode", "--model", "{m}", "x.codes", "-o", "{t}/x.txt"], "x.txt: not a"),
    (["encode", "--model", "{m}", "x.wav", "-o", "{t}/f/x.codes"], "f is a file, not a folder"),
    (["data", "encode", "x.jsonl", "--model", "{m}", "-o", "{t}/f/cache"],
     "f is a file, not a folder"),
    (["plot", "{t}", "-o", "{t}/curves.txt"], "curves.txt: not a .png file name"),
    (["train", "codec", "-o", "{t}/f/run"], "f is a file, not a folder"),
    (["train", "lm", "-o", "{t}/f/run"], "f is a file, not a folder"),
])
def test_other_commands_check_outputs_first(argv, message, model_dir, tmp_path, capsys,
                                            no_model):
    (tmp_path / "f").write_text("a file")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "split": "train", "ce": 1.0}\n')
    argv = [a.format(m=model_dir, t=tmp_path) for a in argv]
    _refused(argv, capsys, tmp_path, message)


@pytest.mark.parametrize("error, message", [
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
])
def test_write_failure_is_a_message_and_leaves_nothing(error, message, model_dir, tmp_path,
                                                       capsys, monkeypatch):
    import soundfile

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(soundfile, "write", failing)
    _refused(["generate", "a dog", "--model", model_dir, "--duration", "0.2",
              "-o", tmp_path / "a.wav"], capsys, tmp_path, f"cannot write {tmp_path / 'a.wav'}: "
             f"{message}.")


# ------------------------------------------------------------------ devices
def _missing_cuda() -> tuple[str, str]:
    if torch.cuda.is_available():
        return "cuda:99", "CUDA device(s), cuda:0 to"
    return "cuda", "has no CUDA device; use cpu or auto."


@pytest.mark.parametrize("device, message", [
    ("tpu", "device 'tpu': unknown device; use auto, cpu, cuda, cuda:N or mps."),
    ("cuda:x", "device 'cuda:x': unknown device"),
    _missing_cuda(),
    ("mps", "mps" if torch.backends.mps.is_available() else "MPS (Apple GPU) is not available"),
])
@pytest.mark.parametrize("command", ["generate", "continue", "encode", "decode", "data encode",
                                     "train codec", "train lm", "serve"])
def test_bad_device(command, device, message, model_dir, tmp_path, capsys, no_model):
    if device == "mps" and torch.backends.mps.is_available():
        return  # a usable device: nothing to refuse on this machine
    clip = tmp_path / "clip.wav"
    save_audio(clip, torch.zeros(1, SR // 10), SR)
    rest = {"generate": ["a dog", "--model", model_dir, "-o", tmp_path / "o"],
            "continue": [clip, "--model", model_dir, "-o", tmp_path / "c.wav"],
            "encode": ["--model", model_dir, clip, "-o", tmp_path / "x.codes"],
            "decode": ["--model", model_dir, tmp_path / "x.codes", "-o", tmp_path / "x.wav"],
            "data encode": [tmp_path / "m.jsonl", "--model", model_dir, "-o", tmp_path / "c"],
            "train codec": ["-o", tmp_path / "run"],
            "train lm": ["-o", tmp_path / "run"],
            "serve": ["--model", model_dir]}[command]
    _refused([*command.split(), *rest, "--device", device], capsys, tmp_path, message)


@pytest.mark.parametrize("flags, message", [
    (["--dtype", "float8"], "unknown dtype 'float8': use one of float32, bfloat16, float16, int8."),
    (["--dtype", "bfloat16", "--plain-decoder"], "dtype and cuda_graphs are options of the fast"),
    (["--cuda-graphs", "--device", "cpu"], "CUDA graphs need a CUDA device"),
    (["--dtype", "int8", "--device", "mps"], ("int8 weights are a CPU option: on MPS use "
                                              "bfloat16 or float16 (or run on the CPU with "
                                              "--device cpu).")),
])
@pytest.mark.parametrize("command", ["generate", "serve"])
def test_bad_decoding_options(command, flags, message, model_dir, tmp_path, capsys, no_model,
                              monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)  # an Apple GPU, faked
    rest = {"generate": ["a dog", "--model", model_dir, "-o", tmp_path / "o"],
            "serve": ["--model", model_dir]}[command]
    _refused([*command.split(), *rest, *flags], capsys, tmp_path, message)


def _command_parser(words: tuple[str, ...]):
    """The argparse parser of one command (e.g. ("train", "codec"))."""
    sub = build_parser(list(words))
    for word in words:
        sub = sub._subparsers._group_actions[0].choices[word]
    return sub


def test_one_device_default_documented_everywhere():
    for words in COMMANDS:
        sub = _command_parser(words)
        device = [a for a in sub._actions if "--device" in a.option_strings]
        if device:
            assert "default: auto" in device[0].help, words
            assert device[0].default in ("auto", None), words  # None: a resumed run's own


# ------------------------------------------------------------------ HTTP requests
API = ["prompts", "negative", "duration", "guidance", "top_k", "top_p", "temperature", "seed",
       "clip", "keep_clip"]
FILE = {"path": "/tmp/gradio/x.wav", "meta": {"_type": "gradio.FileData"}}


@pytest.mark.parametrize("values, message", [
    (["x", "", 1, 3], "this endpoint takes 10 inputs (prompts, negative, duration"),
    ([], "takes 10 inputs"),
    (["x", "", 1, 3, 250, 0, 1, 7, None, True, 5], "got 11."),
    (["x", "", 1, 3, 250, 0, 1, 7, "abc", True], "clip must be an audio file sent with the"),
    (["x", "", 1, 3, 250, 0, 1, 7, "/etc/passwd", True], "paths and URLs are not read"),
    (["x", "", 1, 3, 250, 0, 1, 7, "file:///etc/passwd", True], "paths and URLs are not read"),
    (["x", "", 1, 3, 250, 0, 1, 7, {"path": "/etc/passwd"}, True], "paths and URLs"),
])
def test_http_inputs_refused(values, message):
    with pytest.raises(AudiogenError) as info:
        check_inputs(API, values, {"clip"})
    assert message in str(info.value)


def test_http_inputs_accepted():
    check_inputs(API, ["x", "", 1, 3, 250, 0, 1, None, None, True], {"clip"})
    check_inputs(API, ["x", "", 1, 3, 250, 0, 1, 7, FILE, True], {"clip"})


@pytest.mark.parametrize("fields, message", [
    ({"seed": "abc"}, f"{SEED} got 'abc'."),
    ({"seed": -1}, "got -1."),
    ({"seed": True}, "got True."),
    ({"prompts": 5}, "prompts must be text"),
    ({"negative": 3}, "negative must be text"),
])
def test_http_values_refused(fields, message):
    fields.setdefault("prompts", "a dog")
    with pytest.raises(AudiogenError) as info:
        parse_request(ServeConfig(), GenerationConfig(), **fields)
    assert message in str(info.value)


def test_http_random_seed_is_asked_with_an_empty_seed():
    seeds = {parse_request(ServeConfig(), GenerationConfig(), prompts="a", seed=s).seed
             for s in (None, "", None, "")}
    assert len(seeds) > 1


@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword")
def test_http_bad_requests_on_a_live_server(tmp_path):
    """Through Gradio: a message for each, never `{"error": null}`; the server goes on."""
    pytest.importorskip("gradio")
    import json

    import httpx
    from ui_server import serve

    with (serve(tmp_path, max_batch=2, max_duration=5) as (url, _),
          httpx.Client(base_url=url, timeout=60) as http):
        def call(data):
            event = http.post("gradio_api/call/generate", json={"data": data}).json()
            text = http.get(f"gradio_api/call/generate/{event['event_id']}").text
            kind, payload = text.split("\n")[0], text.split("data: ", 1)[1].split("\n")[0]
            return kind, json.loads(payload)

        for data, message in [
                (["x", "", 0.3], "takes 10 inputs"),
                (["x", "", 0.3, 3, 250, 0, 1, "abc", None, True], f"{SEED} got 'abc'."),
                (["x", "", 0.3, 3, 250, 0, 1, 7, "file:///etc/passwd", True],
                 "paths and URLs are not read"),
                (["x", "", 0.3, 3, 250, 0, 1, -1, None, True], f"{SEED} got -1."),
                (["x", "", -1, 3, 250, 0, 1, 1, None, True],
                 "duration must be above 0 and at most 5 s, got -1.")]:
            kind, payload = call(data)
            assert kind == "event: error" and message in payload["error"], payload
        kind, payload = call(["x", "", 0.3, 3, 250, 0, 1, 7, None, True])
        assert kind == "event: complete" and payload[1] == 7  # the server goes on


# ------------------------------------------------------------------ the command line
def test_help_lists_every_command_group(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for words in COMMANDS:
        assert f"    {words[0]} " in out or f"    {words[0]}\n" in out, words[0]


def test_output_flag_is_o_everywhere_with_out_kept():
    for words in COMMANDS:
        sub = _command_parser(words)
        flags = {f for a in sub._actions for f in a.option_strings}
        if "--output" in flags or "--out" in flags:
            assert {"-o", "--output", "--out"} <= flags, words
        assert "--export-dir" not in flags
