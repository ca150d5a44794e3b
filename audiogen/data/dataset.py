"""Training segments read from a manifest: fixed-length, mono, at the codec's sample rate.

Each item is addressed by a key `(epoch, index)` (a plain `index` uses `dataset.epoch`), and
everything random about it (the segment offset, the caption drawn from the list, the
substitute drawn when a file fails) comes from a generator seeded by (seed, epoch, index). An
item is therefore the same whichever loader worker reads it and however many workers there
are; `EpochSampler` emits such keys, which also makes resuming mid-epoch exact.

Long recordings are weighted by their length: a clip of duration D owns
min(ceil(D / segment), max_items_per_clip) consecutive items of an epoch (`SegmentIndex`), so
one ten-minute recording is not sampled as rarely as one two-second clip.

A file that fails to load (vanished, corrupt) is not fatal: a substitute item is drawn, the
failure is counted on the item (`skipped`, summed per batch, so counts made in worker
processes reach the training loop) and in the dataset's own counters, and a warning is logged
once per file.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from audiogen.audio.io import load_audio
from audiogen.data.manifest import ManifestEntry, read_manifest
from audiogen.errors import AudiogenError, AudioReadError
from audiogen.text.captions import clean_caption

log = logging.getLogger(__name__)

Key = int | tuple[int, int]  # index, or (epoch, index)


@dataclass
class SegmentConfig:
    segment_seconds: float = 10.0  # segment length (v2: 10 s; the paper: 5 s)
    sample_rate: int = 16000  # the codec's rate; audio is resampled to it
    random_crop: bool = True  # random offset in longer clips; False tiles them in order (eval)
    max_items_per_clip: int = 100  # items per epoch of a long clip (ceil(D / segment) up to
    # this); 1 gives every clip one item, whatever its length
    seed: int = 0  # base seed of every per-item generator
    max_substitutes: int = 20  # failed files tolerated in a row before giving up

    @property
    def segment_samples(self) -> int:
        return round(self.segment_seconds * self.sample_rate)


@dataclass
class AudioBatch:
    """A batch of segments. `wav [B, 1, T]`; samples from `lengths[b]` on are zero padding."""

    wav: torch.Tensor  # [B, 1, T] float32
    lengths: torch.Tensor  # [B] int64, valid samples per item
    captions: list[str]  # B cleaned captions ('' = unconditional)
    skipped: int = 0  # files that failed while this batch was read
    sources: list[int] = field(default_factory=list)  # source of each item read (several
    # training sources, `audiogen.data.weighted`); empty for one source
    mixed: bool = False  # whether the mixing augmentation produced it
    info: dict[str, Any] = field(default_factory=dict)  # mixing parameters, for logs and tests

    def __len__(self) -> int:
        return self.wav.shape[0]

    @property
    def mask(self) -> torch.Tensor:
        """`[B, T]` bool, True on valid samples."""
        steps = torch.arange(self.wav.shape[-1], device=self.wav.device)
        return steps[None, :] < self.lengths.to(self.wav.device)[:, None]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> AudioBatch:
        """On `device`; non_blocking: copies from pinned memory overlap the computation."""
        return AudioBatch(self.wav.to(device, non_blocking=non_blocking),
                          self.lengths.to(device, non_blocking=non_blocking), self.captions,
                          self.skipped, self.mixed, self.info)

    def pin_memory(self) -> AudioBatch:
        """In page-locked memory (what DataLoader(pin_memory=True) calls on a batch object)."""
        return AudioBatch(self.wav.pin_memory(), self.lengths.pin_memory(), self.captions,
                          self.skipped, self.mixed, self.info)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one item: a function of (seed, epoch, index) only."""
    return np.random.default_rng([seed & 0xFFFFFFFF, epoch, index])


class SegmentIndex:
    """Item index -> (clip, slot): clip c owns min(ceil(D_c / segment), cap) items in a row."""

    def __init__(self, durations: Sequence[float], segment: float, max_items_per_clip: int):
        if max_items_per_clip < 1:
            raise AudiogenError("max_items_per_clip must be at least 1.")
        counts = np.clip(np.ceil(np.asarray(durations, dtype=np.float64) / segment - 1e-9),
                         1, max_items_per_clip).astype(np.int64)
        self.ends = np.cumsum(counts)  # exclusive end item of each clip

    def __len__(self) -> int:
        return int(self.ends[-1])

    def locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range ({len(self)} items)")
        clip = int(np.searchsorted(self.ends, index, side="right"))
        return clip, index - (int(self.ends[clip - 1]) if clip else 0)


def segment_start(excess: float, slot: int, segment: float, u: float, random_crop: bool) -> float:
    """Where a segment starts in a clip `excess` longer than it: uniformly at random, or (eval)
    at the slot's place in a tiling of the clip."""
    if excess <= 0:
        return 0.0
    return u * excess if random_crop else min(slot * segment, excess)


