"""Sanity numbers for the aisfx embedder and classifier on real sound effects (docs/evaluation.md).

Uses the sounds of two Debian game packages when installed (`apt-get install wesnoth-1.16-data
lincity-ng`; nothing else is read):

1. FAD of even- vs odd-numbered wesnoth sounds (same source), of lincity-ng vs wesnoth (other
   source), and of even-numbered wesnoth sounds with white noise at 20 / 10 / 0 dB SNR;
2. leave-one-out nearest-centroid accuracy (cosine of clip embeddings) over wesnoth sounds
   grouped by the first word of their file names (groups of 4 or more);
3. KL(clean || noisy) with the aisfx classifier, and KL(clean || a random other clip).

    .venv/bin/python tools/aisfx_sanity.py
"""

import collections
import glob
import os
import re
import time

import numpy as np
import torch

from audiogen.audio.io import load_audio, resample
from audiogen.eval.embedders.aisfx import AisfxClassifier, AisfxEmbedder
from audiogen.eval.fad import Gaussian, fad_inf, frechet_to_samples
from audiogen.eval.kl import mean_kl

WESNOTH = "/usr/share/games/wesnoth/1.16/data/core/sounds"
LINCITY = "/usr/share/games/lincity-ng/sounds"


def load(path: str, noise_db: float | None = None, seed: int = 0,
         band_limit: bool = True) -> torch.Tensor:
    """Mono at 44.1 kHz, through 16 kHz as `audiogen evaluate` does (unless not `band_limit`);
    optional white noise at `noise_db` SNR."""
    wav, sr = load_audio(path, channels=1)
    wav = resample(resample(wav, sr, 16000) if band_limit else wav, 16000 if band_limit else sr,
                   44100)
    if noise_db is not None:
        g = torch.Generator().manual_seed(seed)
        rms = wav.pow(2).mean().sqrt()
        wav = wav + rms * 10 ** (-noise_db / 20) * torch.randn(wav.shape, generator=g)
    return wav


def main() -> None:
    torch.set_num_threads(1)
    wesnoth = sorted(glob.glob(f"{WESNOTH}/**/*.ogg", recursive=True)
                     + glob.glob(f"{WESNOTH}/**/*.wav", recursive=True))
    lincity = sorted(glob.glob(f"{LINCITY}/*.wav"))
    if not wesnoth or not lincity:
        raise SystemExit("needs the wesnoth-1.16-data and lincity-ng packages' sounds")
    emb = AisfxEmbedder()

    # 1. FAD
    def embed(files, noise_db=None):
        return [emb.embed(load(f, noise_db, k)).double().numpy() for k, f in enumerate(files)]

    start = time.perf_counter()
    even, odd = embed(wesnoth[0::2]), embed(wesnoth[1::2])
    other = embed(lincity)
    took = time.perf_counter() - start
    print(f"embedded {len(wesnoth) + len(lincity)} clips in {took:.1f} s "
          f"({1000 * took / (len(wesnoth) + len(lincity)):.0f} ms per clip)")
    ref = Gaussian.fit(np.concatenate(odd))
    sets = [("wesnoth even", even), ("lincity-ng", other)]
    sets += [(f"wesnoth even + noise {snr} dB", embed(wesnoth[0::2], snr)) for snr in (20, 10, 0)]
    for name, x in sets:
        print(f"FAD vs wesnoth odd ({len(odd)} files): {name:26s} ({len(x)} files) "
              f"{frechet_to_samples(ref, np.concatenate(x)):.1f}, FAD-inf "
              f"{fad_inf(ref, x).value:.1f}")

    # 2. leave-one-out nearest centroid
    def category(path):
        return re.split(r"[-_.0-9]", os.path.basename(path))[0]

    flat = sorted(glob.glob(f"{WESNOTH}/*.ogg") + glob.glob(f"{WESNOTH}/*.wav"))
    sizes = collections.Counter(category(f) for f in flat)
    kept = [f for f in flat if sizes[category(f)] >= 4]
    labels = sorted({category(f) for f in kept})
    y = torch.tensor([labels.index(category(f)) for f in kept])
    for band_limit in (True, False):
        x = torch.stack([torch.nn.functional.normalize(
            emb.embed(load(f, band_limit=band_limit)).mean(0), dim=0) for f in kept])
        correct = 0
        for i in range(len(kept)):
            others = torch.ones(len(kept), dtype=torch.bool)
            others[i] = False
            centroids = torch.stack([torch.nn.functional.normalize(
                x[others & (y == c)].mean(0), dim=0) for c in range(len(labels))])
            correct += int((centroids @ x[i]).argmax() == y[i])
        print(f"leave-one-out nearest centroid ({'16 kHz' if band_limit else 'full band'}): "
              f"{correct}/{len(kept)} = {correct / len(kept):.1%} over {len(labels)} categories "
              f"(chance {1 / len(labels):.1%})")

    # 3. KL under noise
    clf = AisfxClassifier(embedder=emb)
    files = sorted(glob.glob(f"{WESNOTH}/*.ogg"))[:60]
    clean = torch.stack([clf.probabilities(load(f)) for f in files])
    for snr in (20, 10, 0):
        noisy = torch.stack([clf.probabilities(load(f, snr, k)) for k, f in enumerate(files)])
        print(f"KL(clean || noise {snr} dB) over {len(files)} pairs: "
              f"{mean_kl(clean, noisy)['kl_ref_gen']:.2f}")
    perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(1))
    print(f"KL(clean || a random other clip): {mean_kl(clean, clean[perm])['kl_ref_gen']:.2f}")


if __name__ == "__main__":
    main()
