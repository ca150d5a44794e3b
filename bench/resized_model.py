"""A model directory of another LM size, for the benchmarks: the default model's codec, text
encoder and generation settings around an LM of the given shape with random weights.

    .venv/bin/python bench/resized_model.py -o runs/lm512x12 --dim 512 --layers 12 --heads 8
    .venv/bin/python bench/serve.py --model runs/lm512x12

Random weights decode as fast as trained ones (the same products and the same number of
steps), so a larger model's serving speed can be measured without training one; its audio is
noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiogen.default_model import default_model_dir
from audiogen.errors import AudiogenError
from audiogen.lm import AudioLM
from audiogen.lm.config import LMConfig
from audiogen.lm.model import FILES


def resized_model(out: Path, dim: int, layers: int, heads: int, seed: int = 0) -> Path:
    """Write `out/` (codec.*, lm.*): the default model with an LM of `layers` x `dim`
    (`heads` attention heads, feed-forward 4 x dim), weights drawn from `seed`."""
    if dim % heads:
        raise AudiogenError(f"--dim ({dim}) must be a multiple of --heads ({heads}).")
    source = Path(default_model_dir())
    meta = FILES.read_meta(source)
    config = dataclasses.replace(FILES.config(source, meta, LMConfig),
                                 dim=dim, num_heads=heads, num_layers=layers, ffn_dim=4 * dim)
    tmp = out.with_name(out.name + ".tmp")  # renamed onto `out` once complete
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("codec.json", "codec.safetensors"):
        shutil.copyfile(source / name, tmp / name)
    torch.manual_seed(seed)
    AudioLM(config).eval().save(tmp, generation=meta["generation"])
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, required=True, help="the model directory")
    parser.add_argument("--dim", type=int, default=512, help="the LM's width")
    parser.add_argument("--layers", type=int, default=12, help="transformer layers")
    parser.add_argument("--heads", type=int, default=8, help="attention heads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args()
    try:
        out = resized_model(args.out, args.dim, args.layers, args.heads, args.seed)
    except AudiogenError as e:
        raise SystemExit(f"error: {e}") from None
    params = sum(p.numel() for p in AudioLM.load(out).parameters())
    print(f"wrote {out}: LM {args.layers} x {args.dim}, {params / 1e6:.1f}M parameters")


if __name__ == "__main__":
    main()
