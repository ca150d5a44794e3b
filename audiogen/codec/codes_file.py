"""The codes file: discrete codes of one recording, tied to the codec that made them.

Format `audiogen-codes`, version 1. A safetensors file with one tensor and string metadata:

    tensor "codes"   [B, K, F] integers in [0, cardinality), int16 (int32 if cardinality > 32768)
    metadata
      format         "audiogen-codes"
      version        "1"
      sample_rate    Hz of the audio the codec reads and writes, e.g. "16000"
      frame_rate     code frames per second, e.g. "50.0"
      num_codebooks  K
      cardinality    codebook size
      codec_id       identity of the codes: first 16 hex digits of a SHA-256 over the
                     codec's config (canonical JSON, without the decoder choice) and every
                     tensor of its encoder and quantizer (not its decoder)
      num_samples    length of the encoded audio in samples at `sample_rate` (decoding yields
                     F * hop samples; the decoder trims back to this)

Safetensors is chosen because it is safe to read (no pickle), readable from any language, and
carries string metadata. Decoding with a codec whose identity differs is refused: the codes
would decode to noise. A codec whose decoder alone was retrained has the same identity.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from audiogen.codec.config import DECODER_SETTINGS
from audiogen.errors import AudiogenError
from audiogen.fileio import atomic_path

FORMAT = "audiogen-codes"
VERSION = 1


def codec_identity(codec: torch.nn.Module) -> str:
    """16 hex digits identifying the codes a codec makes: its config and the weights of its
    encoder and quantizer. The decoder is left out: a new decoder trained on frozen codes
    (e.g. a Vocos head) reads the same codes, so their files and token caches stay valid."""
    h = hashlib.sha256()
    config = {k: v for k, v in codec.config.to_dict().items() if k not in DECODER_SETTINGS}
    h.update(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(codec.state_dict().items()):
        if name.startswith("decoder."):
            continue
        h.update(name.encode())
        h.update(str(tensor.dtype).encode())
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        h.update(raw.numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class CodesFile:
    """Codes `[B, K, F]` (int64) with the facts needed to decode them."""

    codes: torch.Tensor
    sample_rate: int
    frame_rate: float
    num_codebooks: int
    cardinality: int
    codec_id: str
    num_samples: int

    @classmethod
    def from_codec(cls, codec: torch.nn.Module, codes: torch.Tensor,
                   num_samples: int) -> CodesFile:
        return cls(codes=codes, sample_rate=codec.sample_rate, frame_rate=float(codec.frame_rate),
                   num_codebooks=codec.num_codebooks, cardinality=codec.cardinality,
                   codec_id=codec_identity(codec), num_samples=num_samples)

    def check_codec(self, codec: torch.nn.Module, path: str | os.PathLike = "codes") -> None:
        """Raise AudiogenError unless `codec` is the codec these codes were made with."""
        problems = []
        for what, mine, theirs in [("sample rate", self.sample_rate, codec.sample_rate),
                                   ("codebooks", self.num_codebooks, codec.num_codebooks),
                                   ("codebook size", self.cardinality, codec.cardinality)]:
            if mine != theirs:
                problems.append(f"{what} {mine} in the file, {theirs} in the codec")
        codec_id = codec_identity(codec)
        if self.codec_id != codec_id:
            problems.append(f"codec id {self.codec_id} in the file, {codec_id} for the model")
        if problems:
            raise AudiogenError(
                f"{path}: these codes were made by a different codec ({'; '.join(problems)}). "
                "Decode with the model directory that encoded them.")


def save_codes(path: str | os.PathLike, data: CodesFile) -> Path:
    """Write a codes file atomically."""
    codes = data.codes
    if codes.dim() != 3 or codes.shape[1] != data.num_codebooks:
        raise ValueError(f"codes must be [B, {data.num_codebooks}, F], got {tuple(codes.shape)}")
    dtype = torch.int16 if data.cardinality <= 2 ** 15 else torch.int32
    metadata = {"format": FORMAT, "version": str(VERSION), "sample_rate": str(data.sample_rate),
                "frame_rate": repr(float(data.frame_rate)),
                "num_codebooks": str(data.num_codebooks), "cardinality": str(data.cardinality),
                "codec_id": data.codec_id, "num_samples": str(data.num_samples)}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({"codes": codes.detach().to("cpu", dtype).contiguous()}, str(tmp),
                  metadata=metadata)
    return path


def load_codes(path: str | os.PathLike) -> CodesFile:
    """Read and validate a codes file; any problem is an AudiogenError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AudiogenError(f"{path}: no such codes file.")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            names = set(f.keys())
            codes = f.get_tensor("codes") if "codes" in names else None
    except Exception as e:  # safetensors raises several types for a damaged header
        raise AudiogenError(f"{path}: not a codes file (cannot read it as safetensors: {e}).") \
            from e
    if meta.get("format") != FORMAT or codes is None:
        raise AudiogenError(f"{path}: not a codes file (format {meta.get('format')!r}, "
                            f"expected {FORMAT!r}). Make one with `audiogen encode`.")
    if meta.get("version") != str(VERSION):
        raise AudiogenError(f"{path}: codes file version {meta.get('version')} is not supported "
                            f"(this audiogen reads version {VERSION}).")
    try:
        data = CodesFile(codes=codes.long(), sample_rate=int(meta["sample_rate"]),
                         frame_rate=float(meta["frame_rate"]),
                         num_codebooks=int(meta["num_codebooks"]),
                         cardinality=int(meta["cardinality"]), codec_id=meta["codec_id"],
                         num_samples=int(meta["num_samples"]))
    except (KeyError, ValueError) as e:
        raise AudiogenError(f"{path}: damaged codes file metadata ({e}).") from e
    if (codes.dim() != 3 or codes.shape[1] != data.num_codebooks
            or (codes.numel() and (codes.min() < 0 or codes.max() >= data.cardinality))):
        raise AudiogenError(f"{path}: damaged codes file (codes of shape {tuple(codes.shape)} "
                            f"do not fit {data.num_codebooks} codebooks of size "
                            f"{data.cardinality}).")
    if codes.shape[0] == 0 or codes.shape[2] == 0:
        raise AudiogenError(f"{path}: the codes file holds no code frames (shape "
                            f"{tuple(codes.shape)}): nothing to decode. Encode a longer clip.")
    if not (data.sample_rate > 0 and 0 < data.frame_rate < float("inf")):
        raise AudiogenError(f"{path}: damaged codes file metadata (sample_rate "
                            f"{data.sample_rate}, frame_rate {data.frame_rate}).")
    # encoding T samples gives ceil(T / hop) frames, so F frames stand for (F-1)*hop < T <= F*hop
    hop = data.sample_rate / data.frame_rate
    frames = codes.shape[2]
    if not (frames - 1) * hop - 0.5 < data.num_samples <= frames * hop + 0.5:
        raise AudiogenError(
            f"{path}: damaged codes file metadata: num_samples={data.num_samples}, but "
            f"{frames} frames of {hop:g} samples hold between {round((frames - 1) * hop) + 1} "
            f"and {round(frames * hop)} samples.")
    return data
