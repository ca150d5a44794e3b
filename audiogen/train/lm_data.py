"""Micro-batches of codes for LM training, from a token cache or from audio with mixing.

    cache:     TokenCacheDataset ──collate_codes──────────────────────────────> CodeBatch
    manifest:  AudioSegmentDataset ──collate_segments──> BatchMixer ──codec──> CodeBatch

Either way a batch leaves here on the training device as codes `[b, K, F]` (PAD past each
clip), the frame mask `[b, F]`, and the frozen text encoder's states `[b, L, D_enc]` with their
mask (from the cache when it holds them, else encoded now); the LM's projection is applied by
the trainer, inside the graph.

Several sources (`cache=A,B` or `manifest=A:0.7,B:0.3`, see `audiogen.data.weighted`) are
drawn by weight, or in proportion to their hours; the shares drawn are reported per source.

Position in the data is a pure function of the micro-batch counter m (micro-batches drawn so
far by each process): epoch = m // per_epoch, and the epoch's sampler skips the first
(m % per_epoch) micro-batches of this process's share. A resumed run therefore reads exactly
the batches an uninterrupted one would, and every random choice (crop, caption, mixing) is
seeded by (seed, epoch, index) or by m.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audiogen.data.dataset import AudioSegmentDataset, EpochSampler, SegmentConfig, collate_segments
from audiogen.data.mixing import BatchMixer, MixingConfig
from audiogen.data.token_cache import (
    CodeBatch,
    TokenCache,
    TokenCacheDataset,
    collate_codes,
    encode_audio_batch,
)
from audiogen.data.weighted import ConcatKeyed, WeightedDatasets, parse_sources, share_metrics
from audiogen.errors import AudiogenError
from audiogen.lm.config import LMConfig
from audiogen.text.conditioner import load_text_encoder
from audiogen.train.lm_config import LMTrainConfig

log = logging.getLogger(__name__)


class LMData:
    """The training and validation batches of one process.

    Args:
        config: the training config (cache or manifest, segment, mixing, seed...).
        lm_config: the LM's config (codebooks, cardinality, text encoder).
        device: where batches go (and where the codec and text encoder run).
        micro_batch: examples per micro-batch on this process (after mixing).
        rank, world: this process and the number of processes.
    """

    def __init__(self, config: LMTrainConfig, lm_config: LMConfig, device: torch.device,
                 micro_batch: int, rank: int = 0, world: int = 1):
        self.config, self.lm_config, self.device = config, lm_config, device
        self.micro, self.rank, self.world = micro_batch, rank, world
        if bool(config.cache) == bool(config.manifest):
            raise AudiogenError("give exactly one data source: cache=DIR (token cache) or "
                                "manifest=FILE.jsonl (audio, with mixing).")
        self.codec = None
        self.mixer: BatchMixer | None = None
        self.cached_text = False
        self.skipped = 0  # unreadable files met by this process while training
        self.source_names: list[str] = []  # several sources: their names, and items drawn
        self.source_counts = np.zeros(0, dtype=np.int64)  # from each since the last report
        if config.cache:
            self.train_set, self.valid_set = self._sources(config.cache, self._cache_sets)
            self.load = micro_batch
        else:
            self.train_set, self.valid_set = self._sources(config.manifest, self._audio_sets)
            mixing = MixingConfig(**config.mixing)
            self.mixer = BatchMixer(mixing)
            self.load = _load_size(mixing, micro_batch)
        per_rank = len(self.train_set) // world
        self.per_epoch = per_rank // self.load  # micro-batches per epoch of each process
        if self.per_epoch == 0:
            raise AudiogenError(
                f"the training split has {len(self.train_set)} items: too few for micro-batches "
                f"of {self.load} on each of {world} process(es); lower batch_size or add data.")

    # --- sources ---
    def _sources(self, spec: str, build) -> tuple[Dataset, Dataset | None]:
        """The train and valid sets of every source in `spec`; several are drawn by weight
        (valid: the sources' valid splits together, unweighted)."""
        sources = parse_sources(spec)
        sets = [build(s.path) for s in sources]
        if len(sets) == 1:
            return sets[0]
        self.source_names = [s.name for s in sources]
        self.source_counts = np.zeros(len(sources), dtype=np.int64)
        weights = None if sources[0].weight is None else [s.weight for s in sources]
        train = WeightedDatasets([(s.name, t) for s, (t, _) in zip(sources, sets)], weights,
                                 self.config.seed)
        valid = [v for _, v in sets if v is not None]
        return train, (ConcatKeyed(valid) if valid else None)

    def take_shares(self) -> dict[str, float]:
        """`data/share/NAME` per source since the last call (empty for one source)."""
        if not self.source_names:
            return {}
        shares = share_metrics(self.source_names, self.source_counts)
        self.source_counts[:] = 0
        return shares

    def _cache_sets(self, path: str) -> tuple[Dataset, Dataset | None]:
        c, lm = self.config, self.lm_config
        cache = TokenCache(path)
        if (cache.num_codebooks, cache.cardinality) != (lm.num_codebooks, lm.card):
            raise AudiogenError(
                f"{path}: codes are {cache.num_codebooks} x {cache.cardinality}, the LM "
                f"expects {lm.num_codebooks} x {lm.card} (preset {c.preset!r}); pick a matching "
                "preset or set lm.num_codebooks / lm.card.")
        if c.codec:
            from audiogen.codec import Codec
            from audiogen.codec.codes_file import codec_identity

            codec = Codec.load(c.codec)
            cache.check_codec(codec, codec_identity(codec))
        if cache.has_text:
            text = cache.index["text"]
            if text["dim"] not in (None, lm.text.dim):
                raise AudiogenError(
                    f"{path}: cached text states are {text['dim']}-wide ({text['encoder']}),"
                    f" the LM's text encoder ({lm.text.name}) gives {lm.text.dim}; re-encode "
                    "with the LM's --text-encoder.")
            if text["encoder"] != lm.text.name:
                log.warning("cached text states come from %r, the LM names %r",
                            text["encoder"], lm.text.name)
            self.cached_text = True
        self.skipped += len(cache.index.get("skipped", []))

        def split(name: str, random_crop: bool) -> TokenCacheDataset:
            return TokenCacheDataset(cache, c.segment_seconds, split=name, seed=c.seed,
                                     random_crop=random_crop)
        return split("train", True), _optional(lambda: split("valid", False))

    def _audio_sets(self, path: str) -> tuple[Dataset, Dataset | None]:
        from audiogen.codec import Codec

        c = self.config
        if not c.codec:
            raise AudiogenError("training from a manifest needs codec=MODEL_DIR (it encodes the "
                                "mixed audio).")
        if self.codec is None:
            self.codec = Codec.load(c.codec, self.device).eval()
        lm = self.lm_config
        if (self.codec.num_codebooks, self.codec.cardinality) != (lm.num_codebooks, lm.card):
            raise AudiogenError(
                f"the codec makes {self.codec.num_codebooks} x {self.codec.cardinality} codes, "
                f"the LM expects {lm.num_codebooks} x {lm.card}; set lm.num_codebooks / lm.card.")
        seg = SegmentConfig(segment_seconds=c.segment_seconds,
                            sample_rate=self.codec.sample_rate, seed=c.seed)
        train = AudioSegmentDataset(path, seg, split="train")
        valid = _optional(lambda: AudioSegmentDataset(
            path, replace(seg, random_crop=False), split="valid"))
        return train, valid

    # --- batches ---
    def train_batches(self, first_micro: int) -> Iterator[CodeBatch]:
        """Micro-batches m = first_micro, first_micro + 1, ... of this process, forever."""
        epoch, skip = divmod(first_micro, self.per_epoch)
        m = first_micro
        sampler = EpochSampler(len(self.train_set), self.config.seed, True, self.rank, self.world)
        loader = self._loader(self.train_set, sampler, self.load, train=True)
        while True:
            # (the sampler is read when an epoch's iterator starts)
            sampler.set_epoch(epoch, start=skip * self.load)
            for batch in loader:
                yield self._prepare(batch, m)
                m += 1
            epoch, skip = epoch + 1, 0

    def valid_batches(self, limit: int) -> Iterator[CodeBatch]:
        """Up to `limit` fixed micro-batches of the valid split (none if there is none)."""
        if self.valid_set is None or len(self.valid_set) < self.world:
            return
        sampler = EpochSampler(len(self.valid_set), self.config.seed, False, self.rank,
                               self.world)
        size = min(self.micro, len(sampler))
        for i, batch in enumerate(self._loader(self.valid_set, sampler, size, train=False)):
            if i == limit:
                break
            yield self._prepare(batch, None)

    def _loader(self, dataset: Dataset, sampler: EpochSampler, size: int,
                train: bool) -> DataLoader:
        workers = self.config.num_workers if self.config.manifest else 0
        collate = collate_codes if self.config.cache else collate_segments
        # persistent workers: a small dataset's epochs are short, and the sampler (read in
        # this process) tells them the next epoch's keys
        return DataLoader(dataset, batch_size=size, sampler=sampler, collate_fn=collate,
                          num_workers=workers, drop_last=train, persistent_workers=workers > 0,
                          pin_memory=self.device.type == "cuda")

    def _prepare(self, batch, micro_index: int | None) -> CodeBatch:
        """A collated batch -> CodeBatch on the device with text states (mixed and encoded
        first on the audio path; `micro_index` None = validation, never mixed)."""
        if micro_index is not None and self.source_names:
            self.source_counts += np.bincount(batch.sources, minlength=len(self.source_names))
        if self.config.manifest:
            if micro_index is not None and self.mixer is not None:
                seed = self.config.seed * 1_000_003 + micro_index * self.world + self.rank
                batch = self.mixer(batch, torch.Generator().manual_seed(seed))
            self.skipped += batch.skipped if micro_index is not None else 0
            batch = encode_audio_batch(self.codec, batch, self.device)
        else:
            batch = batch.to(self.device, non_blocking=True)
        if batch.text_states is None:
            batch.text_states, batch.text_mask = self._encode_text(batch.captions)
        batch.text_states = batch.text_states.to(self.device, non_blocking=True)
        batch.text_mask = batch.text_mask.to(self.device, non_blocking=True)
        return batch

    def _encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen-encoder states [b, L, D_enc] and mask [b, L]; zeros for all-empty batches."""
        if not any(captions):
            dim = self.lm_config.text.dim
            return (torch.zeros(len(captions), 1, dim, device=self.device),
                    torch.zeros(len(captions), 1, dtype=torch.bool, device=self.device))
        return load_text_encoder(self.lm_config.text).encode(captions, self.device)

    @property
    def frame_rate(self) -> float:
        if self.codec is not None:
            return self.codec.frame_rate
        first = self.train_set.datasets[0] if self.source_names else self.train_set
        return first.cache.frame_rate


def _load_size(mixing: MixingConfig, micro: int) -> int:
    """Clips to read so that mixing leaves `micro` (it keeps keep_ratio of a batch)."""
    load = micro
    while mixing.output_size(load) < micro:
        load += 1
    if mixing.output_size(load) != micro:
        raise AudiogenError(f"mixing keeps {mixing.keep_ratio} of a batch: no batch size gives "
                            f"micro-batches of {micro}; change batch_size or mixing.keep_ratio.")
    return load


def _optional(build):
    """A validation dataset, or None when the split is absent."""
    try:
        return build()
    except AudiogenError as e:
        log.info("no validation set: %s", e)
        return None

