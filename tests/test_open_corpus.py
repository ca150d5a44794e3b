"""The open corpus builder: caption tables, generators, segmentation, splits, manifest, CLI.

Nothing here needs the big Debian packages: the game-sound source is exercised on a small fake
file-system tree; fluidsynth and espeak-ng renders run only where those programs exist.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.data.manifest import read_manifest
from audiogen.data.open_corpus import (
    build,
    captions,
    clips,
    everyday,
    game_sfx,
    midi,
    package_files,
    procedural,
    speech,
)
from audiogen.errors import AudiogenError

SR = clips.SAMPLE_RATE
FILE_NAME_LIKE = re.compile(r"[_/\\]|\.(ogg|oga|wav|flac|mp3)\b|\d|[A-Z]")


def _all_caption_lists():
    for label, caps in captions.ALL_CLASSES.items():
        yield f"class {label}", caps
    for kind, (_, caps) in captions.SOUNDS.items():
        yield f"sound {kind}", caps
    for kind, caps in {**midi.PHRASE_CAPTIONS, **midi.DRUM_CAPTIONS}.items():
        yield f"midi {kind}", [c.format(inst="a piano") for c in caps]


def test_every_class_and_sound_has_three_natural_paraphrases():
    for where, caps in _all_caption_lists():
        assert len(caps) >= 3, where
        assert len(set(caps)) == len(caps), f"{where}: repeated caption"
        for caption in caps:
            assert not FILE_NAME_LIKE.search(caption), f"{where}: {caption!r} looks like a name"
            assert len(caption.split()) >= 2 and caption == caption.strip(), (where, caption)
            assert not caption.endswith("."), (where, caption)
    for kind, (label, _) in captions.SOUNDS.items():
        assert label in captions.ALL_CLASSES, f"sound {kind} has unknown label {label}"


def test_every_label_and_sound_kind_a_source_uses_has_captions():
    kinds = {k for pkg in game_sfx.PACKAGES for _, k in pkg.rules if k}
    kinds |= set(game_sfx.OPENSFX_KINDS.values()) | {k for _, k in midi.EFFECTS.values()}
    assert kinds <= set(captions.SOUNDS), kinds - set(captions.SOUNDS)
    # the sources other than everyday stay within the 40 labels of CLASSES
    assert {captions.SOUNDS[k][0] for k in kinds} <= set(captions.CLASSES)
    labels = set(midi.LABELS) | set(speech.LABELS) | set(procedural.LABELS)
    assert labels <= set(captions.CLASSES), labels - set(captions.CLASSES)
    assert len(captions.CLASSES) == 40
    everyday_kinds = {k for pkg in everyday.PACKAGES for _, k in pkg.rules if k}
    assert everyday_kinds <= set(captions.SOUNDS), everyday_kinds - set(captions.SOUNDS)
    everyday_labels = {captions.SOUNDS[k][0] for k in everyday_kinds}
    assert set(captions.EVERYDAY_CLASSES) <= everyday_labels  # each new label has a source
    assert not set(captions.EVERYDAY_CLASSES) & set(captions.CLASSES)
    assert len(captions.ALL_CLASSES) >= 60


def test_everyday_rules_take_only_files_the_game_tables_leave_out():
    game = {pkg.name: pkg for pkg in game_sfx.PACKAGES}
    shared = [pkg for pkg in everyday.PACKAGES if pkg.name in game]
    assert {pkg.name for pkg in everyday.PACKAGES} <= set(everyday.CREDITS) | set(game)
    for pkg in shared:  # same package, same credits
        assert (pkg.license, pkg.attribution) == (game[pkg.name].license,
                                                  game[pkg.name].attribution)
    installed = [pkg for pkg in shared if package_files.is_present(Path("/"), pkg.base)]
    if not installed:
        pytest.skip("scratch and tuxpaint-stamps-default are not installed")
    for pkg in installed:
        mine = game_sfx.claimed_files(Path("/"), (pkg,))
        assert mine and not mine & game_sfx.claimed_files(Path("/"), (game[pkg.name],))


@pytest.mark.parametrize("label", procedural.LABELS)
def test_procedural_clips_are_short_normalised_and_deterministic(label):
    a = procedural.generate(label, 3, seed=0)
    assert a.wav.dtype == torch.float32 and a.wav.dim() == 2 and a.wav.shape[0] == 1
    assert 0.3 <= a.seconds <= clips.MAX_SECONDS
    assert torch.isfinite(a.wav).all() and float(a.wav.abs().max()) <= 1.0
    level = 10 * np.log10(float(a.wav.pow(2).mean()))
    # at the target level, or lower only where the peak limit held it back (clicks, drops)
    assert level <= clips.TARGET_DB + 0.5
    assert level >= clips.TARGET_DB - 0.5 or float(a.wav.abs().max()) > 0.95
    assert a.label == label and a.source == "procedural" and a.license and a.attribution
    assert len(a.captions) >= 3 and all(c in captions.CLASSES[label] or c for c in a.captions)
    b = procedural.generate(label, 3, seed=0)
    assert torch.equal(a.wav, b.wav) and a.captions == b.captions
    c = procedural.generate(label, 4, seed=0)
    assert c.group != a.group
    assert c.wav.shape != a.wav.shape or not torch.equal(c.wav, a.wav)


def test_beep_captions_count_the_beeps():
    for i in range(8):
        clip = procedural.generate("beep", i, seed=1)
        count = clip.extra["count"]
        word = procedural.NUMBERS[count]
        assert any(word in c or (count == 1 and "single" in c) for c in clip.captions)
        # count the beeps in the audio: rising edges of the envelope
        env = clips.frame_db(clip.wav, frame=80) > -40
        rises = int((env[1:] & ~env[:-1]).sum()) + int(env[0])
        assert rises == count, (clip.captions, rises)


def test_segment_trims_silence_and_cuts_long_recordings():
    t = torch.arange(SR) / SR
    burst = torch.sin(2 * torch.pi * 440 * t)[None] * 0.5
    silence = torch.zeros(1, SR)
    short = torch.cat([silence, burst, silence], -1)
    (piece,) = clips.segment(short)
    assert abs(piece.shape[-1] - SR) < 0.05 * SR  # the silence around it is gone
    long = torch.cat([burst] * 22 + [silence] * 3 + [burst] * 5, -1)  # 30 s
    pieces = clips.segment(long)
    assert 1 < len(pieces) <= clips.MAX_SEGMENTS_PER_FILE
    assert all(clips.MIN_SECONDS * SR <= p.shape[-1] <= clips.MAX_SECONDS * SR for p in pieces)
    assert clips.segment(torch.zeros(1, 3 * SR)) == []
    assert clips.segment(burst[:, : int(0.05 * SR)]) == []  # a click is too short


def test_assign_splits_is_by_group_deterministic_and_covers_test():
    groups = {"a": [f"a{i}" for i in range(20)], "b": ["b0", "b1"], "c": ["c0"],
              "d": [f"d{i}" for i in range(5)]}
    split = build.assign_splits(groups, seed=0)
    assert split == build.assign_splits(groups, seed=0)
    count = lambda label, s: sum(split[g] == s for g in groups[label])
    assert (count("a", "test"), count("a", "valid"), count("a", "train")) == (2, 2, 16)
    assert (count("b", "test"), count("b", "train")) == (1, 1)
    assert split["c0"] == "train"
    assert (count("d", "test"), count("d", "valid")) == (1, 1)
    assert split != build.assign_splits(groups, seed=1)
    with pytest.raises(AudiogenError, match="two labels"):
        build.assign_splits({"x": ["g"], "y": ["g"]}, seed=0)


def test_balance_caps_classes_round_robin_over_groups():
    def clip(label, group, i):
        return clips.Clip(torch.zeros(1, 10), label, ["a b"], "s", "l", "a", group, f"{group}_{i}")
    many = [clip("x", "big", i) for i in range(10)] + [clip("x", f"g{k}", 0) for k in range(3)]
    kept = build.balance(many + [clip("y", "h", 0)], max_per_class=5, seed=0)
    xs = [c for c in kept if c.label == "x"]
    assert len(xs) == 5 and {c.group for c in xs} == {"big", "g0", "g1", "g2"}
    assert [c.label for c in kept].count("y") == 1


def test_variants_copy_only_training_clips_with_changed_speed():
    def clip(group, i):
        wav = torch.sin(torch.arange(SR) / SR * 2 * torch.pi * 440)[None] * 0.5
        return clips.Clip(wav, "x", ["a b"], "s", "l", "a", group, f"{group}_{i}")
    originals = [clip("g0", 0), clip("g0", 1), clip("g1", 0), clip("g2", 0)]
    splits = {"g0": "train", "g1": "train", "g2": "test"}
    variants = build.add_variants(originals, splits, min_per_class=6, seed=0)
    assert len(variants) == 2  # 4 originals + 2 copies reach 6
    assert build.add_variants(originals, splits, min_per_class=100, seed=0).__len__() == 9
    for v in variants:
        assert splits[v.group] == "train" and v.extra["variant_of"].startswith("x/g")
        speed = v.extra["speed"]
        assert 0.84 <= speed <= 0.94 or 1.06 <= speed <= 1.16
        assert v.wav.shape[-1] == pytest.approx(SR / speed, rel=1e-3)  # speed is rounded
    assert len({v.name for v in variants}) == len(variants)
    assert build.add_variants(originals, splits, min_per_class=3, seed=0) == []


def test_midi_writer_encodes_lengths_and_events():
    assert midi._varlen(0) == b"\x00" and midi._varlen(0x40) == b"\x40"
    assert midi._varlen(0x80) == b"\x81\x00" and midi._varlen(0x3FFF) == b"\xff\x7f"
    writer = midi.MidiWriter()
    writer.program(0.0, 0, 24)
    writer.note(0.5, 0.25, 0, 60, 100)
    data = writer.to_bytes()
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    assert struct.unpack(">I", data[18:22])[0] == len(data) - 22
    track = data[22:]
    assert track.startswith(b"\x00\xc0\x18")  # program change at time 0
    assert b"\x90\x3c\x64" in track and b"\x80\x3c\x00" in track
    assert track.endswith(b"\xff\x2f\x00")


# --- the game-sound source on a fake file-system tree ---------------------------------------

def _write(path: Path, seconds: float, freq: float, fmt: str = "OGG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 22050)) / 22050
    x = (0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))).astype(np.float32)
    sf.write(str(path), np.stack([x, x], 1), 22050, format=fmt)


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    wes = root / game_sfx.WESNOTH.base
    for i in range(1, 4):
        _write(wes / f"human-female-hit-{i}.ogg", 0.6, 300 + 50 * i)
        _write(wes / f"wolf-growl-{i}.ogg", 1.0, 120 + 10 * i)
    _write(wes / "sword-1.ogg", 0.5, 2000)
    _write(wes / "select.ogg", 0.5, 900)  # matches no rule: left out
    _write(wes / "ambient" / "birds1.ogg", 14.0, 3000)  # long: cut into segments
    wl = root / game_sfx.WIDELANDS.base
    for i in range(3):
        _write(wl / "animals" / f"bird1_0{i}.ogg", 1.0, 2500 + 100 * i)
    shutil.copy(wl / "animals" / "bird1_00.ogg", wl / "animals" / "bird2_00.ogg")  # duplicate
    (wl / "wl-sound-docu.csv").write_text(
        "File Name,Format,Location,Usage,Author,License,reworked,Original File Name\n"
        "bird1_00.ogg,x,sound/animals,,Jane Doe,CC-0,yes,birds-at-dawn.wav\n"
        "bird1_01.ogg,x,sound/animals,,Jane Doe,CC-0,yes,birds-at-dawn.wav\n")
    return root


def test_game_source_reads_rules_attribution_groups_and_skips_duplicates(tmp_path):
    root = _fake_root(tmp_path)
    got = game_sfx.collect(root, seed=0)
    files = {c.extra["source_file"] for c in got}
    assert "select.ogg" not in files and "animals/bird2_00.ogg" not in files
    by_file = {c.extra["source_file"]: c for c in got}
    assert by_file["sword-1.ogg"].label == "sword"
    assert by_file["human-female-hit-1.ogg"].label == "woman_scream"
    assert by_file["sword-1.ogg"].license == "GPL-2+"
    bird = by_file["animals/bird1_00.ogg"]
    assert "Jane Doe" in bird.attribution and bird.source == "widelands-data"
    assert bird.group == by_file["animals/bird1_01.ogg"].group  # same original recording
    assert by_file["animals/bird1_02.ogg"].group != bird.group
    dawn = [c for c in got if c.extra["source_file"] == "ambient/birds1.ogg"]
    assert len(dawn) >= 3 and len({c.group for c in dawn}) == 1
    assert all(c.seconds <= clips.MAX_SECONDS for c in got)
    assert sorted(game_sfx.missing_packages(root)) == sorted(
        ["lincity-ng-data", "tuxpaint-stamps-default", "sound-theme-freedesktop",
         "openttd-opensfx", "scratch"])


def _zeroad_root(tmp_path: Path) -> Path:
    """A root holding a 0 A.D.-like public.zip with voices, footsteps and an interface blip."""
    root = tmp_path / "root"
    archive = root / everyday.ZEROAD.base
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as z:
        for i, name in enumerate(["audio/actor/singlesteps/fs_gravel1.ogg",
                                  "audio/actor/singlesteps/fs_gravel2.ogg",
                                  "audio/voice/greek/civ/civ_female_hello_1.ogg",
                                  "audio/interface/alarm/alarm_1.ogg"]):
            _write(tmp_path / "tmp.ogg", 0.5, 400 + 100 * i)
            z.write(tmp_path / "tmp.ogg", name)
        z.writestr("audio/actor/singlesteps/", "")  # a folder entry
    return root


def test_package_files_lists_folders_and_archives_alike(tmp_path):
    root = _zeroad_root(tmp_path)
    listed = dict(package_files.package_files(root, everyday.ZEROAD.base))
    assert sorted(listed) == list(listed) and len(listed) == 4  # folder entry left out
    folder = root / "unpacked"
    with zipfile.ZipFile(root / everyday.ZEROAD.base) as z:
        z.extractall(folder)
    unpacked = dict(package_files.package_files(root, "unpacked"))
    assert list(unpacked) == list(listed)
    assert all(unpacked[name]() == listed[name]() for name in listed)
    assert list(package_files.package_files(root, "not/installed")) == []


def test_everyday_source_reads_zip_archives_and_stays_out_of_the_default(tmp_path):
    root = _zeroad_root(tmp_path)
    got = game_sfx.collect(root, seed=0, packages=everyday.PACKAGES, opensfx=False)
    by_file = {c.extra["source_file"]: c for c in got}
    assert sorted(by_file) == ["audio/actor/singlesteps/fs_gravel1.ogg",
                               "audio/actor/singlesteps/fs_gravel2.ogg",
                               "audio/voice/greek/civ/civ_female_hello_1.ogg"]
    steps = by_file["audio/actor/singlesteps/fs_gravel1.ogg"]
    assert steps.label == "footsteps" and steps.source == "0ad-data"
    assert "footsteps on gravel" in captions.SOUNDS["steps_gravel"][1]
    assert steps.captions[0] in captions.SOUNDS["steps_gravel"][1]
    assert (steps.license, steps.attribution) == everyday.CREDITS["0ad-data"]
    assert by_file["audio/voice/greek/civ/civ_female_hello_1.ogg"].label == "speech_female"
    claimed = game_sfx.claimed_files(root, everyday.PACKAGES)
    assert f"{everyday.ZEROAD.base}/audio/actor/singlesteps/fs_gravel1.ogg" in claimed
    assert not any("interface" in path for path in claimed)
    # source game leaves the new packages alone; `everyday` (a default source) adds them
    quiet = {"log": lambda _: None}
    assert "everyday" in build.DEFAULT_SOURCES
    assert build.collect(root, 0, 60, ["game"], **quiet) == []
    labels = {c.label for c in build.collect(root, 0, 60, ["game", "everyday"], **quiet)}
    assert labels == {"footsteps", "speech_female"}
    assert "0ad-data" in build.install_hint(build.missing_packages(tmp_path, ["everyday"]))


def _riff(seconds: float) -> bytes:
    import io
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        t = np.arange(int(seconds * 22050)) / 22050
        w.writeframes((8000 * np.sin(2 * np.pi * 200 * t)).astype("<i2").tobytes())
    return buf.getvalue()


def test_opensfx_catalogue_is_parsed_with_per_sound_credits(tmp_path):
    entries = [(f'"Sound {i}". By Someone. License: Creative Commons Zero 1.0.', _riff(1.0))
               for i in range(4)]
    credit = ('"Steam train". Original "puff.wav" by "X". Edited by "Y". '
              'License: Creative Commons Attribution 3.0 Unported.')
    entries.append((credit, _riff(2.0)))
    table, body = b"", b""
    offset = 8 * len(entries)
    for text, wav in entries:
        name = text.encode() + b"\0"
        blob = bytes([len(name)]) + name + wav
        table += struct.pack("<II", (offset + len(body)) | (0x80000000 if not table else 0),
                             len(blob))
        body += blob
    path = tmp_path / game_sfx.OPENSFX_CATALOGUE
    path.parent.mkdir(parents=True)
    path.write_bytes(table + body)
    items = list(game_sfx._opensfx_items(tmp_path))
    assert [i.kind for i in items] == ["steam_train"]  # index 4; 0-3 are not used
    (item,) = items
    assert item.license == "CC-BY-3.0 (collection: CC-BY-SA-3.0)"
    assert "Steam train" in item.attribution and item.group.endswith("puff.wav")
    assert clips.decode_sound(item.data).shape[-1] == pytest.approx(2 * SR, abs=2)


def test_build_writes_manifest_splits_and_summary_idempotently(tmp_path):
    root, out = _fake_root(tmp_path), tmp_path / "corpus"
    logs: list[str] = []
    kwargs = {"max_per_class": 5, "seed": 0, "sources": ("game", "procedural"), "root": root,
              "log": logs.append}
    summary = build.build_open_corpus(out, **kwargs)
    text = "\n".join(logs)
    assert "apt-get install" in text and "lincity-ng-data" in text and "fluidsynth" not in text
    rows = read_manifest(out / "manifest.jsonl")
    raw = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert all(not Path(r["path"]).is_absolute() for r in raw)
    assert len(rows) == summary["clips"] > 0
    for r in rows:
        assert Path(r.path).is_file() and r.sample_rate == SR and r.channels == 1
        assert sf.info(r.path).samplerate == SR and sf.info(r.path).channels == 1
        assert r.captions and r.label and r.source and r.license and r.attribution and r.group
        assert r.split in {"train", "valid", "test"}
        assert r.duration <= clips.MAX_SECONDS + 1e-3
    split_of: dict[str, set] = {}
    for r in rows:
        split_of.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in split_of.values())  # a source file sits in one split
    labels = {r.label for r in rows}
    assert {"sword", "woman_scream", "wolf", "bird", *procedural.LABELS} <= labels
    assert max(sum(r.label == lab for r in rows) for lab in labels) <= 5
    copies = [r for r in rows if "variant_of" in r.extra]
    assert copies and all(r.split == "train" for r in copies)
    assert summary["classes"]["sword"]["speed_variants"] == 3  # one training clip, 3 copies
    for lab in procedural.LABELS:  # five groups: one test, one valid
        assert {r.split for r in rows if r.label == lab} == {"train", "valid", "test"}
    assert json.loads((out / "corpus.json").read_text())["clips"] == len(rows)
    assert "| bird |" in (out / "README.md").read_text()
    # a second build gives the same files and removes clips that are no longer produced
    before = (out / "manifest.jsonl").read_bytes()
    stale = out / "clips" / "bird" / "old.flac"
    shutil.copy(rows[0].path, stale)
    build.build_open_corpus(out, **kwargs)
    assert (out / "manifest.jsonl").read_bytes() == before and not stale.exists()
    assert sorted(p.name for p in out.rglob("*.flac")) == sorted(Path(r.path).name for r in rows)


def test_missing_sources_name_the_apt_packages(tmp_path):
    missing = build.missing_packages(tmp_path, ["game"])
    hint = build.install_hint(missing)
    assert "apt-get install -y" in hint
    for pkg in ("wesnoth-1.16-data", "widelands-data", "lincity-ng-data", "openttd-opensfx",
                "scratch"):
        assert pkg in hint
    with pytest.raises(AudiogenError, match="apt-get install"):
        build.build_open_corpus(tmp_path / "c", sources=["game"], root=tmp_path, strict=True,
                                log=lambda s: None)
    with pytest.raises(AudiogenError, match="unknown corpus source"):
        build.build_open_corpus(tmp_path / "c", sources=["nope"], root=tmp_path)


def test_cli_builds_a_procedural_corpus(tmp_path, capsys):
    from audiogen.cli import data_open_corpus

    parser = argparse.ArgumentParser()
    data_open_corpus.add_arguments(parser)
    args = parser.parse_args(["-o", str(tmp_path / "c"), "--max-per-class", "2",
                              "--sources", "procedural", "--seed", "3"])
    assert data_open_corpus.run(args) == 0
    assert "10 clips" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "c" / "manifest.jsonl")) == 10


@pytest.mark.skipif(not (shutil.which("fluidsynth") and Path("/", midi.SOUNDFONT).is_file()),
                    reason="needs `apt-get install fluidsynth fluid-soundfont-gm`")
def test_fluidsynth_renders_phrases():
    got = midi.render_class("piano", 2, seed=0, root=Path("/"))
    assert len(got) == 2
    for clip in got:
        assert 0.3 < clip.seconds <= clips.MAX_SECONDS and float(clip.wav.abs().max()) > 0.1
        assert any("piano" in c for c in clip.captions)
    tel = midi.render_class("telephone", 1, seed=0, root=Path("/"))[0]
    assert tel.extra["program"] == 124 and "ring" in " ".join(tel.captions)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs `apt-get install espeak-ng`")
def test_espeak_renders_speech_with_language_in_captions():
    (clip,) = speech.render_class("speech_female", 1, seed=0)
    assert 0.5 < clip.seconds <= clips.MAX_SECONDS
    language = next(lang for v, (lang, _) in speech.SENTENCES.items()
                    if clip.extra["voice"].startswith(v + "+"))
    assert any(language in c for c in clip.captions)
    assert clip.extra["voice"].split("+")[1].startswith("f")
