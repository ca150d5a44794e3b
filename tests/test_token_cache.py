"""Token cache: round trip equals direct encoding, segments, text states, on-the-fly path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiogen.audio.io import load_audio
from audiogen.cli.main import main
from audiogen.data.dataset import AudioBatch, EpochSampler
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.data.mixing import BatchMixer, MixingConfig
from audiogen.data.token_cache import (
    PAD,
    TokenCache,
    TokenCacheDataset,
    build_token_cache,
    collate_codes,
    encode_audio_batch,
)
from audiogen.errors import AudiogenError, MissingFilesError


class FakeCodec:
    """Deterministic stand-in: each frame's codes are a function of that frame's samples only."""

    sample_rate, frame_rate, num_codebooks = 8000, 100.0, 3

    def __init__(self, cardinality: int = 1000):
        self.cardinality = cardinality
        self.calls: list[tuple[int, ...]] = []

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(wav.shape))
        hop = 80
        frames = math.ceil(wav.shape[-1] / hop)
        x = torch.nn.functional.pad(wav[:, 0], (0, frames * hop - wav.shape[-1]))
        level = x.reshape(wav.shape[0], frames, hop).abs().mean(-1)
        return torch.stack([((level * 9973 * (k + 1)).long() + k) % self.cardinality
                            for k in range(self.num_codebooks)], 1)


class FakeTextEncoder:
    """One D-dim state per word, a function of the word; padded batch + mask like the real one."""

    name, dim = "fake-words", 4

    def encode(self, texts, device):
        words = [t.split() for t in texts]
        length = max(1, max(len(w) for w in words))
        hidden = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for b, ws in enumerate(words):
            for i, w in enumerate(ws):
                hidden[b, i] = torch.tensor([len(w), ord(w[0]), i, b * 0 + 1.0])
                mask[b, i] = True
        return hidden, mask


def make_entries(folder: Path, seconds: list[float], sr: int = 8000) -> list[ManifestEntry]:
    entries = []
    for i, s in enumerate(seconds):
        rng = np.random.default_rng(i)
        data = (rng.uniform(-1, 1, int(s * sr)) * np.linspace(0.1, 0.9, int(s * sr)))
        path = folder / f"clip{i}.wav"
        sf.write(path, data.astype(np.float32), sr, subtype="FLOAT")
        entries.append(ManifestEntry(path=str(path), duration=s, sample_rate=sr,
                                     captions=[f"Sound {i}", f"noise number {i}"],
                                     split="valid" if i == 0 else "train", group=f"g{i}"))
    return entries


@pytest.fixture
def entries(tmp_path) -> list[ManifestEntry]:
    # two clips of equal length (batched together), one long one (chunked), one short one
    return make_entries(tmp_path, [1.0, 1.0, 2.5, 0.3, 1.37])


def direct(codec, path: str) -> np.ndarray:
    wav, _ = load_audio(path, sample_rate=codec.sample_rate, channels=1)
    return codec.encode(wav[None])[0].numpy()


def test_round_trip_equals_direct_encoding(entries, tmp_path):
    codec = FakeCodec()
    index = build_token_cache(entries, codec, tmp_path / "cache", batch_size=4,
                              max_chunk_seconds=1.0, progress=False)
    assert (2, 1, 8000) in codec.calls  # equal-length clips went through in one batch
    assert (1, 1, 8000) in codec.calls and (1, 1, 4000) in codec.calls  # 2.5 s in 1 s chunks
    cache = TokenCache(tmp_path / "cache")
    assert index["dtype"] == "int16" and cache.num_codebooks == 3 and cache.hop_length == 80
    assert [it["path"] for it in cache.items] == [e.path for e in entries]  # manifest order
    for i, e in enumerate(entries):
        expect = direct(codec, e.path)
        assert cache.items[i]["frames"] == math.ceil(e.duration * 100)
        assert np.array_equal(cache.codes(i), expect)
        assert np.array_equal(cache.codes(i, 5, 7), expect[:, 5:12])
    assert cache.items[0]["captions"] == ["sound 0", "noise number 0"]
    # large codebooks are stored as int32
    big = build_token_cache(entries[:1], FakeCodec(cardinality=40000), tmp_path / "big",
                            progress=False)
    assert big["dtype"] == "int32"
    assert np.array_equal(TokenCache(tmp_path / "big").codes(0),
                          direct(FakeCodec(cardinality=40000), entries[0].path))


def test_unreadable_clips_are_listed_and_rebuild_replaces_files(entries, tmp_path):
    broken = ManifestEntry(path=str(tmp_path / "gone.wav"), duration=1.0, captions=["x"])
    index = build_token_cache(entries[:2] + [broken], FakeCodec(), tmp_path / "c", progress=False)
    assert [s["path"] for s in index["skipped"]] == [broken.path]
    assert len(index["items"]) == 2
    first = index["codes_file"]
    again = build_token_cache(entries, FakeCodec(), tmp_path / "c", progress=False)
    assert again["codes_file"] != first and not (tmp_path / "c" / first).exists()
    assert len(TokenCache(tmp_path / "c").items) == len(entries)
    with pytest.raises(AudiogenError, match="no clip"):
        build_token_cache([broken], FakeCodec(), tmp_path / "d", progress=False)
    with pytest.raises(MissingFilesError):
        TokenCache(tmp_path / "nowhere")


def test_segments_are_deterministic_slices(entries, tmp_path):
    build_token_cache(entries, FakeCodec(), tmp_path / "cache", progress=False)
    cache = TokenCache(tmp_path / "cache")
    ds = TokenCacheDataset(cache, segment_seconds=0.5, split="train", seed=3,
                           max_items_per_clip=1)
    assert len(ds) == 4 and ds.segment_frames == 50
    for key in [(0, 0), (1, 1), (2, 3)]:
        item = ds[key]
        i = item["index"]
        full = cache.codes(i)
        assert item["codes"].shape == (3, 50) and item["codes"].dtype == torch.long
        n = item["length"]
        window = item["codes"][:, :n].numpy()
        assert any(np.array_equal(full[:, s:s + n], window) for s in range(full.shape[1] - n + 1))
        assert (item["codes"][:, n:] == PAD).all()
        assert item["caption"] in cache.items[i]["captions"]
        assert torch.equal(TokenCacheDataset(cache, 0.5, "train", 3, max_items_per_clip=1)[key]["codes"],
                           item["codes"])
    short = next(k for k in range(4) if cache.items[ds.indices[k]]["frames"] < 50)
    assert ds[(0, short)]["length"] == 30  # the 0.3 s clip: padded, length in frames
    long = max(range(4), key=lambda k: cache.items[ds.indices[k]]["frames"])
    starts = {tuple(ds[(e, long)]["codes"][0, :5].tolist()) for e in range(8)}
    assert len(starts) > 1  # the 2.5 s clip is cropped at different frames each epoch
    # several loader workers give the same batches as one process
    sampler = EpochSampler(len(ds), seed=1)
    one = list(DataLoader(ds, batch_size=2, sampler=sampler, collate_fn=collate_codes))
    two = list(DataLoader(ds, batch_size=2, sampler=sampler, collate_fn=collate_codes,
                          num_workers=2))
    assert all(torch.equal(a.codes, b.codes) and a.captions == b.captions
               for a, b in zip(one, two))
    assert one[0].mask.sum() == one[0].lengths.sum()
    # without the cap, the 2.5 s clip owns 5 items of 0.5 s; evaluation tiles it in order
    tiled = TokenCacheDataset(cache, 0.5, "train", random_crop=False)
    assert len(tiled) == 2 + 5 + 1 + 3
    windows = [tiled[(0, k)] for k in range(2, 7)]
    assert all(w["index"] == 2 for w in windows)
    assert np.array_equal(torch.cat([w["codes"] for w in windows], 1).numpy(), cache.codes(2))


def test_cached_text_states(entries, tmp_path):
    entries[1].captions = []  # an uncaptioned clip
    text = FakeTextEncoder()
    build_token_cache(entries, FakeCodec(), tmp_path / "cache", text_encoder=text,
                      batch_size=2, progress=False)
    ds = TokenCacheDataset(tmp_path / "cache", segment_seconds=0.5, max_items_per_clip=1)
    items = [ds[(0, i)] for i in range(len(ds))]
    for item in items:
        if item["caption"]:
            hidden, mask = text.encode([item["caption"]], "cpu")
            assert torch.equal(item["text"], hidden[0][mask[0]])
        else:
            assert item["text"].shape == (0, 4)
    batch = collate_codes(items)
    counts = [it["text"].shape[0] for it in items]
    assert batch.text_states.shape == (5, max(counts), 4)
    assert batch.text_mask.sum(1).tolist() == counts and 0 in counts
    assert (batch.text_states[~batch.text_mask] == 0).all()


def test_on_the_fly_encoding_with_mixing(tmp_path):
    codec = FakeCodec()
    wav = torch.rand(4, 1, 800) - 0.5
    lengths = torch.tensor([800, 500, 81, 800])
    wav[1, 0, 500:] = 0
    wav[2, 0, 81:] = 0
    batch = AudioBatch(wav, lengths, ["a", "b", "c", "d"], skipped=1)
    codes = encode_audio_batch(codec, batch, "cpu")
    assert codes.lengths.tolist() == [10, 7, 2, 10] and codes.skipped == 1
    full = codec.encode(wav)
    assert torch.equal(codes.codes[codes.mask[:, None, :].expand_as(full)],
                       full[codes.mask[:, None, :].expand_as(full)])
    assert (codes.codes[1, :, 7:] == PAD).all()
    mixed = BatchMixer(MixingConfig(prob=1.0))(batch, torch.Generator().manual_seed(0))
    out = encode_audio_batch(codec, mixed)
    assert out.codes.shape == (2, 3, 10) and out.captions == mixed.captions


def test_check_codec(entries, tmp_path):
    build_token_cache(entries[:1], FakeCodec(), tmp_path / "c", codec_id="abc", progress=False)
    cache = TokenCache(tmp_path / "c")
    cache.check_codec(FakeCodec(), "abc")
    with pytest.raises(AudiogenError, match="another codec"):
        cache.check_codec(FakeCodec(cardinality=512))
    with pytest.raises(AudiogenError, match="another codec"):
        cache.check_codec(FakeCodec(), "abd")


def test_real_codec_and_cli(entries, tmp_path, capsys):
    from audiogen.codec import Codec, CodecConfig

    codec = Codec(CodecConfig(sample_rate=8000, n_filters=4, ratios=[4, 4], dimension=8,
                              lstm_layers=1, n_q=2, bins=16, kmeans_init=False)).eval()
    codec.save(tmp_path / "model")
    manifest = write_manifest(tmp_path / "m.jsonl", entries)
    assert run_cli(["data", "encode", str(manifest), "--model", str(tmp_path / "model"),
                    "-o", str(tmp_path / "cache")]) == 0
    cache = TokenCache(tmp_path / "cache")
    cache.check_codec(codec, cache.codec_id)
    assert len(cache.items) == len(entries) and cache.frame_rate == 500.0
    for i in (0, 2, 3):  # clips of distinct lengths, each encoded alone
        assert np.array_equal(cache.codes(i), direct(codec, entries[i].path))
    assert run_cli(["data", "encode", str(manifest), "--model", str(tmp_path / "nomodel"),
                    "-o", str(tmp_path / "x")]) == 2
    assert "codec.json" in capsys.readouterr().err


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_real_text_encoder_states(entries, tmp_path):
    """`--text-encoder minilm` caches the installed MiniLM's states of each caption."""
    from audiogen.codec import Codec, CodecConfig
    from audiogen.text.conditioner import TextEncoderConfig, load_text_encoder

    Codec(CodecConfig(sample_rate=8000, n_filters=4, ratios=[4, 4], dimension=8, lstm_layers=0,
                      n_q=2, bins=16, kmeans_init=False)).save(tmp_path / "model")
    manifest = write_manifest(tmp_path / "m.jsonl", entries[:2])
    assert run_cli(["data", "encode", str(manifest), "--model", str(tmp_path / "model"),
                    "-o", str(tmp_path / "cache"), "--text-encoder", "minilm"]) == 0
    cache = TokenCache(tmp_path / "cache")
    assert cache.index["text"]["encoder"] == "all-MiniLM-L6-v2"
    encoder = load_text_encoder(TextEncoderConfig())
    for item in cache.items:
        for caption, text_id in zip(item["captions"], item["text_ids"]):
            hidden, mask = encoder.encode([caption], torch.device("cpu"))
            expect = hidden[0][mask[0]]
            got = cache.text_states(text_id)
            assert got.shape == expect.shape and (got - expect).abs().max() < 1e-4
