"""Training segments: seeking, resampling, padding, determinism, workers, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiogen.data.dataset import AudioSegmentDataset, EpochSampler, SegmentConfig, collate_segments
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.errors import AudiogenError

SR = 8000


def noise_clip(path: Path, seconds: float, seed: int, sr: int = SR, channels: int = 1) -> ManifestEntry:
    data = np.random.default_rng(seed).uniform(-0.5, 0.5, (int(seconds * sr), channels))
    sf.write(path, data.astype(np.float32), sr, subtype="FLOAT")
    return ManifestEntry(path=str(path), duration=seconds, sample_rate=sr, channels=channels,
                         captions=[f"clip {seed} a", f"clip {seed} b", f"clip {seed} c"])


@pytest.fixture
def entries(tmp_path) -> list[ManifestEntry]:
    return [noise_clip(tmp_path / f"c{i}.wav", 1.5 + 0.25 * i, seed=i) for i in range(6)]


def test_segment_is_a_slice_of_the_file_with_a_listed_caption(entries):
    ds = AudioSegmentDataset(entries, SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1, seed=1))
    item = ds[(0, 3)]
    assert item["wav"].shape == (1, 4000) and item["length"] == 4000 and item["skipped"] == 0
    full = sf.read(entries[3].path, dtype="float32")[0]
    seg = item["wav"][0].numpy()
    starts = [s for s in range(len(full) - 4000 + 1) if full[s] == seg[0]]
    assert any(np.array_equal(full[s:s + 4000], seg) for s in starts)  # seeked, not re-shaped
    assert item["caption"] in entries[3].captions


def test_resample_mono_and_padding(tmp_path):
    entry = noise_clip(tmp_path / "st.wav", 0.5, seed=9, sr=22050, channels=2)
    ds = AudioSegmentDataset([entry], SegmentConfig(segment_seconds=1.0, sample_rate=16000))
    item = ds[0]
    assert item["wav"].shape == (1, 16000)
    assert item["length"] == pytest.approx(8000, abs=2)
    assert item["wav"][0, item["length"]:].abs().max() == 0  # zero padding past the clip
    assert item["wav"][0, :item["length"]].abs().max() > 0.05
    batch = collate_segments([item, item])
    assert batch.mask.shape == (2, 16000) and batch.mask.sum() == 2 * item["length"]


def test_items_depend_only_on_seed_epoch_index(entries):
    cfg = SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1, seed=7)
    a, b = AudioSegmentDataset(entries, cfg), AudioSegmentDataset(entries, cfg)
    for key in [(0, 0), (0, 5), (3, 2)]:
        assert torch.equal(a[key]["wav"], b[key]["wav"]) and a[key]["caption"] == b[key]["caption"]
    b.set_epoch(3)
    assert torch.equal(b[2]["wav"], a[(3, 2)]["wav"])  # plain index uses the set epoch
    # other epochs (or seeds) draw other segments and captions
    epochs = [a[(e, 5)] for e in range(6)]
    assert len({it["wav"][0, 0].item() for it in epochs}) > 1
    assert len({it["caption"] for it in epochs}) > 1
    other = AudioSegmentDataset(entries, SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1, seed=8))
    assert not torch.equal(other[(0, 5)]["wav"], a[(0, 5)]["wav"])


def test_long_clips_own_more_items_and_eval_tiles_them(entries):
    # durations 1.5, 1.75, ..., 2.75 s in 0.5 s segments: ceil(D / 0.5) items each
    ev = AudioSegmentDataset(entries, SegmentConfig(0.5, SR, random_crop=False))
    assert len(ev) == 3 + 4 + 4 + 5 + 5 + 6
    full = sf.read(entries[1].path, dtype="float32")[0]  # 1.75 s: items 3..6
    for slot, item in enumerate(range(3, 7)):
        got = ev[(9, item)]
        assert got["index"] == 1
        start = min(slot * 4000, len(full) - 4000)  # the last one ends at the clip's end
        assert np.array_equal(got["wav"][0].numpy(), full[start:start + 4000])
    capped = AudioSegmentDataset(entries, SegmentConfig(0.5, SR, max_items_per_clip=2))
    assert len(capped) == 12


def loader_batches(dataset, workers: int, epoch: int):
    sampler = EpochSampler(len(dataset), seed=5)
    sampler.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=workers,
                        collate_fn=collate_segments)
    return list(loader)


def test_same_batches_with_any_worker_count(entries):
    ds = AudioSegmentDataset(entries, SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1))
    single = loader_batches(ds, 0, epoch=2)
    multi = loader_batches(ds, 2, epoch=2)
    assert len(single) == len(multi) == 2
    for x, y in zip(single, multi):
        assert torch.equal(x.wav, y.wav) and x.captions == y.captions
        assert torch.equal(x.lengths, y.lengths)
    assert not torch.equal(loader_batches(ds, 0, epoch=3)[0].wav, single[0].wav)


def test_bad_files_are_skipped_and_counted(entries, tmp_path):
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)
    bad = [ManifestEntry(path=str(tmp_path / "corrupt.wav"), duration=2.0, captions=["x"]),
           ManifestEntry(path=str(tmp_path / "vanished.wav"), duration=2.0, captions=["y"])]
    manifest = write_manifest(tmp_path / "m.jsonl", entries[:2] + bad)
    ds = AudioSegmentDataset(manifest, SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1))
    items = [ds[(0, i)] for i in range(4)]
    assert [it["skipped"] > 0 for it in items] == [False, False, True, True]
    assert all(it["index"] in (0, 1) and it["wav"].abs().max() > 0 for it in items)
    assert ds.skipped >= 2
    assert set(ds.failures) == {str(tmp_path / "corrupt.wav"), str(tmp_path / "vanished.wav")}
    # counts made inside loader workers reach the training loop through the batches
    batches = loader_batches(ds, 2, epoch=0)
    assert sum(b.skipped for b in batches) >= 2
    # a substitute is the same item whichever process reads it
    fresh = AudioSegmentDataset(manifest, SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1))
    assert torch.equal(fresh[(0, 3)]["wav"], items[3]["wav"])


def test_all_files_bad_is_an_error(tmp_path):
    ds = AudioSegmentDataset([ManifestEntry(path=str(tmp_path / "gone.wav"), duration=1.0)],
                             SegmentConfig(segment_seconds=0.5, sample_rate=SR, max_items_per_clip=1, max_substitutes=3))
    with pytest.raises(AudiogenError, match="failed to load"):
        ds[0]
    with pytest.raises(AudiogenError, match="no clips"):
        AudioSegmentDataset([ManifestEntry(path="a.wav", duration=1.0)], SegmentConfig(), split="test")


def test_epoch_sampler_shards_and_resumes():
    shards = [list(EpochSampler(10, seed=1, rank=r, world_size=3)) for r in range(3)]
    keys = [k for s in shards for k in s]
    assert all(len(s) == 3 for s in shards) and len(set(keys)) == 9  # disjoint, equal
    sampler = EpochSampler(10, seed=1)
    sampler.set_epoch(4)
    full = list(sampler)
    sampler.set_epoch(4, start=6)
    assert list(sampler) == full[6:] and len(sampler) == 4
    assert all(k[0] == 4 for k in full) and sorted(k[1] for k in full) == list(range(10))
    sampler.set_epoch(5)
    assert [k[1] for k in sampler] != [k[1] for k in full]
