"""Where captions come from when indexing a folder of audio.

Three sources, all returning a list of cleaned captions (possibly empty) for an audio file:

    sidecar .txt     `clip.txt` beside `clip.wav`: one caption per line
    sidecar .json    `clip.json`: {"description": "..." | ["...", ...], ...}; other keys
                     (label, group, license, attribution, source) fill manifest fields
    caption CSV      a table for the whole corpus, in one of two published layouts:
                       AudioCaps: audiocap_id, youtube_id, start_time, caption
                                  (one row per caption; files are named after the YouTube id,
                                  possibly with a `Y` prefix and the start time, e.g.
                                  `abc123xyz_0`, `Yabc123xyz_30.000_40.000`, or `<audiocap_id>`)
                       Clotho:    file_name, caption_1, ..., caption_5
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogen.errors import AudiogenError
from audiogen.text.captions import clean_caption

# Manifest fields a sidecar .json may set besides its captions.
SIDECAR_FIELDS = ("label", "group", "source", "license", "attribution")

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _dedupe(captions: list[str]) -> list[str]:
    out: list[str] = []
    for c in captions:
        c = clean_caption(c)
        if c and c not in out:
            out.append(c)
    return out


def read_sidecar(audio_path: Path) -> tuple[list[str], dict[str, Any]]:
    """Captions and extra manifest fields from `<stem>.txt` and `<stem>.json` beside a file.

    Raises:
        AudiogenError: a sidecar exists but cannot be parsed (named in the message).
    """
    captions: list[str] = []
    fields: dict[str, Any] = {}
    txt = audio_path.with_suffix(".txt")
    if txt.is_file():
        captions += txt.read_text(encoding="utf-8", errors="replace").splitlines()
    js = audio_path.with_suffix(".json")
    if js.is_file():
        try:
            meta = json.loads(js.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise AudiogenError(f"{js}: not valid JSON ({e}).") from e
        if not isinstance(meta, dict):
            raise AudiogenError(f"{js}: expected a JSON object with a 'description' key.")
        desc = meta.get("description", [])
        captions += [desc] if isinstance(desc, str) else [str(d) for d in desc or []]
        fields = {k: str(meta[k]) for k in SIDECAR_FIELDS if meta.get(k)}
    return _dedupe(captions), fields


@dataclass
class CaptionTable:
    """Captions of a corpus read from a CSV; `lookup` finds a file's captions and group."""

    layout: str  # "audiocaps" | "clotho"
    path: Path
    # clotho: file name -> captions, and file stem -> file name (audio may be re-encoded)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    by_stem: dict[str, str] = field(default_factory=dict)
    # audiocaps: youtube_id -> start_time (seconds) -> captions; audiocap_id -> (yid, start)
    by_video: dict[str, dict[float, list[str]]] = field(default_factory=dict)
    by_capid: dict[str, tuple[str, float]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # keys matched at least once

    def lookup(self, audio_path: Path) -> tuple[list[str], str] | None:
        """(captions, group) for a file, or None if the table has no row for it."""
        if self.layout == "clotho":
            name = audio_path.name if audio_path.name in self.by_name \
                else self.by_stem.get(audio_path.stem)
            if name is None:
                return None
            self.used.add(name)
            return list(self.by_name[name]), name
        return self._lookup_audiocaps(audio_path.stem)

    def _lookup_audiocaps(self, stem: str) -> tuple[list[str], str] | None:
        if stem in self.by_capid:
            yid, start = self.by_capid[stem]
            return self._take(yid, start)
        candidates = [stem] + ([stem[1:]] if stem.startswith("Y") else [])
        for cand in candidates:
            if cand in self.by_video:
                return self._take(cand, None)
            # YouTube ids may themselves hold '_' or '-': try every split point.
            for i, ch in enumerate(cand):
                if ch in "_-" and cand[:i] in self.by_video:
                    hit = self._take(cand[:i], _first_number(cand[i + 1:]))
                    if hit is not None:
                        return hit
        return None

    def _take(self, yid: str, start: float | None) -> tuple[list[str], str] | None:
        starts = self.by_video[yid]
        if start is None:  # no start time in the name: every caption of that video
            keys = list(starts)
        else:  # the name's number may be seconds or milliseconds
            keys = [s for s in starts if abs(s - start) < 1e-3 or abs(s * 1000 - start) < 1e-3]
            if not keys:
                return None
        self.used.update(f"{yid}@{s}" for s in keys)
        return _dedupe([c for s in keys for c in starts[s]]), yid

    def unused_rows(self) -> int:
        """How many captioned clips of the table matched no audio file."""
        if self.layout == "clotho":
            return len(set(self.by_name) - self.used)
        return sum(1 for y, s in self.by_video.items() for t in s if f"{y}@{t}" not in self.used)


def _first_number(text: str) -> float | None:
    m = _NUMBER.search(text)
    return float(m.group()) if m else None


def read_caption_csv(path: str | Path) -> CaptionTable:
    """Read an AudioCaps- or Clotho-layout caption CSV (the layout is read from its header)."""
    path = Path(path)
    if not path.is_file():
        raise AudiogenError(f"{path}: no such caption file.")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        rows = [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
    if {"youtube_id", "start_time", "caption"} <= set(header):
        table = CaptionTable("audiocaps", path)
        by_video: dict[str, dict[float, list[str]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            yid = row["youtube_id"].strip()
            try:
                start = float(row["start_time"])
            except ValueError as e:
                raise AudiogenError(f"{path}: bad start_time {row['start_time']!r}.") from e
            by_video[yid][start].append(row["caption"])
            if row.get("audiocap_id", "").strip():
                table.by_capid[row["audiocap_id"].strip()] = (yid, start)
        table.by_video = {y: dict(s) for y, s in by_video.items()}
        return table
    cap_cols = sorted((h for h in header if re.fullmatch(r"caption_\d+", h)),
                      key=lambda h: int(h.split("_")[1]))
    if "file_name" in header and cap_cols:
        table = CaptionTable("clotho", path)
        for row in rows:
            name = row["file_name"].strip()
            table.by_name[name] = _dedupe([row[c] for c in cap_cols])
            table.by_stem.setdefault(Path(name).stem, name)
        return table
    raise AudiogenError(
        f"{path}: unknown caption CSV layout (header {header}). Expected AudioCaps "
        "(audiocap_id, youtube_id, start_time, caption) or Clotho (file_name, caption_1..5).")
