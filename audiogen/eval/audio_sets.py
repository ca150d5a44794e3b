"""Folders of audio to evaluate: listing, header checks, loading at a common sample rate.

Sample rates: every clip is converted to mono and resampled (soxr, high quality) first to the
evaluation rate (16 kHz by default, the project's rate), then to the rate the embedder or
classifier needs. Passing through one evaluation rate gives both sets the same bandwidth, so
a reference recorded at 48 kHz is not penalised against 16 kHz generations for content above
8 kHz that the model cannot produce. With `eval_rate=None` files go straight to the model's
rate (their bandwidths may then differ: the report warns when the sets' rates differ).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from audiogen.audio.io import AUDIO_EXTENSIONS, audio_info, load_audio, resample
from audiogen.errors import AudiogenError, AudioReadError

SILENCE_DB = -60.0  # a clip whose peak is below this (dBFS) is reported as silent


@dataclass
class AudioSet:
    """The audio files of one folder, with their headers."""

    root: Path
    files: list[Path]
    durations: list[float]  # seconds
    sample_rates: list[int]
    silent: list[str] = field(default_factory=list)  # filled while loading

    def summary(self) -> dict:
        total = sum(self.durations)
        return {"dir": str(self.root), "files": len(self.files),
                "seconds_total": round(total, 3),
                "seconds_mean": round(total / max(1, len(self.files)), 3),
                "seconds_min": round(min(self.durations), 3),
                "seconds_max": round(max(self.durations), 3),
                "sample_rates": {str(k): v for k, v in sorted(Counter(self.sample_rates).items())},
                "silent_files": sorted(self.silent)}

    def relative(self, i: int) -> str:
        return str(self.files[i].relative_to(self.root))

    def note_peak(self, i: int, peak: float) -> None:
        """Record clip `i` as silent when its peak is under `SILENCE_DB`."""
        rel = self.relative(i)
        if peak <= 10 ** (SILENCE_DB / 20) and rel not in self.silent:
            self.silent.append(rel)


def list_audio(root: str | os.PathLike, what: str) -> list[Path]:
    """Audio files under `root` (recursive, sorted), or an error naming the folder."""
    root = Path(root)
    if not root.is_dir():
        raise AudiogenError(f"{what} folder {root} does not exist or is not a folder.")
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise AudiogenError(f"{what} folder {root} holds no audio files "
                            f"({', '.join(AUDIO_EXTENSIONS)}).")
    return files


def list_eval_audio(data: str | os.PathLike, split: str = "test",
                    max_files: int | None = None) -> tuple[list[Path], Path]:
    """The files to evaluate and the folder their names are relative to.

    `data` is a folder (every audio file under it) or a JSONL manifest (its `split` rows).
    With `max_files`, an evenly spaced sample of the sorted list: every source of a mixed set
    keeps its share, where the first N files would take one source only.
    """
    data = Path(data)
    if data.is_file():
        from audiogen.data.manifest import read_manifest

        files = sorted(Path(e.path) for e in read_manifest(data, split=split))
        if not files:
            raise AudiogenError(f"{data}: no rows in split {split!r}.")
        root = data.parent.resolve()
    else:
        files, root = list_audio(data, "data"), data
    if max_files is not None and 0 < max_files < len(files):
        step = len(files) / max_files
        files = [files[int(i * step)] for i in range(max_files)]
    return files, root


def scan(root: str | os.PathLike, what: str) -> AudioSet:
    """List a folder and read every header; all unreadable files are named in one error."""
    files = list_audio(root, what)
    durations, rates, bad = [], [], []
    for path in files:
        try:
            seconds, sr, _ = audio_info(path)
        except AudioReadError as e:
            bad.append(str(e))
            continue
        if seconds <= 0:
            bad.append(f"{path}: the file holds no samples (empty audio).")
            continue
        durations.append(seconds)
        rates.append(sr)
    if bad:
        shown = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20
                                          else "")
        raise AudiogenError(f"{len(bad)} of {len(files)} {what} files cannot be read:\n  {shown}\n"
                            "Remove or re-export them, then run again.")
    return AudioSet(Path(root), files, durations, rates)


def load_clip(audio_set: AudioSet, i: int, model_rate: int,
              eval_rate: int | None = 16000) -> torch.Tensor:
    """Clip `i` as mono `[1, T]` at `model_rate`, through `eval_rate` (see the module doc).

    Records the clip in `audio_set.silent` when its peak is under `SILENCE_DB`.
    """
    path = audio_set.files[i]
    wav, sr = load_audio(path, channels=1)
    if eval_rate is not None and sr != eval_rate:
        wav, sr = resample(wav, sr, eval_rate), eval_rate
    wav = resample(wav, sr, model_rate)
    audio_set.note_peak(i, float(wav.abs().max()))
    return wav
