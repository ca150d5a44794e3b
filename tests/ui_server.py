"""A live web page on a tiny model for the UI tests: 127.0.0.1 only, a free port, closed after."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

from tiny_model import tiny_model_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tracker:
    """Wraps model.generate_stream: counts generations running at once; slows each LM step (solo
    or shared loop) a little so that streaming and queueing can be observed on a model this small.
    While `steps` is cleared, every LM step waits for it: a test holds the running requests there
    until the queued ones have been seen waiting, however slow the machine."""

    def __init__(self, model, step_delay: float = 0.0):
        self.running = self.most = self.started = 0
        self.guard = threading.Lock()
        self.steps = threading.Event()
        self.steps.set()
        stream, step, step_rows = model.generate_stream, model.lm.step, model.lm.step_rows

        def tracked(*args, **kwargs):
            inner = stream(*args, **kwargs)

            def run():
                with self.guard:
                    self.running += 1
                    self.started += 1
                    self.most = max(self.most, self.running)
                try:
                    yield from inner
                finally:
                    with self.guard:
                        self.running -= 1
            return run()

        def held(inner):
            def step_when_allowed(*args, **kwargs):
                self.steps.wait()
                time.sleep(step_delay)
                return inner(*args, **kwargs)
            return step_when_allowed

        model.generate_stream = tracked
        model.lm.step = held(step)
        model.lm.step_rows = held(step_rows)  # the shared loop's step


@contextmanager
def serve(tmp_path, step_delay: float = 0.0, **config):
    """-> (url, tracker): the page and API of a fresh tiny model, until the block ends."""
    import torch

    from audiogen.api import AudioGen
    from audiogen.ui.app import build_app
    from audiogen.ui.limits import ServeConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a busy machine
    model = AudioGen.from_pretrained(tiny_model_dir(tmp_path / "model"), device="cpu")
    tracker = Tracker(model, step_delay)
    port = free_port()
    demo = build_app(model, ServeConfig(port=port, **config), out_dir=str(tmp_path / "out"))
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", tracker
    finally:
        demo.close()
        torch.set_num_threads(threads)
