"""Token cache: a manifest's clips encoded once by a codec, read back as memory-mapped codes.

Training without mixing then never runs the codec. Layout of a cache directory:

    index.json          {"format": "audiogen-token-cache", "version": 1,
                         "codec": {sample_rate, frame_rate, hop_length, num_codebooks,
                                   cardinality, id},
                         "dtype": "int16" | "int32", "codes_file": "codes.<tag>.bin",
                         "items": [{path, split, group, duration, samples, offset, frames,
                                    captions: [...], text_ids: [...] (with text)}, ...],
                         "skipped": [{path, reason}],
                         "text": null | {encoder, dim, dtype, file: "text.<tag>.bin",
                                         entries: [[offset, length], ...]}}
    codes.<tag>.bin     all clips' codes, frame-major: clip i is rows [offset, offset + frames)
                        of an array [total_frames, K] (int16 when cardinality <= 32767)
    text.<tag>.bin      (optional) frozen text-encoder states of every distinct caption, one
                        row per real token: caption c is rows [offset, offset + length) of an
                        array [total_tokens, D]; an empty caption has length 0

The data files carry a fresh tag on every build and index.json is written last (atomically),
so a reader never sees a half-written cache and rebuilding over an old cache is safe.

With mixing on, codes must come from the mixed audio: `encode_audio_batch` runs the codec on
an `AudioBatch` on the training device instead.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from audiogen.audio.io import load_audio
from audiogen.data.dataset import AudioBatch, Key, SegmentIndex, item_rng, segment_start
from audiogen.data.manifest import ManifestEntry
from audiogen.errors import AudiogenError, AudioReadError, DamagedFileError, MissingFilesError
from audiogen.fileio import atomic_path, read_json, write_json
from audiogen.model_dir import require
from audiogen.text.captions import clean_caption

FORMAT = "audiogen-token-cache"
VERSION = 1
INDEX_FILE = "index.json"
PAD = -1  # code value of padded frames: fails loudly if a mask is forgotten


class CodecLike(Protocol):
    sample_rate: int
    frame_rate: float
    num_codebooks: int
    cardinality: int

    def encode(self, wav: torch.Tensor) -> torch.Tensor: ...


class TextEncoderLike(Protocol):
    name: str

    def encode(self, texts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        ...


def hop_length(codec: CodecLike) -> int:
    return round(codec.sample_rate / codec.frame_rate)


def codes_dtype(cardinality: int) -> np.dtype:
    return np.dtype(np.int16 if cardinality <= 32767 else np.int32)


# --------------------------------------------------------------------------- building

@torch.no_grad()
def build_token_cache(entries: list[ManifestEntry], codec: CodecLike, directory: str | os.PathLike,
                      *, codec_id: str = "", text_encoder: TextEncoderLike | None = None,
                      device: str | torch.device = "cpu", batch_size: int = 16,
                      max_chunk_seconds: float = 60.0, progress: bool = True) -> dict[str, Any]:
    """Encode every clip of `entries` with `codec` into a cache directory; returns the index.

    Clips are read whole (mono, resampled to the codec's rate) and encoded in batches of clips
    of identical length, so each clip's codes equal `codec.encode` of that clip alone; clips
    longer than `max_chunk_seconds` are encoded in chunks of that length (whole frames).
    Unreadable clips are listed under "skipped" in the index.
    """
    directory = Path(directory)
    device = torch.device(device)
    hop = hop_length(codec)
    dtype = codes_dtype(codec.cardinality)
    tag = uuid.uuid4().hex[:8]
    codes_name = f"codes.{tag}.bin"
    chunk = max(hop, int(max_chunk_seconds * codec.sample_rate) // hop * hop)
    # Shortest first, so clips of one length are read together and batched.
    order = sorted(range(len(entries)), key=lambda i: entries[i].duration)
    items: list[dict[str, Any] | None] = [None] * len(entries)
    skipped: list[dict[str, str]] = []
    written = 0

    with atomic_path(directory / codes_name) as tmp, open(tmp, "wb") as out:
        def flush(pending: list[tuple[int, torch.Tensor]]) -> None:
            nonlocal written
            wav = torch.stack([w for _, w in pending]).to(device)
            codes = _encode_long(codec, wav, chunk)  # [B, K, F]
            for (i, w), c in zip(pending, codes):
                frames = math.ceil(w.shape[-1] / hop)
                out.write(c[:, :frames].T.cpu().numpy().astype(dtype).tobytes())
                e = entries[i]
                items[i] = {"path": e.path, "split": e.split, "group": e.group,
                            "duration": e.duration, "samples": w.shape[-1], "offset": written,
                            "frames": frames, "captions": [clean_caption(c) for c in e.captions]}
                written += frames

        pending: list[tuple[int, torch.Tensor]] = []
        for i in tqdm(order, desc="encoding", unit="clip", disable=not progress):
            try:
                wav, _ = load_audio(entries[i].path, sample_rate=codec.sample_rate, channels=1)
            except AudioReadError as e:
                skipped.append({"path": entries[i].path, "reason": str(e)})
                continue
            if pending and (len(pending) == batch_size or pending[0][1].shape != wav.shape):
                flush(pending)
                pending = []
            pending.append((i, wav))
        if pending:
            flush(pending)

    kept = [it for it in items if it is not None]
    if not kept:
        (directory / codes_name).unlink(missing_ok=True)
        raise AudiogenError(f"no clip could be read ({len(skipped)} failed); nothing cached.")
    index = {
        "format": FORMAT, "version": VERSION,
        "codec": {"sample_rate": codec.sample_rate, "frame_rate": float(codec.frame_rate),
                  "hop_length": hop, "num_codebooks": codec.num_codebooks,
                  "cardinality": codec.cardinality, "id": codec_id},
        "dtype": dtype.name, "codes_file": codes_name, "items": kept, "skipped": skipped,
        "text": None,
    }
    if text_encoder is not None:
        index["text"] = _cache_text(kept, text_encoder, directory, tag, device, batch_size)
    old = read_json(directory / INDEX_FILE) if (directory / INDEX_FILE).is_file() else None
    write_json(directory / INDEX_FILE, index)
    _remove_replaced(directory, old, index)
    return index


def _encode_long(codec: CodecLike, wav: torch.Tensor, chunk: int) -> torch.Tensor:
    """`codec.encode` of `wav [B, 1, T]`, chunk by chunk (whole frames) if T > chunk."""
    if wav.shape[-1] <= chunk:
        return codec.encode(wav)
    return torch.cat([codec.encode(wav[..., s:s + chunk]) for s in range(0, wav.shape[-1], chunk)],
                     dim=-1)


def _cache_text(items: list[dict[str, Any]], encoder: TextEncoderLike, directory: Path,
                tag: str, device: torch.device, batch_size: int) -> dict[str, Any]:
    """Encode every distinct caption once; store its real tokens' states; link items to them."""
    ids: dict[str, int] = {}
    for it in items:
        it["text_ids"] = [ids.setdefault(c, len(ids)) for c in it["captions"]]
    texts = list(ids)
    entries, offset, dim = [], 0, None
    name = f"text.{tag}.bin"
    with atomic_path(directory / name) as tmp, open(tmp, "wb") as out:
        for s in range(0, len(texts), batch_size):
            hidden, mask = encoder.encode(texts[s:s + batch_size], device)
            dim = hidden.shape[-1]
            for h, m in zip(hidden, mask):
                states = h[m.bool()].float().cpu().numpy()  # [L, D], real tokens only
                out.write(states.tobytes())
                entries.append([offset, states.shape[0]])
                offset += states.shape[0]
    return {"encoder": getattr(encoder, "name", ""), "dim": dim, "dtype": "float32",
            "file": name, "entries": entries}


def _remove_replaced(directory: Path, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    if not old:
        return
    keep = {new["codes_file"], (new.get("text") or {}).get("file")}
    for name in (old.get("codes_file"), (old.get("text") or {}).get("file")):
        if name and name not in keep:
            (directory / name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- reading

class TokenCache:
    """Read access to a cache directory. Memory maps open lazily in each process."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        if not (self.directory / INDEX_FILE).is_file():
            raise MissingFilesError("token cache", [INDEX_FILE], str(self.directory),
                                    "Build one with `audiogen data encode MANIFEST --model DIR "
                                    "-o CACHE_DIR`.")
        self.index = read_json(self.directory / INDEX_FILE)
        if self.index.get("format") != FORMAT or self.index.get("version") != VERSION:
            raise AudiogenError(f"{self.directory}: not a {FORMAT} of version {VERSION}.")
        path = self.directory / INDEX_FILE
        codec = require(self.index, "codec", dict[str, Any], path)
        self.sample_rate: int = require(codec, "sample_rate", int, path)
        self.frame_rate: float = require(codec, "frame_rate", float, path)
        self.hop_length: int = require(codec, "hop_length", int, path)
        self.num_codebooks: int = require(codec, "num_codebooks", int, path)
        self.cardinality: int = require(codec, "cardinality", int, path)
        self.codec_id: str = require(codec, "id", str, path)
        self.items: list[dict[str, Any]] = require(self.index, "items", list[dict[str, Any]],
                                                   path)
        require(self.index, "codes_file", str, path)
        require(self.index, "dtype", str, path)
        self.has_text = self.index.get("text") is not None
        self._codes: np.memmap | None = None
        self._text: np.memmap | None = None

    def __getstate__(self) -> dict[str, Any]:  # loader workers map the files themselves
        return {**self.__dict__, "_codes": None, "_text": None}

    def _map(self, name: str, dtype: str, width: int) -> np.memmap:
        path = self.directory / name
        if not path.is_file():
            raise MissingFilesError("token cache", [name], str(self.directory))
        try:
            return np.memmap(path, dtype=dtype, mode="r").reshape(-1, width)
        except (ValueError, TypeError) as e:
            raise DamagedFileError(f"{path}: damaged (its size does not fit rows of {width} "
                                   f"{dtype} values: {e}); build the cache again.") from e

    def codes(self, i: int, start: int = 0, frames: int | None = None) -> np.ndarray:
        """Codes of item `i` as a read-only array `[K, F]` (frames [start, start + frames))."""
        if self._codes is None:
            self._codes = self._map(self.index["codes_file"], self.index["dtype"],
                                    self.num_codebooks)
        it = self.items[i]
        stop = it["frames"] if frames is None else min(it["frames"], start + frames)
        if it["offset"] + it["frames"] > self._codes.shape[0]:
            raise DamagedFileError(
                f"{self.directory / self.index['codes_file']}: cut short (item {i} needs frames "
                f"up to {it['offset'] + it['frames']}, the file holds {self._codes.shape[0]}); "
                "build the cache again.")
        return self._codes[it["offset"] + start: it["offset"] + stop].T

    def text_states(self, text_id: int) -> torch.Tensor:
        """Cached encoder states `[L, D]` of a caption (L = 0 for an empty caption)."""
        if not self.has_text:
            raise AudiogenError(f"{self.directory}: built without a text encoder.")
        text = self.index["text"]
        offset, length = text["entries"][text_id]
        if length == 0:  # (an all-empty text file cannot be memory-mapped)
            return torch.zeros(0, text["dim"])
        if self._text is None:
            self._text = self._map(text["file"], text["dtype"], text["dim"])
        return torch.from_numpy(np.array(self._text[offset:offset + length]))

    def check_codec(self, codec: CodecLike, codec_id: str = "") -> None:
        """Raise unless `codec` has this cache's shape (and identity, when both are known)."""
        mine = (self.sample_rate, self.num_codebooks, self.cardinality)
        theirs = (codec.sample_rate, codec.num_codebooks, codec.cardinality)
        if mine != theirs or (codec_id and self.codec_id and codec_id != self.codec_id):
            raise AudiogenError(
                f"{self.directory}: cached with another codec (rate, K, card {mine}, id "
                f"{self.codec_id or '?'}; this codec: {theirs}, id {codec_id or '?'}). "
                "Re-encode with `audiogen data encode`.")


@dataclass
class CodeBatch:
    """Codes of a batch. Frames from `lengths[b]` on are padding, holding PAD (-1)."""

    codes: torch.Tensor  # [B, K, F] int64
    lengths: torch.Tensor  # [B] int64, valid frames
    captions: list[str]  # B cleaned captions
    text_states: torch.Tensor | None = None  # [B, L, D] cached encoder states, zero-padded
    text_mask: torch.Tensor | None = None  # [B, L] bool, True at real tokens
    skipped: int = 0  # unreadable files met while reading this batch (on-the-fly path)
    sources: list[int] = field(default_factory=list)  # source of each item (several sources)

    def __len__(self) -> int:
        return self.codes.shape[0]

    @property
    def mask(self) -> torch.Tensor:
        """`[B, F]` bool, True on valid frames."""
        steps = torch.arange(self.codes.shape[-1], device=self.codes.device)
        return steps[None, :] < self.lengths.to(self.codes.device)[:, None]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> CodeBatch:
        """On `device`; non_blocking: copies from pinned memory overlap the computation."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> CodeBatch:
        """In page-locked memory (what DataLoader(pin_memory=True) calls on a batch object)."""
        return self._map(torch.Tensor.pin_memory)

    def _map(self, fn) -> CodeBatch:
        move = (lambda t: None if t is None else fn(t))
        return CodeBatch(fn(self.codes), fn(self.lengths), self.captions,
                         move(self.text_states), move(self.text_mask), self.skipped)


class TokenCacheDataset(torch.utils.data.Dataset):
    """Random code segments of a token cache, keyed like `AudioSegmentDataset`.

    `dataset[(epoch, index)]` returns a dict: `codes [K, F]` int64 (F = segment frames, PAD
    past the clip), `length` (valid frames), `caption`, `index` (of the clip in
    `cache.items`), and `text` (`[L, D]` cached encoder states of that caption) when the cache
    holds them. Long clips own several items per epoch, as in `AudioSegmentDataset`.
    """

    def __init__(self, cache: TokenCache | str | os.PathLike, segment_seconds: float,
                 split: str | None = None, seed: int = 0, random_crop: bool = True,
                 max_items_per_clip: int = 100):
        self.cache = cache if isinstance(cache, TokenCache) else TokenCache(cache)
        self.indices = [i for i, it in enumerate(self.cache.items)
                        if split is None or it["split"] == split]
        if not self.indices:
            raise AudiogenError(f"{self.cache.directory}: no clips in split {split!r}.")
        self.segment_frames = max(1, round(segment_seconds * self.cache.frame_rate))
        self.seed, self.random_crop, self.epoch = seed, random_crop, 0
        self.slots = SegmentIndex([self.cache.items[i]["frames"] for i in self.indices],
                                  self.segment_frames, max_items_per_clip)

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def seconds(self) -> float:
        """Seconds of audio in this split."""
        frames = sum(self.cache.items[i]["frames"] for i in self.indices)
        return frames / self.cache.frame_rate

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, key: Key) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        rng = item_rng(self.seed, epoch, index)
        u_offset, u_caption = rng.random(), rng.random()
        clip, slot = self.slots.locate(index)
        i = self.indices[clip]
        item = self.cache.items[i]
        start = round(segment_start(item["frames"] - self.segment_frames, slot,
                                    self.segment_frames, u_offset, self.random_crop))
        part = self.cache.codes(i, start, self.segment_frames)
        codes = torch.full((self.cache.num_codebooks, self.segment_frames), PAD, dtype=torch.long)
        codes[:, :part.shape[1]] = torch.from_numpy(part.astype(np.int64))
        out = {"codes": codes, "length": part.shape[1], "caption": "", "index": i}
        if item["captions"]:
            c = int(u_caption * len(item["captions"]))
            out["caption"] = item["captions"][c]
            if self.cache.has_text:
                out["text"] = self.cache.text_states(item["text_ids"][c])
        elif self.cache.has_text:
            out["text"] = torch.zeros(0, self.cache.index["text"]["dim"] or 0)
        return out


def collate_codes(items: list[dict[str, Any]]) -> CodeBatch:
    """Stack `TokenCacheDataset` items into a `CodeBatch` (the DataLoader's `collate_fn`)."""
    batch = CodeBatch(codes=torch.stack([it["codes"] for it in items]),
                      lengths=torch.tensor([it["length"] for it in items], dtype=torch.long),
                      captions=[it["caption"] for it in items],
                      sources=[it["source"] for it in items if "source" in it])
    if "text" in items[0]:
        length = max(1, max(it["text"].shape[0] for it in items))
        states = torch.zeros(len(items), length, items[0]["text"].shape[-1])
        mask = torch.zeros(len(items), length, dtype=torch.bool)
        for b, it in enumerate(items):
            n = it["text"].shape[0]
            states[b, :n], mask[b, :n] = it["text"], True
        batch.text_states, batch.text_mask = states, mask
    return batch


@torch.no_grad()
def encode_audio_batch(codec: CodecLike, batch: AudioBatch,
                       device: str | torch.device | None = None) -> CodeBatch:
    """Encode an `AudioBatch` (e.g. fresh from `BatchMixer`) on `device`: the on-the-fly path.

    Frames past each clip's valid length (ceil(length / hop)) are set to PAD.
    """
    wav = batch.wav if device is None else batch.wav.to(device)
    codes = codec.encode(wav).long()  # [B, K, F]
    lengths = torch.div(batch.lengths.to(codes.device) + hop_length(codec) - 1,
                        hop_length(codec), rounding_mode="floor")
    steps = torch.arange(codes.shape[-1], device=codes.device)
    codes = codes.masked_fill(steps[None, None, :] >= lengths[:, None, None], PAD)
    return CodeBatch(codes, lengths, list(batch.captions), skipped=batch.skipped)
