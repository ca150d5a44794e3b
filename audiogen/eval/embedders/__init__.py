"""Audio embedders for FAD: the protocol they follow and the one table of names.

An embedder turns one clip `wav [C, T]` at its own `sample_rate` into frame embeddings
`[F, D]` (F >= 1 frames, D = `dim`); the FAD code fits a Gaussian to the frames of a whole set
(or to one mean vector per clip). Embedders are built by name with `build_embedder`; each
lives in its own module, imported only when asked for.

| name    | what                                                                | weights            |
|---------|---------------------------------------------------------------------|--------------------|
| aisfx   | CNN trained on sound-effect libraries (ISMIR 2022), 512-dim / 2.3 s | inside `aisfx` pkg |
| codec   | this project's codec: continuous encoder latents, D-dim / frame     | `--codec DIR`      |
| clap    | LAION-CLAP audio tower (transformers' ClapModel), 512-dim / clip    | `--clap DIR`       |
| vggish  | VGGish (the AudioGen paper's FAD), 128-dim / 0.96 s, no PCA         | `--vggish PATH`    |
| vggish-pca | VGGish as torchvggish outputs it: ReLU, PCA, 8-bit, 128-dim / 0.96 s | `--vggish PATH` |
| panns   | PANNs CNN14 (16 or 32 kHz checkpoint), 2048-dim / clip              | `--panns PATH`     |
| passt   | PaSST-S (the paper's KL classifier), pre-head 768-dim / 10 s        | `--passt PATH`     |

A name in `NOT_IMPLEMENTED` (none at present) gives a message that says so and what to use
instead, rather than an untested port.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import torch

from audiogen.errors import AudiogenError


class Embedder(Protocol):
    """What FAD needs from an embedding model."""

    name: str  # short name used in reports
    sample_rate: int  # Hz the input must be at
    dim: int  # embedding dimension D

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at `sample_rate` -> frame embeddings `[F, D]` (deterministic)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings to print in a report (name, weights, frame length...)."""
        ...


# name -> (module, class, option it needs or None). The one table of embedder names.
EMBEDDERS: dict[str, tuple[str, str, str | None]] = {
    "aisfx": ("audiogen.eval.embedders.aisfx", "AisfxEmbedder", None),
    "codec": ("audiogen.eval.embedders.codec_latents", "CodecLatentEmbedder", "codec"),
    "clap": ("audiogen.eval.clap", "ClapAudioEmbedder", "clap"),
    "vggish": ("audiogen.eval.embedders.vggish", "VGGishEmbedder", "vggish"),
    "vggish-pca": ("audiogen.eval.embedders.vggish", "VGGishPCAEmbedder", "vggish"),
    "panns": ("audiogen.eval.embedders.panns", "PannsEmbedder", "panns"),
    "passt": ("audiogen.eval.passt", "Passt", "passt"),
}

NOT_IMPLEMENTED: dict[str, str] = {}


def build_embedder(name: str, **paths: Any) -> Embedder:
    """Build the embedder `name`; `paths` holds weight locations (e.g. codec=DIR, clap=DIR)."""
    if name in NOT_IMPLEMENTED:
        raise AudiogenError(
            f"embedder {name!r} ({NOT_IMPLEMENTED[name]}) is not available in this version: its "
            "network is not implemented here, because a port could not be checked against the "
            "real weights offline. Use one of: " + ", ".join(sorted(EMBEDDERS)) + ". "
            "The 'clap' embedder loads LAION-CLAP weights from a local directory.")
    if name not in EMBEDDERS:
        raise AudiogenError(f"unknown embedder {name!r}; choose one of {sorted(EMBEDDERS)}")
    module_name, class_name, needs = EMBEDDERS[name]
    if needs is not None and not paths.get(needs):
        raise AudiogenError(f"embedder {name!r} needs --{needs} DIR (where its weights are).")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_path(paths[needs]) if needs is not None else cls()
