"""The web app's HTTP API and queue, on a live server over a tiny model (no browser).

Skipped when the `ui` extra (gradio) is not installed.
"""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("gradio", reason="the web page needs the `ui` extra: pip install -e '.[ui]'")
from gradio_client import Client
from ui_server import serve

SR = 16000
# pandas 3 deprecations raised inside gradio's queue, not ours
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("ui"), step_delay=0.005, max_batch=3,
               max_duration=5, slots=3) as (url, tracker):
        yield url, tracker


def test_python_client_example(server):
    """The gradio_client example of docs/generation.md."""
    url, _ = server
    client = Client(url, verbose=False)
    files, seed = client.predict(prompts="a dog barks\nrain on a tin roof", duration=1.0,
                                 seed=None, api_name="/generate")
    assert len(files) == 2 and 0 <= seed < 2**31
    for f in files:
        wav, sr = sf.read(f)
        assert sr == SR and wav.shape == (SR,) and abs(wav).max() > 1e-3
    again, same_seed = client.predict(prompts="a dog barks\nrain on a tin roof", duration=1.0,
                                      seed=seed, api_name="/generate")
    assert same_seed == seed
    for a, b in zip(again, files):
        assert (sf.read(a)[0] == sf.read(b)[0]).all()  # same seed and batch, same audio


def test_raw_http_example(server):
    """docs/generation.md's curl example, step for step: POST the inputs, read the event stream."""
    import httpx

    url, _ = server
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post("gradio_api/call/generate",
                      json={"data": ["thunder", "", 0.6, 3, 250, 0, 1, 7, None, True]})
        event_id = r.json()["event_id"]
        text = http.get(f"gradio_api/call/generate/{event_id}").text
        assert "event: complete" in text
        data = json.loads(text.split("event: complete\ndata: ")[1].splitlines()[0])
        files, seed = data
        assert seed == 7
        audio = http.get(files[0]["url"])
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
        # 0.6 s of 16-bit mono
        assert len(audio.content) == 44 + 2 * round(0.6 * SR)


def test_bad_input_is_a_message_and_the_server_keeps_serving(server):
    url, _ = server
    client = Client(url, verbose=False)
    for kwargs, message in [({"prompts": "x", "duration": 60}, "at most 5"),
                            ({"prompts": "a\nb\nc\nd"}, "at most 3 per request"),
                            ({"prompts": " "}, "Enter a prompt"),
                            ({"prompts": "x", "top_p": 2}, "top_p must be between 0 and 1")]:
        with pytest.raises(Exception, match=message):
            client.predict(api_name="/generate", **kwargs)
    files, _ = client.predict(prompts="still here", duration=0.3, api_name="/generate")
    assert len(files) == 1


def test_concurrent_clients_share_the_loop_and_the_rest_queue(server):
    from gradio_client.utils import Status

    url, tracker = server
    before = tracker.started
    tracker.most = 0
    tracker.steps.clear()  # the first 3 requests wait in the loop until the other 4 are queued
    try:
        jobs = [Client(url, verbose=False).submit(prompts=f"client {i}", duration=1.0, seed=i,
                                                  api_name="/generate") for i in range(7)]
        deadline = time.monotonic() + 60
        while True:
            statuses = [job.status() for job in jobs]
            ranks = sorted(s.rank for s in statuses if s.code == Status.IN_QUEUE)
            if (tracker.started - before == 3 and ranks == [0, 1, 2, 3]
                    or time.monotonic() > deadline):
                break
            time.sleep(0.05)
        running = tracker.started - before
    finally:
        tracker.steps.set()
    # 3 in the loop's 3 slots; the other 4 were told their place in the queue
    assert running == 3 and ranks == [0, 1, 2, 3], (running, statuses)
    results = [job.result(timeout=120) for job in jobs]
    assert [seed for _, seed in results] == list(range(7))
    assert all(len(files) == 1 for files, _ in results)
    # saved from 7 threads at once: 7 files, none written over another's name
    assert len({Path(f).name for files, _ in results for f in files}) == 7
    # several at once in the shared loop, never more than its 3 slots' worth of requests
    assert tracker.started - before == 7 and 1 < tracker.most <= 3


def test_continuation_through_the_api(server, tmp_path):
    from gradio_client import handle_file

    url, _ = server
    clip = tmp_path / "clip.wav"
    tone = 0.3 * np.sin(np.arange(11025) * 2 * np.pi * 440 / 22050)
    sf.write(clip, tone, 22050)  # 0.5 s at another rate: resampled
    client = Client(url, verbose=False)
    (kept,), _ = client.predict(prompts="", duration=1.0, seed=1, clip=handle_file(str(clip)),
                                api_name="/generate")
    (cut,), _ = client.predict(prompts="", duration=1.0, seed=1, clip=handle_file(str(clip)),
                               keep_clip=False, api_name="/generate")
    assert sf.read(kept)[0].shape == (SR,) and sf.read(cut)[0].shape == (SR // 2,)
    # the continuation is the same audio, with or without the clip before it
    assert np.abs(sf.read(kept)[0][SR // 2:] - sf.read(cut)[0]).max() < 1e-3


def test_serve_command_starts_the_page_on_localhost(tmp_path):
    """`audiogen serve` as a user runs it: a process that serves the page until stopped."""
    import subprocess
    import sys
    import time

    import httpx
    from tiny_model import tiny_model_dir
    from ui_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "audiogen", "serve", "--model", str(tiny_model_dir(tmp_path)),
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        page = None
        while page is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            except httpx.TransportError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200 and "AudioGen" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_api_saves_wavs_without_spectrograms(tmp_path):
    """An API call returns WAV files only, so no spectrogram image is drawn for it (it cost
    more CPU than decoding the audio); the page's results keep theirs."""
    import torch

    from audiogen.generation import GenerationRequest
    from audiogen.ui.app import Studio
    from audiogen.ui.limits import Request, ServeConfig

    model = SimpleNamespace(batches_continuously=False, sample_rate=SR)
    studio = Studio(model, ServeConfig(), out_dir=tmp_path)
    request = Request(["a dog", "rain"], GenerationRequest(seed=3))
    wav = torch.rand(2, 1, SR // 10) - 0.5
    api = studio.save(request, wav, images=False)
    page = studio.save(request, wav)
    assert [r["image"] for r in api] == [None, None]
    assert [Path(r["image"]).name for r in page] == ["0003_a-dog_seed3.png",
                                                      "0004_rain_seed3.png"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["0003_a-dog_seed3.png",
                                                              "0004_rain_seed3.png"]
    assert len(list(tmp_path.glob("*.wav"))) == 4
