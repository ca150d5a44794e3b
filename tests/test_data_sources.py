"""Several training sources with weights (WeightedCrops, parse_sources) and the codec trainer
reading them; the recordings builder on a fake file-system root."""

import json
import math
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.data.audio_crops import RandomCrops, WeightedCrops, find_audio
from audiogen.data.manifest import read_manifest
from audiogen.data.open_corpus import everyday, game_sfx, recordings
from audiogen.data.weighted import DataSource, parse_sources
from audiogen.errors import AudiogenError
from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer
from audiogen.train.metrics import read_metrics

SR = 16000


def tone(path, seconds, freq, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    sf.write(str(path), (0.3 * np.sin(2 * math.pi * freq * t)).astype(np.float32), sr)
    return path


@pytest.fixture
def two_folders(tmp_path):
    a, b = tmp_path / "low", tmp_path / "high"
    a.mkdir(), b.mkdir()
    tone(a / "a.wav", 3.0, 220.0)
    for i in range(3):
        tone(b / f"b{i}.wav", 1.0, 2000.0 + 100 * i)
    return a, b


def test_parse_sources():
    assert parse_sources("x/manifest.jsonl") == [DataSource("x/manifest.jsonl", None, "x")]
    assert parse_sources("a:0.7, b:0.3") == [DataSource("a", 0.7, "a"), DataSource("b", 0.3, "b")]
    assert parse_sources("C:/data/a")[0] == DataSource("C:/data/a", None, "a")  # not a weight
    assert [s.name for s in parse_sources("runs/corpus/manifest.jsonl,sounds/")] == [
        "corpus", "sounds"]
    # names are told apart by their parent folders when the last ones agree
    assert [s.name for s in parse_sources("one/cache,two/cache")] == ["one/cache", "two/cache"]
    for bad, message in [("a:0.5,b", "every source or to none"), ("a:-1", "positive"),
                         ("a:nan", "positive"), ("", "no training data"),
                         ("x/a/manifest.jsonl,x/a/manifest.jsonl", "given twice")]:
        with pytest.raises(AudiogenError, match=message):
            parse_sources(bad)


def test_weighted_crops_follow_the_weights(two_folders):
    a, b = (RandomCrops(find_audio(d)[0], SR, 800, seed=1) for d in two_folders)
    crops = WeightedCrops([("low", a), ("high", b)], [0.2, 0.8], seed=1)
    sources = [crops.source_of(step, i) for step in range(100) for i in range(10)]
    assert abs(np.mean(sources) - 0.8) < 0.05
    crops.batch(0, range(200))
    shares = crops.take_shares()
    assert abs(shares["data/share/high"] - 0.8) < 0.08
    assert abs(shares["data/share/low"] + shares["data/share/high"] - 1) < 1e-9
    assert int(crops.counts.sum()) == 0  # reset by take_shares
    # the same (key, index) gives the same crop: resumable
    assert torch.equal(crops.batch(5, range(4)), crops.batch(5, range(4)))


def test_weights_default_to_hours(two_folders):
    a, b = (RandomCrops(find_audio(d)[0], SR, 800) for d in two_folders)
    crops = WeightedCrops([("low", a), ("high", b)])
    assert np.allclose(crops.weights, [0.5, 0.5])


def test_one_source_is_plain_random_crops(two_folders):
    files = find_audio(two_folders[1])[0]
    plain = RandomCrops(files, SR, 800, seed=2)
    weighted = WeightedCrops([("high", RandomCrops(files, SR, 800, seed=2))], [1.0], seed=2)
    assert torch.equal(plain.batch(7, range(6)), weighted.batch(7, range(6)))


def test_codec_trainer_reports_shares_per_source(two_folders, tmp_path):
    torch.set_num_threads(1)
    a, b = two_folders
    config = CodecTrainConfig(
        data=f"{a}:0.25,{b}:0.75", codec={"n_filters": 4, "ratios": [4, 2], "dimension": 8,
                                           "lstm_layers": 0, "n_q": 2, "bins": 16},
        loss_weights={"l1": 0.1, "mel": 2.0}, batch_size=4, segment_seconds=0.25,
        valid_clips=2, steps=4, checkpoint_every=4, validate_every=0, log_every=4, seed=0)
    trainer = CodecTrainer(config, tmp_path / "run")
    trainer.train(show_progress=False)
    record = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r.get("split")
              == "train"][-1]
    shares = {k: v for k, v in record.items() if k.startswith("data/share/")}
    assert set(shares) == {"data/share/low", "data/share/high"}
    assert abs(sum(shares.values()) - 1) < 1e-9


