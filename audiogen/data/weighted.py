"""Several training datasets in one run, each with its share of the batches.

The paper trains on ten curated datasets at once. `WeightedDatasets` puts datasets addressed
by `(epoch, index)` keys (`AudioSegmentDataset`, `TokenCacheDataset`) behind one such key
space: item `(epoch, i)` first draws its source j with probability `weights[j]`, then an item
of that source, both from a generator seeded by (seed, epoch, i) only. So batches do not
depend on the number of loader workers and a resumed run reads what an uninterrupted one
would, as with a single dataset. An epoch holds as many items as all sources together; within
a source, items are drawn with replacement.

Weights are shares of the batches (normalised); without them each source is sampled in
proportion to its hours of audio. Each item records its source (`item["source"]`), which the
collate functions keep, so a trainer can report the shares it actually drew.

`parse_sources` reads the trainers' notation for sources: `PATH[:WEIGHT],PATH[:WEIGHT],...`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from audiogen.errors import AudiogenError
from audiogen.fileio import short_names
from audiogen.seeding import derive_seed

Key = tuple[int, int]


@dataclass(frozen=True)
class DataSource:
    """One training source: a folder, manifest or token cache, and its share of the batches."""

    path: str
    weight: float | None = None  # share of the batches (normalised); None: by hours
    name: str = ""  # for metrics (`data/share/NAME`); parse_sources fills it


def parse_sources(spec: str) -> list[DataSource]:
    """`PATH[:WEIGHT],PATH[:WEIGHT],...` -> sources. Give a weight to every source or none."""
    sources = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        path, sep, weight = item.rpartition(":")
        try:
            value = float(weight) if sep else None
        except ValueError:
            value = None
        if value is None:
            sources.append((item, None))
        elif not value > 0 or not math.isfinite(value):
            raise AudiogenError(f"data source {item!r}: the weight must be a positive number.")
        else:
            sources.append((path, value))
    if not sources:
        raise AudiogenError("no training data: pass --data FOLDER_OR_MANIFEST[:WEIGHT].")
    if len({w is None for _, w in sources}) > 1:
        raise AudiogenError(f"data sources {spec!r}: give a weight to every source or to none "
                            "(none: each is sampled in proportion to its hours).")
    names = short_names([p for p, _ in sources])
    return [DataSource(p, w, n) for (p, w), n in zip(sources, names)]


def shares(weights: list[float] | None, seconds: list[float]) -> np.ndarray:
    """Normalised shares of the batches: `weights`, or by default the seconds of audio of each
    source."""
    if not seconds:
        raise AudiogenError("no training data sources.")
    weights = list(seconds) if weights is None else list(weights)
    if len(weights) != len(seconds) or not all(w > 0 for w in weights):
        raise AudiogenError(f"source weights must be positive, one per source; got {weights}.")
    return np.array(weights, dtype=np.float64) / sum(weights)


def draw_source(rng: np.random.Generator, weights: np.ndarray) -> int:
    """The source of one item: j with probability weights[j] (no draw for one source, so a
    single source reads exactly what it reads alone)."""
    return 0 if len(weights) == 1 else int(rng.choice(len(weights), p=weights))


class WeightedDatasets(Dataset):
    """Args:
        sources: (name, dataset) per source; every dataset takes `(epoch, index)` keys.
        weights: shares of the batches, normalised here; None: by hours of audio.
        seed: base seed of the draws.
    """

    def __init__(self, sources: list[tuple[str, Dataset]], weights: list[float] | None = None,
                 seed: int = 0):
        self.names = [name for name, _ in sources]
        self.datasets = [d for _, d in sources]
        self.weights = shares(weights, [d.seconds for d in self.datasets])
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    @property
    def seconds(self) -> float:
        return sum(d.seconds for d in self.datasets)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def locate(self, key: Key) -> tuple[int, int]:
        """(source, index within the source) of item `key`."""
        rng = np.random.default_rng(derive_seed(self.seed, "source", *key))
        source = draw_source(rng, self.weights)
        return source, int(rng.integers(len(self.datasets[source])))

    def __getitem__(self, key: Key | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        source, local = self.locate((epoch, index))
        item = self.datasets[source][(epoch, local)]
        item["source"] = source
        return item


class ConcatKeyed(Dataset):
    """Datasets one after another under `(epoch, index)` keys (the validation sets of several
    sources: fixed, unweighted)."""

    def __init__(self, datasets: list[Dataset]):
        self.datasets = datasets
        self.offsets = np.cumsum([0] + [len(d) for d in datasets])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def seconds(self) -> float:
        return sum(d.seconds for d in self.datasets)

    def __getitem__(self, key: Key) -> dict[str, Any]:
        epoch, index = key
        if not 0 <= index < len(self):
            raise IndexError(index)
        source = int(np.searchsorted(self.offsets, index, side="right")) - 1
        item = self.datasets[source][(epoch, index - int(self.offsets[source]))]
        item["source"] = source
        return item


def share_metrics(names: list[str], counts: np.ndarray) -> dict[str, float]:
    """`data/share/NAME` = the share of the items drawn from each source."""
    total = max(1, int(counts.sum()))
    return {f"data/share/{n}": float(c) / total for n, c in zip(names, counts)}
