"""`audiogen data index`: caption layouts, skipped files, leak-free splits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogen.data.caption_sources import read_caption_csv
from audiogen.data.index import IndexConfig, assign_splits, index_directory
from audiogen.data.manifest import ManifestEntry, read_manifest
from audiogen.errors import AudiogenError


def tone(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    wav = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([wav] * channels, axis=1), sr)
    return path


def by_name(result) -> dict[str, ManifestEntry]:
    return {Path(e.path).name: e for e in result.entries}


def test_sidecar_txt_and_json(tmp_path):
    tone(tmp_path / "a.wav", seconds=1.0, sr=22050, channels=2)
    (tmp_path / "a.txt").write_text("A Dog Barks\n\n  a dog   barks \nrain falls\n")
    tone(tmp_path / "b.flac")
    (tmp_path / "b.json").write_text(json.dumps({"description": "Wind Blows", "label": "wind"}))
    tone(tmp_path / "sub" / "c.ogg")
    (tmp_path / "sub" / "c.json").write_text(json.dumps(
        {"description": ["Bell rings", "a bell"], "license": "CC0", "group": "bells"}))
    tone(tmp_path / "d.mp3")
    (tmp_path / "d.txt").write_text("an mp3\n")
    entries = by_name(index_directory(tmp_path, IndexConfig(valid=0, test=0)))
    assert entries["d.mp3"].captions == ["an mp3"] and entries["d.mp3"].duration > 0.4
    assert entries["a.wav"].captions == ["a dog barks", "rain falls"]  # cleaned, deduplicated
    assert (entries["a.wav"].sample_rate, entries["a.wav"].channels) == (22050, 2)
    assert entries["a.wav"].duration == pytest.approx(1.0)
    assert entries["b.flac"].captions == ["wind blows"] and entries["b.flac"].label == "wind"
    assert entries["c.ogg"].captions == ["bell rings", "a bell"]
    assert (entries["c.ogg"].license, entries["c.ogg"].group) == ("CC0", "bells")


def test_audiocaps_csv(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("audiocap_id,youtube_id,start_time,caption\n"
                   "1,abc_d-12345,30,A man speaks\n"
                   "2,abc_d-12345,30,Someone talks\n"
                   "3,abc_d-12345,80,A car passes\n"
                   "4,zzzzzzzzzzz,0,Birds chirp\n"
                   "5,qqqqqqqqqqq,10,Thunder\n"
                   "6,nomatch0000,0,Never used\n")
    audio = tmp_path / "audio"
    tone(audio / "abc_d-12345_30.wav")          # id with '_' and '-', start time in seconds
    tone(audio / "Yabc_d-12345_80000.wav")      # AudioSet-style 'Y' prefix, milliseconds
    tone(audio / "zzzzzzzzzzz.wav")             # bare id
    tone(audio / "5.wav")                       # named by audiocap_id
    tone(audio / "abc_d-12345_55.wav")          # start time with no row: skipped
    result = index_directory(audio, IndexConfig(caption_files=[csv], valid=0, test=0))
    entries = by_name(result)
    assert entries["abc_d-12345_30.wav"].captions == ["a man speaks", "someone talks"]
    assert entries["Yabc_d-12345_80000.wav"].captions == ["a car passes"]
    assert entries["zzzzzzzzzzz.wav"].captions == ["birds chirp"]
    assert entries["5.wav"].captions == ["thunder"]
    # two clips of one video share a group, so they can never land in different splits
    assert entries["abc_d-12345_30.wav"].group == entries["Yabc_d-12345_80000.wav"].group
    assert [s.path for s in result.skipped] == ["abc_d-12345_55.wav"]
    assert result.skipped[0].reason.startswith("no caption")
    assert result.unmatched_caption_rows == 1  # nomatch0000


def test_clotho_csv(tmp_path):
    csv = tmp_path / "clotho_captions_development.csv"
    csv.write_text("file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
                   '"Rain on roof.wav",Rain falls,"Rain, on a roof",c3,c4,Rain falls\n'
                   "birds.wav,Birds sing,b2,b3,b4,b5\n")
    tone(tmp_path / "dev" / "Rain on roof.wav")
    tone(tmp_path / "dev" / "birds.flac")  # re-encoded: matched by stem
    entries = by_name(index_directory(tmp_path / "dev", IndexConfig(caption_files=[csv])))
    assert entries["Rain on roof.wav"].captions == ["rain falls", "rain, on a roof", "c3", "c4"]
    assert entries["birds.flac"].captions[0] == "birds sing"
    assert read_caption_csv(csv).layout == "clotho"


def test_unknown_csv_layout(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("name,text\na.wav,hello\n")
    with pytest.raises(AudiogenError, match="unknown caption CSV layout"):
        read_caption_csv(bad)


def test_skipped_files_have_reasons(tmp_path):
    tone(tmp_path / "good.wav")
    (tmp_path / "good.txt").write_text("fine\n")
    (tmp_path / "garbage.wav").write_bytes(b"this is not audio at all" * 10)
    (tmp_path / "garbage.txt").write_text("x\n")
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1)), 16000)
    (tmp_path / "empty.txt").write_text("x\n")
    tone(tmp_path / "nocap.wav")
    tone(tmp_path / "short.wav", seconds=0.1)
    (tmp_path / "short.txt").write_text("x\n")
    tone(tmp_path / "badjson.wav")
    (tmp_path / "badjson.json").write_text("{not json")
    (tmp_path / "notes.md").write_text("ignored: not audio")
    result = index_directory(tmp_path, IndexConfig(min_duration=0.2))
    assert [e.path for e in result.entries] == [str(tmp_path / "good.wav")]
    reasons = {s.path: s.reason.split(":")[0] for s in result.skipped}
    assert reasons == {"garbage.wav": "unreadable", "empty.wav": "empty",
                       "nocap.wav": "no caption", "short.wav": "too short",
                       "badjson.wav": "bad sidecar"}
    summary = result.summary()
    assert "skipped 5 files" in summary and "unreadable: 1" in summary
    # uncaptioned files are kept on request
    kept = index_directory(tmp_path, IndexConfig(require_captions=False, min_duration=0.2))
    assert str(tmp_path / "nocap.wav") in [e.path for e in kept.entries]


def test_splits_never_share_a_group_and_are_deterministic():
    entries = [ManifestEntry(path=f"f{i}.wav", duration=1.0, group=f"g{i // 3}")
               for i in range(300)]
    assign_splits(entries, valid=0.1, test=0.1, seed=3)
    split_of_group: dict[str, set[str]] = {}
    for e in entries:
        split_of_group.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in split_of_group.values())
    counts = {s: sum(1 for g in split_of_group.values() if s in g) for s in ("train", "valid", "test")}
    assert counts == {"train": 80, "valid": 10, "test": 10}
    again = [ManifestEntry(path=e.path, duration=1.0, group=e.group) for e in reversed(entries)]
    assign_splits(again, valid=0.1, test=0.1, seed=3)
    assert {e.path: e.split for e in again} == {e.path: e.split for e in entries}
    other = [ManifestEntry(path=e.path, duration=1.0, group=e.group) for e in entries]
    assign_splits(other, valid=0.1, test=0.1, seed=4)
    assert [e.split for e in other] != [e.split for e in entries]
    with pytest.raises(AudiogenError):
        assign_splits(entries, valid=0.6, test=0.5, seed=0)


def test_cli_writes_relative_manifest(tmp_path):
    for i in range(12):
        tone(tmp_path / "audio" / f"clip{i}.wav")
        (tmp_path / "audio" / f"clip{i}.txt").write_text(f"sound number {i}\n")
    (tmp_path / "audio" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    out = tmp_path / "manifests" / "all.jsonl"
    proc = subprocess.run([sys.executable, "-m", "audiogen", "data", "index",
                           str(tmp_path / "audio"), "-o", str(out), "--valid", "0.1",
                           "--test", "0.1"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "indexed 12 files" in proc.stderr and "broken.wav" in proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["path"].startswith("../audio/")
    entries = read_manifest(out)
    assert all(Path(e.path).is_file() for e in entries)
    assert {e.split for e in entries} == {"train", "valid", "test"}
    # nothing usable: a clear error, status 2, nothing written
    (tmp_path / "empty_dir").mkdir()
    proc = subprocess.run([sys.executable, "-m", "audiogen", "data", "index",
                           str(tmp_path / "empty_dir"), "-o", str(tmp_path / "none.jsonl")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "no usable audio" in proc.stderr
    assert not (tmp_path / "none.jsonl").exists()
