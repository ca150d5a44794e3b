"""Random fixed-length crops of audio files, for codec training and validation.

The source is a folder (scanned recursively for wav/flac/ogg/mp3) or a JSONL manifest (see
`audiogen.data.manifest`). Crops are mono at the codec's sample rate, zero-padded at the end
when a file is shorter than a crop.

Reproducibility: the crop for item `index` of a batch identified by `key` (e.g. the training
step) is drawn from a generator seeded by hash(seed, key, index) only, so it does not depend on
the number of processes, on what was read before, or on whether the run was resumed. In
data-parallel training each rank draws its slice of the global batch's indices.

A file that cannot be read (corrupt, vanished) is skipped and counted in `skipped`, and another
file is drawn in its place.

Several sources (`WeightedCrops`, sources from `audiogen.data.weighted.parse_sources`): each
item first draws its source by weight (the share of the batches it gets), then a crop of that
source, both from the item's own seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from audiogen.audio.io import AUDIO_EXTENSIONS, audio_info, load_audio
from audiogen.data.manifest import read_manifest
from audiogen.data.weighted import draw_source, share_metrics, shares
from audiogen.errors import AudiogenError, AudioReadError
from audiogen.seeding import derive_seed

MAX_CONSECUTIVE_FAILURES = 20  # then the data is unusable, not just a few bad files


@dataclass
class AudioFile:
    path: str
    duration: float  # seconds


def find_audio(source: str | os.PathLike, split: str | None = None) -> tuple[list[AudioFile], int]:
    """List the audio files of a folder or manifest; returns (files, unreadable count).

    For a manifest, `split` selects rows ("train", "valid", ...; None: all) and durations come
    from the manifest. For a folder, `split` must be None and every header is read once;
    unreadable files are left out and counted.
    """
    source = Path(source)
    if source.is_dir():
        if split is not None:
            raise AudiogenError(f"{source}: a folder has no splits; use a manifest for split "
                                f"{split!r} (`audiogen data index`).")
        files, bad = [], 0
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS
                       and p.is_file())
        for p in paths:
            try:
                files.append(AudioFile(str(p), audio_info(p)[0]))
            except AudioReadError:
                bad += 1
        return files, bad
    if source.is_file():
        entries = read_manifest(source, split=split)
        return [AudioFile(e.path, float(e.duration)) for e in entries], 0
    raise AudiogenError(f"{source}: no such folder or manifest.")


class RandomCrops:
    """Args:
        files: what to crop from (see `find_audio`).
        sample_rate: output rate in Hz (the codec's).
        segment_samples: crop length in samples.
        seed: base seed of every draw.
    """

    def __init__(self, files: list[AudioFile], sample_rate: int, segment_samples: int,
                 seed: int = 0):
        if not files:
            raise AudiogenError("no readable audio files to train on.")
        self.files = files
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.seed = seed
        self.skipped = 0  # files that failed to read during this process's lifetime

    def crop(self, key: object, index: int) -> torch.Tensor:
        """One crop `[1, segment_samples]`, determined by (seed, key, index)."""
        gen = torch.Generator().manual_seed(derive_seed(self.seed, key, index))
        seconds = self.segment_samples / self.sample_rate
        for _ in range(MAX_CONSECUTIVE_FAILURES):
            file = self.files[int(torch.randint(len(self.files), (1,), generator=gen))]
            offset = max(0.0, file.duration - seconds) * float(torch.rand((), generator=gen))
            try:
                wav, _ = load_audio(file.path, sample_rate=self.sample_rate, channels=1,
                                    offset=offset, duration=seconds)
            except AudioReadError:
                self.skipped += 1
                continue
            wav = wav[:, :self.segment_samples]
            return F.pad(wav, (0, self.segment_samples - wav.shape[-1]))
        raise AudiogenError(f"{MAX_CONSECUTIVE_FAILURES} audio files in a row could not be read "
                            f"(e.g. {file.path}); check the data.")

    def batch(self, key: object, indices: range | list[int]) -> torch.Tensor:
        """Crops for `indices` stacked as `[len(indices), 1, segment_samples]`."""
        return torch.stack([self.crop(key, i) for i in indices])

    @property
    def seconds(self) -> float:
        """Seconds of audio in the files."""
        return sum(f.duration for f in self.files)


class WeightedCrops:
    """Crops from several sources; item i of batch `key` comes from source j with probability
    weights[j]. One source behaves exactly as its `RandomCrops` alone.

    Args:
        sources: (name, crops) per source.
        weights: shares of the batches, normalised here; None: in proportion to the hours of
            each source's files.
        seed: base seed of the source draws.
    """

    def __init__(self, sources: list[tuple[str, RandomCrops]],
                 weights: list[float] | None = None, seed: int = 0):
        self.names = [name for name, _ in sources]
        self.sources = [crops for _, crops in sources]
        self.weights = shares(weights, [c.seconds for c in self.sources])
        self.seed = seed
        self.counts = np.zeros(len(sources), dtype=np.int64)  # items drawn, per source

    @property
    def files(self) -> list[AudioFile]:
        return [f for crops in self.sources for f in crops.files]

    @property
    def skipped(self) -> int:
        return sum(crops.skipped for crops in self.sources)

    @skipped.setter
    def skipped(self, value: int) -> None:  # restored on resume: kept on the first source
        for i, crops in enumerate(self.sources):
            crops.skipped = value if i == 0 else 0

    def source_of(self, key: object, index: int) -> int:
        rng = np.random.default_rng(derive_seed(self.seed, "source", key, index))
        return draw_source(rng, self.weights)

    def batch(self, key: object, indices: range | list[int]) -> torch.Tensor:
        """Crops for `indices` stacked as `[len(indices), 1, segment_samples]`; `counts` adds
        how many came from each source."""
        crops = []
        for i in indices:
            j = self.source_of(key, i)
            self.counts[j] += 1
            crops.append(self.sources[j].crop(key, i))
        return torch.stack(crops)

    def take_shares(self) -> dict[str, float]:
        """Share of the items drawn since the last call, per source; resets the counts."""
        drawn = share_metrics(self.names, self.counts)
        self.counts[:] = 0
        return drawn