def fake_root(tmp_path):
    """A file-system root with two recording packages: one folder, one zip archive."""
    root = tmp_path / "root"
    sounds = root / "usr/share/games/hedgewars/Data/Sounds"
    (sounds / "voices/Default").mkdir(parents=True)
    (sounds / "Music").mkdir()
    tone(sounds / "voices/Default/Hello.wav", 1.0, 300.0, sr=44100)
    tone(sounds / "explosion.wav", 23.0, 120.0, sr=22050)  # cut into 10 + 10 + 3 s
    tone(sounds / "Music/theme.wav", 2.0, 440.0)  # music: left out
    tone(sounds / "click.wav", 0.1, 1000.0)  # too short: left out
    sf.write(str(sounds / "silence.wav"), np.zeros(SR, np.float32), SR)  # silent: left out
    (sounds / "broken.ogg").write_bytes(b"OggS not really")  # unreadable: left out
    archive = root / "usr/share/games/warzone2100/base.wz"
    archive.parent.mkdir(parents=True)
    speech = tone(tmp_path / "speech.wav", 2.0, 180.0)
    with zipfile.ZipFile(archive, "w") as z:
        z.write(speech, "audio/tutorial/intro.wav")
        z.write(speech, "audio/sfx/interfce/beep.wav")  # excluded by the package's rules
    return root


def test_build_recordings(tmp_path):
    root = fake_root(tmp_path)
    out = tmp_path / "recordings"
    logs = []
    summary = recordings.build_recordings(out, root=root, log=logs.append)
    assert "apt-get install" in logs[0] and "0ad-data" in logs[0]  # the missing ones named
    entries = read_manifest(out / "manifest.jsonl")
    by_source = {}
    for e in entries:
        by_source.setdefault(e.source, []).append(e)
    assert sorted(by_source) == ["hedgewars-data", "warzone2100-data"]
    hedgewars = sorted(round(e.duration, 2) for e in by_source["hedgewars-data"])
    assert hedgewars == [1.0, 3.0, 10.0, 10.0]
    assert {e.split for e in by_source["warzone2100-data"]} == {"test"}  # held out
    assert {e.split for e in by_source["hedgewars-data"]} <= {"train", "valid"}
    assert all(e.license and e.attribution for e in entries)
    for e in entries:
        info = sf.info(e.path)
        assert info.samplerate == SR and info.channels == 1
    assert summary["packages"]["warzone2100-data"]["held_out"]
    saved = json.loads((out / "recordings.json").read_text())
    assert saved["pieces"] == len(entries) == 5
    assert "warzone2100-data" in (out / "README.md").read_text()
    # a rebuild gives the same manifest
    first = (out / "manifest.jsonl").read_text()
    recordings.build_recordings(out, root=root, log=lambda _: None)
    assert (out / "manifest.jsonl").read_text() == first


def test_build_recordings_refuses_an_empty_root(tmp_path):
    with pytest.raises(AudiogenError, match="apt-get install"):
        recordings.build_recordings(tmp_path / "out", root=tmp_path, log=lambda _: None)
    (tmp_path / "usr/share/games/hedgewars/Data/Sounds").mkdir(parents=True)
    with pytest.raises(AudiogenError, match="not installed"):
        recordings.build_recordings(tmp_path / "out", root=tmp_path, strict=True)


def test_build_recordings_leaves_out_every_file_the_corpus_claims(tmp_path):
    """No clip in two roles: what a corpus rule takes (any corpus source) is not codec data."""
    root = fake_root(tmp_path)
    voices = root / "usr/share/games/hedgewars/Data/Sounds/voices/Default"
    tone(voices / "Laugh.ogg", 1.0, 250.0)  # everyday corpus: laughter
    archive = root / "usr/share/games/0ad/mods/public/public.zip"
    archive.parent.mkdir(parents=True)
    step = tone(tmp_path / "step.wav", 1.0, 600.0)
    with zipfile.ZipFile(archive, "w") as z:
        z.write(step, "audio/actor/singlesteps/fs_grass1.ogg")  # everyday corpus: footsteps
        z.write(step, "audio/resource/gathering/gather_fruit_01.ogg")  # vague: codec only
    claimed = recordings.corpus_files(root)
    assert "usr/share/games/hedgewars/Data/Sounds/voices/Default/Laugh.ogg" in claimed
    out = tmp_path / "recordings"
    recordings.build_recordings(out, root=root, log=lambda _: None)
    groups = {e.group for e in read_manifest(out / "manifest.jsonl")}
    assert "0ad-data:public.zip/audio/resource/gathering/gather_fruit_01.ogg" in groups
    assert "hedgewars-data:Sounds/voices/Default/Hello.wav" in groups
    assert not any("Laugh" in g or "fs_grass" in g for g in groups)


def test_held_out_packages_never_join_the_corpus():
    held_out = {p.name for p in recordings.PACKAGES if p.held_out}
    assert held_out == {"warzone2100-data", "flightgear-data-base"}
    corpus = {p.name for p in game_sfx.PACKAGES + everyday.PACKAGES}
    assert not held_out & corpus
