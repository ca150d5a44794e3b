"""Index a folder of audio into a manifest: durations, captions, and leak-free splits.

`index_directory` scans a folder for wav/flac/ogg/mp3 files, reads each header (and decodes a
few milliseconds, so a file with a valid header but broken data is caught here rather than in
the middle of training), attaches captions from sidecars or caption CSVs
(`audiogen.data.caption_sources`), and assigns train/valid/test splits by `group`, so clips cut
from one source file (or one YouTube video) never sit in two splits.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from audiogen.audio.io import AUDIO_EXTENSIONS, audio_info, load_audio
from audiogen.data.caption_sources import CaptionTable, read_caption_csv, read_sidecar
from audiogen.data.manifest import ManifestEntry
from audiogen.errors import AudiogenError, AudioReadError

SPLITS = ("train", "valid", "test")


@dataclass
class IndexConfig:
    caption_files: list[Path] = field(default_factory=list)  # AudioCaps/Clotho CSVs
    require_captions: bool = True  # skip files without any caption
    min_duration: float = 0.0  # seconds; shorter files are skipped
    valid: float = 0.05  # share of groups in the valid split
    test: float = 0.05  # share of groups in the test split
    seed: int = 0  # split assignment seed
    group_by: str = "file"  # "file": each file (or CSV video/clip) is a group; "dir": its folder
    source: str = ""  # written to every entry's `source` field
    license: str = ""  # written to every entry's `license` field (a sidecar .json overrides)


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class IndexResult:
    entries: list[ManifestEntry]
    skipped: list[Skipped]
    unmatched_caption_rows: int = 0  # captioned clips of the CSVs that matched no file

    def summary(self, max_examples: int = 5) -> str:
        """A human-readable report: counts per split, hours, and skipped files by reason."""
        hours = sum(e.duration for e in self.entries) / 3600
        per_split = Counter(e.split for e in self.entries)
        lines = [f"indexed {len(self.entries)} files ({hours:.2f} h): "
                 + ", ".join(f"{s} {per_split.get(s, 0)}" for s in SPLITS)]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} files:")
            by_reason: dict[str, list[str]] = {}
            for s in self.skipped:
                by_reason.setdefault(s.reason.split(":")[0], []).append(f"{s.path}: {s.reason}")
            for reason, items in sorted(by_reason.items()):
                lines.append(f"  {reason}: {len(items)}")
                lines += [f"    {item}" for item in items[:max_examples]]
                if len(items) > max_examples:
                    lines.append(f"    ... and {len(items) - max_examples} more")
        if self.unmatched_caption_rows:
            lines.append(f"{self.unmatched_caption_rows} captioned clips in the caption CSV(s) "
                         "matched no audio file")
        return "\n".join(lines)


def scan_audio(root: str | os.PathLike) -> list[Path]:
    """Audio files under `root`, recursively, in sorted order (hidden files are ignored)."""
    root = Path(root)
    if not root.is_dir():
        raise AudiogenError(f"{root}: no such directory.")
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def index_directory(root: str | os.PathLike, config: IndexConfig,
                    relative_to: str | os.PathLike | None = None) -> IndexResult:
    """Index every audio file under `root`.

    Args:
        root: folder to scan.
        config: captions, filters and split shares.
        relative_to: write paths relative to this folder (the manifest's), so the manifest and
            the audio move together; None keeps absolute paths.
    """
    root = Path(root).resolve()
    tables: list[CaptionTable] = [read_caption_csv(p) for p in config.caption_files]
    entries: list[ManifestEntry] = []
    skipped: list[Skipped] = []
    for path in scan_audio(root):
        entry_or_reason = _index_file(path, root, tables, config)
        shown = str(path.relative_to(root))
        if isinstance(entry_or_reason, str):
            skipped.append(Skipped(shown, entry_or_reason))
            continue
        entry = entry_or_reason
        entry.path = os.path.relpath(path, relative_to) if relative_to is not None else str(path)
        entries.append(entry)
    assign_splits(entries, config.valid, config.test, config.seed)
    unmatched = sum(t.unused_rows() for t in tables)
    return IndexResult(entries, skipped, unmatched)


def _index_file(path: Path, root: Path, tables: list[CaptionTable],
                config: IndexConfig) -> ManifestEntry | str:
    """A manifest entry for one file, or the reason it is skipped."""
    try:
        duration, sr, channels = audio_info(path)
        if duration <= 0:
            return "empty: the file holds no samples"
        load_audio(path, duration=min(duration, 0.05))  # catches broken data behind a header
    except AudioReadError as e:
        return f"unreadable: {str(e).removeprefix(str(path) + ': ')}"
    if duration < config.min_duration:
        return f"too short: {duration:.2f} s < {config.min_duration} s"
    try:
        captions, fields = read_sidecar(path)
    except AudiogenError as e:
        return f"bad sidecar: {e}"
    group = str(path.relative_to(root).with_suffix(""))
    for table in tables:
        hit = table.lookup(path)
        if hit is not None:
            captions = captions + [c for c in hit[0] if c not in captions]
            group = f"{table.layout}:{hit[1]}"  # clips of one video share a group
            break
    if config.require_captions and not captions:
        return "no caption: no sidecar .txt/.json and no caption CSV row (or pass --allow-uncaptioned)"
    if config.group_by == "dir":
        group = str(path.parent.relative_to(root)) or "."
    entry = ManifestEntry(path=str(path), duration=round(duration, 6), sample_rate=sr,
                          channels=channels, captions=captions, group=group,
                          source=config.source, license=config.license)
    for key, value in fields.items():
        setattr(entry, key, value)
    return entry


def assign_splits(entries: list[ManifestEntry], valid: float, test: float, seed: int) -> None:
    """Set each entry's `split` so that all entries of a group share one split.

    Groups are ordered by a seeded hash of their name (deterministic, independent of file
    order); the first `test` share goes to test, the next `valid` share to valid. A requested
    split gets at least one group once there are 10 groups or more.
    """
    if valid < 0 or test < 0 or valid + test >= 1:
        raise AudiogenError(f"valid ({valid}) and test ({test}) shares must be >= 0 and sum < 1.")
    groups = sorted({e.group or e.path for e in entries},
                    key=lambda g: hashlib.sha1(f"{seed}:{g}".encode()).hexdigest())

    def count(share: float) -> int:
        n = round(share * len(groups))
        return 1 if share > 0 and n == 0 and len(groups) >= 10 else n

    n_test, n_valid = count(test), count(valid)
    split_of = {g: "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
                for i, g in enumerate(groups)}
    for e in entries:
        e.split = split_of[e.group or e.path]
