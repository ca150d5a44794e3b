"""A small captioned corpus, a tiny codec and a token cache for the LM training tests.

Clips are 1 s tones and noise bursts at 16 kHz with one caption each; the codec is the tiny
random one of tiny_model.py (4 x 16 codes, 50 Hz); captions are cached with a fake 4-dim
text encoder, so no real text encoder is loaded on the cache path.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tiny_model import tiny_codec_config

from audiogen.codec import Codec
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.data.token_cache import build_token_cache
from audiogen.train.lm_config import LMTrainConfig

SR = 16000
CAPTIONS = ["a low hum", "a high whistle", "white noise", "a beeping alarm",
            "a rising tone", "a falling tone", "a soft rumble", "a buzzing insect"]


class WordEncoder:
    """One 4-dim state per word, a function of the word (stands in for MiniLM)."""

    name, dim = "fake-words", 4

    def encode(self, texts, device):
        words = [t.split() for t in texts]
        length = max(1, max(len(w) for w in words))
        hidden = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for b, ws in enumerate(words):
            for i, w in enumerate(ws):
                g = torch.Generator().manual_seed(sum(map(ord, w)))
                hidden[b, i] = torch.randn(self.dim, generator=g)
                mask[b, i] = True
        return hidden.to(device), mask.to(device)


def _clip(i: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(i)
    if i % 3 == 2:
        return 0.3 * rng.standard_normal(t.size).astype(np.float32)
    f = 110 * (i + 1) * (1 + 0.5 * t if i % 2 else 1)
    return (0.5 * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
            ).astype(np.float32)


def make_corpus(root: Path, clips: int = 8, valid: int = 2, seconds: float = 1.0) -> Path:
    """Write clips + manifest (the last `valid` clips in the valid split); returns the manifest."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(clips):
        path = audio / f"clip{i}.wav"
        sf.write(path, _clip(i, seconds), SR)
        entries.append(ManifestEntry(path=str(path), duration=seconds, sample_rate=SR,
                                     channels=1, captions=[CAPTIONS[i % len(CAPTIONS)]],
                                     split="valid" if i >= clips - valid else "train",
                                     group=f"clip{i}"))
    return write_manifest(root / "manifest.jsonl", entries)


def make_codec(root: Path) -> Path:
    """The tiny codec with codebooks initialised by k-means on the corpus's sounds (a random
    codebook maps every frame to one code, which would leave the LM nothing to learn)."""
    torch.manual_seed(0)
    codec = Codec(dataclasses.replace(tiny_codec_config(), kmeans_init=True)).train()
    with torch.no_grad():
        codec(torch.stack([torch.from_numpy(_clip(i, 1.0)) for i in range(8)])[:, None])
    codec.eval().save(root / "codec")
    return root / "codec"


def make_cache(root: Path, manifest: Path, codec_dir: Path) -> Path:
    from audiogen.codec.codes_file import codec_identity
    from audiogen.data.manifest import read_manifest

    codec = Codec.load(codec_dir)
    build_token_cache(read_manifest(manifest), codec, root / "cache",
                      codec_id=codec_identity(codec), text_encoder=WordEncoder(), progress=False)
    return root / "cache"


def tiny_config(**changes) -> LMTrainConfig:
    """The tiny LM on 1 s segments, fast bookkeeping; change anything with keywords."""
    base = {"preset": "tiny", "segment_seconds": 1.0, "batch_size": 4, "steps": 4, "lr": 3e-3,
            "warmup_steps": 2, "validate_every": 0, "checkpoint_every": 1000, "log_every": 1,
            "device": "cpu", "num_workers": 0, "seed": 0, "num_threads": 1,
            "lm": {"cfg_dropout": 0.0, "text": {"kind": "minilm", "name": "fake-words", "dim": 4}}}
    base.update(changes)
    return LMTrainConfig(**base)
