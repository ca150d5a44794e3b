"""Text-audio consistency (CLAP score) and a CLAP audio embedder, from local LAION-CLAP weights.

The network is transformers' `ClapModel`; the weights are a transformers-format CLAP directory
the user provides (for instance a local copy of `laion/clap-htsat-unfused`):

    config.json, model.safetensors, preprocessor_config.json (or processor_config.json),
    tokenizer files (vocab.json + merges.txt, or tokenizer.json)

Nothing is downloaded (`local_files_only`), and only safetensors weights are read. The
CLAP score of a generated clip is the cosine similarity of its audio embedding with its
caption's text embedding; the report gives the mean over captioned clips (audiocraft's
`CLAPTextConsistencyMetric` does the same with the laion_clap package).

Audio is cut into windows of the feature extractor's maximum length (10 s for LAION-CLAP) and
their embeddings averaged, so the extractor never crops at random: embeddings are
deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.eval.weights import default_clap_dir

REQUIRED = ["config.json", "model.safetensors"]


def check_clap_dir(directory: str | os.PathLike | None) -> Path:
    """The CLAP directory to use (default `default_clap_dir()`), or MissingFilesError."""
    path = Path(directory) if directory else default_clap_dir()
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if not any((path / f).is_file() for f in ("preprocessor_config.json", "processor_config.json")):
        missing.append("preprocessor_config.json")
    if not any((path / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        missing.append("tokenizer.json (or vocab.json + merges.txt)")
    if missing:
        raise MissingFilesError(
            "CLAP", missing, str(path),
            "Put a transformers-format LAION-CLAP checkpoint there (e.g. the files of "
            "laion/clap-htsat-unfused, with model.safetensors) or pass --clap DIR.")
    return path


class Clap:
    """A loaded CLAP model: `audio_embeddings` and `text_embeddings`, both L2-normalised."""

    def __init__(self, directory: str | os.PathLike | None = None):
        from transformers import ClapModel, ClapProcessor

        self.directory = check_clap_dir(directory)
        try:
            self.processor = ClapProcessor.from_pretrained(str(self.directory),
                                                           local_files_only=True)
            self.model = ClapModel.from_pretrained(str(self.directory), local_files_only=True,
                                                   use_safetensors=True).eval()
        except (OSError, ValueError) as e:
            raise AudiogenError(f"{self.directory}: cannot load a CLAP model: {e}") from e
        extractor = self.processor.feature_extractor
        self.sample_rate = int(extractor.sampling_rate)
        self.window = int(extractor.nb_max_samples)  # samples per window (10 s for LAION)
        self.dim = int(self.model.config.projection_dim)
        # the input layout must match the audio tower (fused models take 4 mel views)
        fused = bool(getattr(self.model.config.audio_config, "enable_fusion", False))
        self.truncation = "fusion" if fused else "rand_trunc"

    @torch.no_grad()
    def window_embeddings(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at `sample_rate` -> `[W, D]`, one per window of at most 10 s."""
        windows = [w.numpy() for w in wav.mean(dim=0).split(self.window)]
        feats = self.processor.feature_extractor(windows, sampling_rate=self.sample_rate,
                                                 truncation=self.truncation, return_tensors="pt")
        out = self.model.get_audio_features(**feats)
        return F.normalize(getattr(out, "pooler_output", out), dim=-1)

    def audio_embedding(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` -> `[D]`: the mean of its window embeddings, normalised."""
        return F.normalize(self.window_embeddings(wav).mean(dim=0), dim=-1)

    @torch.no_grad()
    def text_embeddings(self, texts: list[str]) -> torch.Tensor:
        """Captions -> `[N, D]`."""
        tokens = self.processor.tokenizer(texts, return_tensors="pt", padding=True,
                                          truncation=True)
        out = self.model.get_text_features(**tokens)
        return F.normalize(getattr(out, "pooler_output", out), dim=-1)


def clap_score(audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of paired rows of `audio [N, D]` and `text [N, D]` -> `[N]`."""
    return F.cosine_similarity(audio, text, dim=-1)


class ClapAudioEmbedder:
    """FAD embedder from CLAP's audio tower: one vector per 10 s window."""

    name = "clap"

    def __init__(self, clap: Clap):
        self.clap = clap
        weights = (clap.directory / "model.safetensors").stat()
        self.fingerprint = f"{weights.st_size}-{weights.st_mtime_ns}"  # for embedding caches
        self.sample_rate = clap.sample_rate
        self.dim = clap.dim

    @classmethod
    def from_path(cls, directory: str | os.PathLike) -> ClapAudioEmbedder:
        return cls(Clap(directory))

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        return self.clap.window_embeddings(wav)  # [windows, D]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "weights": str(self.clap.directory),
                "sample_rate": self.sample_rate, "dim": self.dim,
                "frame": f"{self.clap.window / self.sample_rate:g} s windows"}
