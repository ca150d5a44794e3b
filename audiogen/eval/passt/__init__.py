"""PaSST: the AudioSet tagger the AudioGen paper's KL uses, from a local checkpoint.

`audiogen evaluate ... --classifier passt --classifier-weights PATH`, PATH being the released
file passt-s-f128-p16-s10-ap.476-swa.pt (hear21passt's `passt_s_swa_p16_128_ap476`, the model
audiocraft's PasstKLDivergenceMetric builds) or a directory holding it. Nothing is downloaded:
the file is read with `torch.load(weights_only=True)`.

    wav [C, T] (any rate) -> mono (channel mean) -> 32 kHz
      -> 10 s segments; a last piece of 0.15 s or less is dropped (as audiocraft does)
      -> per segment: log-mel (frontend.py) -> network (network.py) -> logits [L], features [D]
      -> probabilities: softmax over labels per segment, mean over segments   (KL, = audiocraft)
         tag_probabilities: sigmoid per label, mean over segments            (AudioSet tagging)
         embed: the features of each segment [S, D]                         (FAD embedder)

Softmax is what audiocraft's KL metric applies to PaSST's logits, so `probabilities` gives the
paper's KL; the network was trained with per-label sigmoids, which `tag_probabilities` gives.
Label names: the checkpoint holds none, and no installable package ships AudioSet's
class_labels_indices.csv, so labels are "label_0" .. "label_526" unless that CSV (columns
index, mid, display_name) sits next to the checkpoint file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch

from audiogen.audio.io import resample
from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.eval.passt.frontend import MelConfig, MelFrontEnd
from audiogen.eval.passt.network import PasstNet, load_passt

CHECKPOINT = "passt-s-f128-p16-s10-ap.476-swa.pt"
LABELS_CSV = "class_labels_indices.csv"
SEGMENT_SECONDS = 10.0  # the length PaSST-S was trained on (its time position embedding)
MIN_SECONDS = 0.15  # audiocraft drops shorter pieces: too few frames for one patch column


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint file named by `path` (the file, or a directory holding CHECKPOINT)."""
    p = Path(path)
    file = p / CHECKPOINT if p.is_dir() else p
    if not file.is_file():
        where = p if p.is_dir() else p.parent
        raise MissingFilesError(
            "PaSST", [file.name], str(where),
            f"Put the released PaSST-S checkpoint {CHECKPOINT} (hear21passt's "
            "passt_s_swa_p16_128_ap476, 527 AudioSet labels) there and pass "
            "--classifier-weights with that file or its directory. Nothing is downloaded.")
    return file


def read_labels(csv_path: Path, count: int) -> list[str]:
    """Display names from AudioSet's class_labels_indices.csv (`count` rows, indices 0..)."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    try:
        names = {int(r["index"]): r["display_name"] for r in rows}
    except (KeyError, ValueError, TypeError) as e:
        raise AudiogenError(f"{csv_path}: expected columns index, mid, display_name ({e})") from e
    if sorted(names) != list(range(count)):
        raise AudiogenError(f"{csv_path} has {len(names)} labels; the checkpoint has {count}")
    return [names[i] for i in range(count)]


class Passt:
    """A loaded PaSST: `Classifier` (audiogen.eval.kl) and `Embedder` (FAD) in one."""

    name = "passt"

    def __init__(self, net: PasstNet, weights: str = "", labels: list[str] | None = None,
                 mel: MelConfig | None = None, label_source: str = "indices"):
        self.net = net.eval()
        self.frontend = MelFrontEnd(mel).eval()
        self.sample_rate = self.frontend.config.sample_rate  # Hz the network hears
        self.dim = net.config.embed_dim  # embedding width D
        n = net.config.num_classes
        self.labels = labels or [f"label_{i}" for i in range(n)]
        if len(self.labels) != n:
            raise AudiogenError(f"{len(self.labels)} label names for {n} outputs")
        self.label_source = label_source if labels else "indices"  # where names came from
        self.weights = weights  # checkpoint path, for reports
        self.fingerprint: str | None = None  # identity of the checkpoint file, for caches
        self.segment = int(SEGMENT_SECONDS * self.sample_rate)
        self.min_samples = int(MIN_SECONDS * self.sample_rate)

    @classmethod
    def from_path(cls, path: str | os.PathLike, num_heads: int | None = None) -> Passt:
        """Load the checkpoint file (or directory holding it); labels from a CSV beside it."""
        file = resolve_checkpoint(path)
        net = load_passt(file, num_heads)
        labels, csv_path = None, file.parent / LABELS_CSV
        if csv_path.is_file():
            labels = read_labels(csv_path, net.config.num_classes)
        passt = cls(net, str(file), labels, label_source=str(csv_path))
        stat = file.stat()
        passt.fingerprint = f"{stat.st_size}-{stat.st_mtime_ns}"
        return passt

    def segments(self, wav: torch.Tensor, sample_rate: int | None = None) -> list[torch.Tensor]:
        """`wav [C, T]` -> mono 32 kHz pieces `[1, <= 10 s]` (too short a last piece dropped)."""
        if wav.dim() != 2 or wav.shape[-1] == 0:
            raise AudiogenError(f"expected audio [C, T] with T > 0, got {tuple(wav.shape)}")
        mono = wav.float().mean(dim=0, keepdim=True)
        if sample_rate is not None and sample_rate != self.sample_rate:
            mono = resample(mono, sample_rate, self.sample_rate)
        pieces = [p for p in torch.split(mono, self.segment, dim=-1)
                  if p.shape[-1] > self.min_samples]
        if not pieces:
            raise AudiogenError(f"a clip of {mono.shape[-1] / self.sample_rate:.3f} s is too "
                                f"short for PaSST (more than {MIN_SECONDS} s needed)")
        return pieces

    @torch.no_grad()
    def forward_segments(self, wav: torch.Tensor, sample_rate: int | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """`wav [C, T]` -> per-segment (logits `[S, L]`, features `[S, D]`)."""
        logits, features = [], []
        for piece in self.segments(wav, sample_rate):
            lg, ft = self.net(self.frontend(piece))
            logits.append(lg)
            features.append(ft)
        return torch.cat(logits), torch.cat(features)

    def probabilities(self, wav: torch.Tensor, sample_rate: int | None = None) -> torch.Tensor:
        """`wav [C, T]` at `sample_rate` (default 32 kHz) -> `[L]` summing to 1 (softmax)."""
        return torch.softmax(self.forward_segments(wav, sample_rate)[0], dim=-1).mean(dim=0)

    def tag_probabilities(self, wav: torch.Tensor, sample_rate: int | None = None) -> torch.Tensor:
        """`wav [C, T]` -> independent per-label probabilities `[L]` in [0, 1] (sigmoid)."""
        return torch.sigmoid(self.forward_segments(wav, sample_rate)[0]).mean(dim=0)

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at 32 kHz -> one embedding per 10 s segment `[S, D]`."""
        return self.forward_segments(wav)[1]

    def describe(self) -> dict[str, Any]:
        c = self.net.config
        return {"name": self.name, "weights": self.weights, "sample_rate": self.sample_rate,
                "dim": self.dim, "labels": len(self.labels), "label_names": self.label_source,
                "depth": c.depth, "heads": c.num_heads,
                "probabilities": "softmax over labels per 10 s segment, mean over segments",
                "frame": f"{SEGMENT_SECONDS:g} s segments"}
