"""Codec speed on CPU: audiogen vs the reference (audiocraft 1.3.0) on identical weights.

Runs in the reference environment, which holds both packages:

    tools/reference/python_ref bench/codec.py [--seconds 10] [--repeats 3] [--threads 1]

For each preset it builds the reference codec with random weights (as the parity fixtures do),
converts it with audiogen's importer, checks that both give the same codes, then times encode
and decode on the same input, alternating the two implementations so that load from other
jobs on a shared machine hits both alike; the best of `repeats` runs is kept. Time is the
process's CPU time (`time.process_time`): with one thread it equals wall time on an idle
machine, and unlike wall time it does not count the time other jobs hold the core.
RTF = CPU seconds per second of audio (lower is faster); speed ratio = reference time / our
time (>= 1.0: ours is not slower).
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml

from audiogen.codec import codec_preset
from audiogen.convert.codec import codec_from_reference
from tools.make_codec_fixtures import build_reference, test_signal


def _seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


@torch.no_grad()
def bench_preset(name: str, seconds: float, repeats: int) -> dict[str, float]:
    config = codec_preset(name)
    wav = test_signal(int(seconds * config.sample_rate), config.sample_rate, 0)
    ref, xp_cfg = build_reference(config, 0, test_signal(wav.shape[-1], config.sample_rate, 1))
    ours = codec_from_reference(ref.state_dict(), yaml.safe_load(xp_cfg))
    codes = ours.encode(wav)  # also the warm-up run of each side
    assert torch.equal(codes, ref.encode(wav)[0]), "codes differ: not a like-for-like benchmark"
    ref.decode(codes)
    ours.decode(codes)
    runs = {
        "ours_encode": lambda: ours.encode(wav), "ref_encode": lambda: ref.encode(wav),
        "ours_decode": lambda: ours.decode(codes), "ref_decode": lambda: ref.decode(codes),
    }
    best = {k: float("inf") for k in runs}
    for _ in range(repeats):  # interleaved: each round times every variant once
        for key, fn in runs.items():
            best[key] = min(best[key], _seconds(fn))
    return {k: v / seconds for k, v in best.items()}  # RTF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["small", "audiogen-16khz"])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (best kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"codec CPU benchmark: {args.seconds:g} s of 16 kHz audio, batch 1, "
          f"{args.threads} thread(s), process CPU time, best of {args.repeats}, "
          f"torch {torch.__version__}")
    header = (f"{'preset':<16}{'pass':<8}{'ours RTF':>10}{'ref RTF':>10}"
              f"{'ours x realtime':>17}{'speed ratio':>13}")
    print(header)
    for name in args.presets:
        rtf = bench_preset(name, args.seconds, args.repeats)
        for step in ("encode", "decode"):
            ours, ref = rtf[f"ours_{step}"], rtf[f"ref_{step}"]
            print(f"{name:<16}{step:<8}{ours:>10.4f}{ref:>10.4f}{1 / ours:>16.1f}x"
                  f"{ref / ours:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
