"""Serving throughput: concurrent clients against a live `audiogen serve` on loopback.

    .venv/bin/python bench/serve.py [--requests 16] [--clients 1 4 8 16] [--threads 1]

Starts `audiogen serve` (the default model, audiogen/assets/default_model, unless --model) on
a free 127.0.0.1 port with --slots at the largest client count, then for each client count N
sends the same list of requests (one prompt each, durations cycling over 2-10 s, fixed seeds)
from N client threads through gradio_client, each client sending its share one after the
other. N = 1 is the same requests one at a time. Per level: requests per minute, seconds of
audio generated per wall-clock second, and p50 / p95 latency (submit to WAV files, nearest
rank). Then the issue's target case: 8 requests of 5 s, one at a time and all 8 at once
(throughput ratio; p95 latency at 8 over the median solo latency).

First, in this process, the decode loop alone (audiogen.generation.batching, no server, no
codec): process CPU time for one 5 s clip, then for eight together, which bounds what
batching can give the server on this machine whatever else runs on it.

Wall-clock figures: the load average before and after is printed, since other jobs on the
machine slow every level. The server runs with --threads intra-op threads (OMP_NUM_THREADS):
its decode loop and each request's codec decoding run in threads of their own.
Last line: `throughput ratio at 8 concurrent vs one at a time: X`.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATIONS = [2, 10, 5, 7, 3, 9, 4, 8, 6]  # seconds, cycled over the requests (mean 6 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, slots: int, out: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "audiogen", "serve", "--port", str(port), "--slots",
               str(slots), "--max-batch", "1", "--queue-size", "64", "--max-duration", "10",
               "--device", "cpu"]
    if args.model:
        command += ["--model", str(args.model.resolve())]  # the server runs in `out`
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(out / "server.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=out)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{(out / 'server.log').read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start within 300 s")


def run_level(url: str, requests: list[tuple[str, float, int]], clients: int) -> dict:
    """Send `requests` from `clients` threads (client c: requests c, c + clients, ...)."""
    from gradio_client import Client

    connections = [Client(url, verbose=False) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for prompt, duration, seed in requests[c::clients]:
            begin = time.monotonic()
            try:
                connections[c].predict(prompts=prompt, duration=duration, seed=seed,
                                       api_name="/generate")
            except Exception as e:  # noqa: BLE001 (reported below)
                with lock:
                    errors.append(e)
                continue
            with lock:
                latencies.append(time.monotonic() - begin)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    begin = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - begin
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g.: {errors[0]}")
    audio = sum(d for _, d, _ in requests)
    return {"clients": clients, "requests": len(requests), "wall": wall,
            "per_min": 60 * len(requests) / wall, "audio_per_s": audio / wall,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95)}


def loop_alone(args) -> None:
    """CPU seconds of the decode loop for one 5 s clip and for eight together (the best of
    two runs each, alternated)."""
    import torch

    from audiogen.api import AudioGen
    from audiogen.generation import GenerationRequest
    from audiogen.generation.batching import Job, Scheduler

    torch.set_num_threads(args.threads)
    model = AudioGen.from_pretrained(args.model or ROOT / "audiogen/assets/default_model",
                                     device="cpu")
    model.generate("warm up", duration=1.0, seed=0)
    best = {1: float("inf"), 8: float("inf")}
    for _ in range(2):
        for n in (1, 8):
            jobs = [Job(["a dog barks"], model.resolve(GenerationRequest(duration=5.0, seed=i)))
                    for i in range(n)]
            begin = time.process_time()
            list(Scheduler(model.lm, 8).run(jobs))
            best[n] = min(best[n], time.process_time() - begin)
    print(f"decode loop alone, CPU time: one 5 s clip {best[1]:.2f} s, eight together "
          f"{best[8]:.2f} s: {8 * best[1] / best[8]:.2f} times the clips per CPU second",
          flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * p // 100) - 1)]


def show(label: str, r: dict) -> None:
    print(f"{label:<22} {r['requests']:>8} {r['wall']:>8.1f} {r['per_min']:>8.1f} "
          f"{r['audio_per_s']:>10.2f} {r['p50']:>7.1f} {r['p95']:>7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=16, help="requests per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--model", type=Path, default=None,
                        help="model directory (default: the installed default model)")
    parser.add_argument("--no-target", action="store_true",
                        help="skip the 8 x 5 s target case")
    args = parser.parse_args()
    levels = sorted(set(args.clients) | {1})
    prompts = ["a dog barks", "rain on a tin roof", "footsteps on gravel", "a car passes by",
               "birds singing", "a door slams", "thunder rumbles", "water flowing"]
    requests = [(prompts[i % len(prompts)], float(DURATIONS[i % len(DURATIONS)]), i)
                for i in range(args.requests)]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs; server threads {args.threads}; slots {max(levels)}",
          flush=True)
    loop_alone(args)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(args, max(levels), Path(tmp))
        try:
            run_level(url, [("warm up", 1.0, 0)], 1)
            print(f"{len(requests)} requests per level, durations "
                  f"{min(DURATIONS)}-{max(DURATIONS)} s (mean "
                  f"{statistics.mean(d for _, d, _ in requests):.1f} s)")
            print(f"{'clients':<22} {'requests':>8} {'wall s':>8} {'req/min':>8} "
                  f"{'audio s/s':>10} {'p50 s':>7} {'p95 s':>7}")
            results = {}
            for n in levels:
                results[n] = run_level(url, requests, n)
                show("1 (one at a time)" if n == 1 else str(n), results[n])
            if not args.no_target:
                fives = [(prompts[i % len(prompts)], 5.0, 100 + i) for i in range(8)]
                solo, eight = run_level(url, fives, 1), run_level(url, fives, 8)
                print("\ntarget case: 8 requests of 5 s")
                show("one at a time", solo)
                show("8 concurrent", eight)
                print(f"throughput ratio (8 x 5 s): {eight['per_min'] / solo['per_min']:.2f}; "
                      f"p95 at 8 / solo p50: {eight['p95'] / solo['p50']:.2f}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if 8 in results:
        print(f"throughput ratio at 8 concurrent vs one at a time: "
              f"{results[8]['per_min'] / results[1]['per_min']:.2f}")


if __name__ == "__main__":
    main()
