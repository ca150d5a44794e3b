"""FAD embedder from this project's codec: the encoder's continuous latents, one per frame.

The latents are taken before quantization (`codec.encoder(wav) -> [B, D, F]`), so the embedding
does not depend on how many codebooks are used. They measure closeness in the codec's own
feature space: useful to compare checkpoints of one codec, not across codecs, and not a
perceptual measure by themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


class CodecLatentEmbedder:
    """`wav [C, T]` at the codec's rate -> latents `[F, D]` (F frames at the codec's frame rate)."""

    name = "codec"

    def __init__(self, codec: Any, source: str = "", chunk_seconds: float = 30.0):
        self.codec = codec.eval()
        self.sample_rate = int(codec.sample_rate)
        self.dim = int(codec.config.dimension)
        self.source = source
        self.fingerprint: str | None = None  # identity of the weights file, when loaded from one
        self.chunk = int(chunk_seconds * self.sample_rate)  # bounds memory on long files

    @classmethod
    def from_path(cls, directory: str | os.PathLike) -> CodecLatentEmbedder:
        from audiogen.codec import Codec

        embedder = cls(Codec.load(directory), source=str(directory))
        weights = (Path(directory) / "codec.safetensors").stat()
        embedder.fingerprint = f"{weights.st_size}-{weights.st_mtime_ns}"  # for caches
        return embedder

    @torch.no_grad()
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        channels = self.codec.config.channels
        wav = wav.mean(dim=0, keepdim=True) if channels == 1 else wav
        pieces = [self.codec.encoder(piece[None])[0].T for piece in wav.split(self.chunk, dim=-1)]
        return torch.cat(pieces)  # [F, D]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "codec": self.source, "sample_rate": self.sample_rate,
                "dim": self.dim, "frame": f"{self.codec.hop_length} samples "
                                          f"({self.codec.frame_rate:g} Hz)"}