class AudioSegmentDataset(Dataset):
    """Random fixed-length segments of the clips of a manifest.

    `dataset[key]` returns a dict: `wav [1, T]` float32 (T = segment samples), `length` (valid
    samples, the rest is zeros), `caption` (one of the clip's captions, cleaned), `index` (the
    manifest entry actually read: another one when a substitute was drawn), `skipped` (failed
    files before it). `len(dataset)` counts items (see `SegmentIndex`), not clips.
    """

    def __init__(self, entries: Sequence[ManifestEntry] | str | os.PathLike,
                 config: SegmentConfig, split: str | None = None):
        if isinstance(entries, (str, os.PathLike)):
            entries = read_manifest(entries, split=split)
        elif split is not None:
            entries = [e for e in entries if e.split == split]
        if not entries:
            raise AudiogenError(f"no clips{f' in split {split!r}' if split else ''} to train on.")
        self.entries = list(entries)
        self.config = config
        self.items = SegmentIndex([e.duration for e in self.entries], config.segment_seconds,
                                  config.max_items_per_clip)
        self.epoch = 0
        self.failures: Counter[str] = Counter()  # path -> failed reads (in this process)
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def seconds(self) -> float:
        """Seconds of audio in this split."""
        return sum(e.duration for e in self.entries)

    def set_epoch(self, epoch: int) -> None:
        """Epoch used for plain integer keys (set it before building the loader's iterator)."""
        self.epoch = epoch

    @property
    def skipped(self) -> int:
        """Failed reads seen by this process (worker processes keep their own: use batches)."""
        return sum(self.failures.values())

    def __getitem__(self, key: Key) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        rng = item_rng(self.config.seed, epoch, index)
        item = index
        for attempt in range(self.config.max_substitutes + 1):
            if attempt > 0:
                item = int(rng.integers(len(self.items)))
            candidate, slot = self.items.locate(item)
            # drawn before reading, so the sequence does not depend on which reads fail
            u_offset, u_caption = rng.random(), rng.random()
            if candidate in self._bad:
                continue
            try:
                wav, length = self._read(self.entries[candidate], slot, u_offset)
            except AudioReadError as e:
                self._record_failure(candidate, e)
                continue
            captions = self.entries[candidate].captions
            caption = clean_caption(captions[int(u_caption * len(captions))]) if captions else ""
            return {"wav": wav, "length": length, "caption": caption, "index": candidate,
                    "skipped": attempt}
        raise AudiogenError(
            f"{self.config.max_substitutes + 1} audio files in a row failed to load (last: "
            f"{self.entries[candidate].path}); check the manifest's paths.")

    def _read(self, entry: ManifestEntry, slot: int, u: float) -> tuple[torch.Tensor, int]:
        cfg = self.config
        offset = segment_start(entry.duration - cfg.segment_seconds, slot, cfg.segment_seconds,
                               u, cfg.random_crop)
        wav, _ = load_audio(entry.path, sample_rate=cfg.sample_rate, channels=1, offset=offset,
                            duration=cfg.segment_seconds)
        wav = wav[:, :cfg.segment_samples]
        length = wav.shape[-1]
        if length < cfg.segment_samples:
            wav = torch.nn.functional.pad(wav, (0, cfg.segment_samples - length))
        return wav, length

    def _record_failure(self, index: int, error: Exception) -> None:
        path = self.entries[index].path
        if not self.failures[path]:
            log.warning("skipping unreadable audio (substituting another clip): %s", error)
        self.failures[path] += 1
        self._bad.add(index)


def collate_segments(items: list[dict[str, Any]]) -> AudioBatch:
    """Stack dataset items into an `AudioBatch` (use as the DataLoader's `collate_fn`)."""
    return AudioBatch(
        wav=torch.stack([it["wav"] for it in items]),
        lengths=torch.tensor([it["length"] for it in items], dtype=torch.long),
        captions=[it["caption"] for it in items],
        skipped=sum(it["skipped"] for it in items),
        sources=[it["source"] for it in items if "source" in it],
    )


class EpochSampler(Sampler):
    """Yields `(epoch, index)` keys: a seeded permutation per epoch, sharded across ranks.

    Each rank takes every `world_size`-th key of the permutation (the tail that does not fill
    all ranks is dropped, so ranks see equally many items). `start` skips the first items of
    this rank's share, which is how a resumed run continues mid-epoch. The sampler works for
    any dataset addressed by such keys (audio segments or the token cache).
    """

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if size < world_size:
            raise AudiogenError(f"{size} items cannot be shared among {world_size} processes.")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.size // self.world_size - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch]).permutation(self.size)
        else:
            order = np.arange(self.size)
        per_rank = self.size // self.world_size
        mine = order[self.rank: per_rank * self.world_size: self.world_size]
        for index in mine[self.start:]:
            yield self.epoch, int(index)
