"""LM training speed and peak memory on CPU for a training config (default: the small preset).

    .venv/bin/python bench/train.py [--config small] [--steps 10] [--threads 2] [key=value ...]

Builds a synthetic token cache (random codes of the config's LM shape, 50 Hz, one random
384-dim text state sequence per caption, as MiniLM would give) and a random codec directory,
then times `LMTrainer.train_step` (forward, backward, clipping, AdamW, EMA) after two warm-up
steps. Prints tokens/s (valid codebook x frame tokens per second), steps/s and the process's
peak resident memory. Wall time: on a shared machine other jobs slow it down, so the load
average is printed with the numbers, and the CPU time per step, which other jobs inflate less.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audiogen.codec import Codec, codec_preset
from audiogen.data.manifest import ManifestEntry
from audiogen.data.token_cache import build_token_cache
from audiogen.train.lm_config import load_config
from audiogen.train.lm_trainer import LMTrainer
from audiogen.train.overrides import apply_overrides


class RandomCodec:
    """Random codes of a given shape at 50 Hz (stands in for encoding real audio)."""

    sample_rate, frame_rate = 16000, 50.0

    def __init__(self, num_codebooks: int, cardinality: int):
        self.num_codebooks, self.cardinality = num_codebooks, cardinality

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        frames = -(-wav.shape[-1] // 320)
        return torch.randint(self.cardinality, (wav.shape[0], self.num_codebooks, frames))


class RandomText:
    name, dim = "all-MiniLM-L6-v2", 384

    def encode(self, texts, device):
        return torch.randn(len(texts), 8, self.dim), torch.ones(len(texts), 8, dtype=torch.bool)


def build_data(root: Path, lm_shape: tuple[int, int], clips: int, seconds: float) -> None:
    import soundfile as sf

    entries = []
    for i in range(clips):
        path = root / f"{i}.wav"
        sf.write(path, np.zeros(int(seconds * 16000), np.float32), 16000)
        entries.append(ManifestEntry(str(path), seconds, 16000, 1, [f"sound {i}"],
                                     "train", str(i)))
    build_token_cache(entries, RandomCodec(*lm_shape), root / "cache", text_encoder=RandomText(),
                      progress=False)
    codec = codec_preset("small")
    codec.n_q, codec.bins = lm_shape
    Codec(codec).save(root / "codec")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", help="config file or preset")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("overrides", nargs="*", help="key=value settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = apply_overrides(load_config(args.config), args.overrides)
    lm = config.lm_config()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = max(64, config.batch_size * 2)
        build_data(root, (lm.num_codebooks, lm.card), clips, config.segment_seconds)
        config = apply_overrides(config, [f"cache={root / 'cache'}", f"codec={root / 'codec'}",
                                          "device=cpu", f"num_threads={args.threads}"])
        trainer = LMTrainer(config, root / "run")
        for _ in range(2):
            trainer.train_step()
        tokens, start, cpu = 0.0, time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            tokens += trainer.train_step()["tokens"]
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = lm.num_parameters() / 1e6
    print(f"config {args.config}: LM {params:.1f}M parameters (dim {lm.dim}, {lm.num_layers} "
          f"layers, {lm.num_codebooks} x {lm.card}), batch {config.batch_size} x "
          f"{config.segment_seconds:g} s, grad_accum {config.grad_accum}; {args.threads} "
          f"thread(s), torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}")
    print(f"  {tokens / elapsed:,.0f} tokens/s, {args.steps / elapsed:.3f} steps/s "
          f"({elapsed / args.steps:.2f} s/step over {args.steps} steps), peak RSS {peak_mb:,.0f} MB")
    print(f"  CPU time {cpu / args.steps:.2f} s/step (summed over threads: the wall time of "
          f"one step on {args.threads} idle core(s) is about this / {args.threads})")


if __name__ == "__main__":
    sys.exit(main())
