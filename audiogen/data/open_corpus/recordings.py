"""Every real recording in free Debian packages: audio for training and testing a codec.

A codec needs no captions, only a broad variety of real sound: voices, vehicles, animals,
weather, impacts, machines. This module gathers the recordings of game and education packages,
cuts long recordings into pieces of at most `PIECE_SECONDS`, and writes them as 16 kHz mono
FLAC with a manifest recording each piece's package, licence and attribution.

No clip has two roles: every file that a rule of the captioned corpus takes, under any corpus
source (`game` or `everyday`, whichever a corpus is built from), is left out here, so a codec
trained on this set plus a corpus's train split never hears that corpus's test split. Leaving
out what every source claims, rather than only the sources of one build, keeps the in-domain
test set clean for the default corpus and the larger everyday one alike; the claimed audio
still reaches the codec through the corpus's train split.

Two packages are held out of all training and form the out-of-domain test set (split "test"):
warzone2100-data (recorded English speech: tutorial narration, mission and unit messages) and
flightgear-data-base (aircraft, vehicles, weather and airport ambience). Every other package's
pieces are split "train", with about 3% of its source files "valid" (whole files, so pieces of
one recording never straddle two splits).

Music (every path with "music" in it, and the per-track loops of supertuxkart) is left out.
"""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from audiogen.audio.io import save_audio
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.data.open_corpus import everyday, game_sfx, package_files
from audiogen.data.open_corpus.clips import SAMPLE_RATE, decode_sound, rng_for
from audiogen.data.open_corpus.everyday import CREDITS
from audiogen.errors import AudiogenError

SOUND_SUFFIXES = (".ogg", ".wav", ".flac", ".mp3")
PIECE_SECONDS = 10.0  # longer recordings are cut into pieces this long
MIN_SECONDS = 0.25  # shorter files (clicks, blips) and tail pieces are left out
MAX_PIECES = 18  # per file, so one 20-minute loop cannot dominate a package (3 min kept)
SILENT_PEAK = 1e-3  # pieces whose peak stays below this are left out
VALID_SHARE = 0.03  # share of a training package's source files held out for validation
FORMAT = {"format": "audiogen-recordings", "version": 1}


@dataclass(frozen=True)
class RecordingPackage:
    name: str  # Debian package
    roots: tuple[str, ...]  # folders, or .zip/.wz archives, relative to the file-system root
    license: str  # from /usr/share/doc/PKG/copyright (everyday.CREDITS where the corpus uses it)
    attribution: str
    content: str  # what its recordings are (besides the corpus's), for the report
    held_out: bool = False  # out-of-domain test set: never trained on
    exclude: tuple[str, ...] = ()  # globs (on the path inside its root) left out besides music


PACKAGES: tuple[RecordingPackage, ...] = (
    RecordingPackage(
        "0ad-data", ("usr/share/games/0ad/mods/public/public.zip",), *CREDITS["0ad-data"],
        "weapons and impacts, mining, gathering and building work, daytime ambience",
        exclude=("audio/interface/*",)),
    RecordingPackage(
        "hedgewars-data", ("usr/share/games/hedgewars/Data/Sounds",), *CREDITS["hedgewars-data"],
        "voice packs (many speakers and accents), explosions, impacts"),
    RecordingPackage(
        "freedroidrpg-data", ("usr/share/freedroidrpg/data/sound",),
        *CREDITS["freedroidrpg-data"], "robot voices, weapons, items, doors"),
    RecordingPackage(
        "supertuxkart-data", ("usr/share/games/supertuxkart/data/sfx",),
        *CREDITS["supertuxkart-data"], "crashes, impacts, machines, announcements, effects"),
    RecordingPackage(
        "megaglest-data", ("usr/share/games/megaglest/techs",
                           "usr/share/games/megaglest/tilesets"), *CREDITS["megaglest-data"],
        "unit voices, animals, forest and weather ambience, weapons, construction"),
    RecordingPackage(
        "warmux-data", ("usr/share/games/warmux/sound",), *CREDITS["warmux-data"],
        "character voices, explosions, weapons"),
    RecordingPackage(
        "supertux-data", ("usr/share/games/supertux2/sounds",
                          "usr/share/games/supertux2/speech"), *CREDITS["supertux-data"],
        "impacts, animals, fire, ice, speech"),
    RecordingPackage(
        "extremetuxracer-data", ("usr/share/games/etr/sounds",),
        *CREDITS["extremetuxracer-data"], "impacts"),
    RecordingPackage(
        "frozen-bubble-data", ("usr/share/games/frozen-bubble/snd",),
        *CREDITS["frozen-bubble-data"], "snoring, impacts, game effects",
        exclude=("*zik*",)),  # its music loops ("introzik", "frozen-mainzik")
    RecordingPackage(
        "tuxpaint-data", ("usr/share/tuxpaint/sounds",), *CREDITS["tuxpaint-data"],
        "tool sounds: brushes, scissors, stamps"),
    RecordingPackage(
        "klettres-data", ("usr/share/klettres",), "GPL-2+", "The KDE KLettres team",
        "letters and syllables spoken in 19 languages"),
    RecordingPackage(
        "ktuberling-data", ("usr/share/ktuberling/sounds",), "GPL-2+",
        "The KDE KTuberling team", "words spoken in 25 languages"),
    RecordingPackage(
        "openarena-data", ("usr/share/games/openarena/baseoa/pak0.pk3",
                           "usr/share/games/openarena/missionpack/mp-pak0.pk3"), "GPL-2+",
        "The OpenArena team; id Software",
        "announcer and player voices, footsteps, weapons, doors, ambience"),
    RecordingPackage(
        "torcs-data", ("usr/share/games/torcs/data/sound",), "GPL-2+", "The TORCS project",
        "car engines, gear changes, skids, crashes"),
    RecordingPackage(
        "minetest-data", ("usr/share/games/minetest/games/minetest_game/mods",),
        "CC-BY-SA-3.0 and CC-BY-3.0", "The Minetest Game contributors",
        "footsteps on many grounds, digging, doors, fire, water, lava, glass"),
    RecordingPackage(
        "warzone2100-data", ("usr/share/games/warzone2100/base.wz",), "GPL-2+",
        "Eidos Interactive; the Warzone 2100 project",
        "recorded English speech (narration, messages), vehicles, weapons", held_out=True,
        exclude=("audio/sfx/interfce/*",)),
    RecordingPackage(
        "flightgear-data-base", ("usr/share/games/flightgear/Sounds",
                                 "usr/share/games/flightgear/Aircraft"), "GPL-2+",
        "The FlightGear project", "aircraft engines, vehicles, weather, airport ambience",
        held_out=True),
)

MUSIC = ("*music*", "*/tracks/*")  # globs on lower-cased paths, for every package


def is_present(package: RecordingPackage, root: Path) -> bool:
    return any(package_files.is_present(root, r) for r in package.roots)


def missing_packages(root: Path) -> list[str]:
    return [p.name for p in PACKAGES if not is_present(p, root)]


def install_hint(missing: list[str]) -> str:
    return ("Recordings come from these Debian packages, which are not installed: "
            f"{', '.join(missing)}.\nInstall them with:\n  apt-get install -y "
            f"--no-install-recommends {' '.join(missing)}")


def _wanted(package: RecordingPackage, inner: str) -> bool:
    low = inner.lower()
    if not low.endswith(SOUND_SUFFIXES):
        return False
    return not any(fnmatch.fnmatch(low, g) for g in MUSIC + package.exclude)


def sound_files(package: RecordingPackage, root: Path, claimed: frozenset[str] = frozenset()
                ) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name inside the package, reader of its bytes) for each wanted sound, in sorted order;
    files in `claimed` (paths relative to `root`, as game_sfx.claimed_files gives them) are
    left out."""
    for r in package.roots:
        for inner, read in package_files.package_files(root, r):
            if _wanted(package, inner) and f"{r}/{inner}" not in claimed:
                yield f"{Path(r).name}/{inner}", read


def corpus_files(root: Path) -> frozenset[str]:
    """Every file a rule of any captioned-corpus source takes (see the module docstring)."""
    return game_sfx.claimed_files(root, game_sfx.PACKAGES + everyday.PACKAGES)


def pieces(wav: torch.Tensor) -> list[torch.Tensor]:
    """Cut `[1, T]` into pieces of at most PIECE_SECONDS (at most MAX_PIECES), dropping pieces
    that are too short or silent."""
    size = round(PIECE_SECONDS * SAMPLE_RATE)
    out = []
    for start in range(0, wav.shape[-1], size):
        piece = wav[:, start:start + size]
        if piece.shape[-1] < MIN_SECONDS * SAMPLE_RATE or piece.abs().max() < SILENT_PEAK:
            continue
        out.append(piece.clamp(-1, 1))
        if len(out) == MAX_PIECES:
            break
    return out


def _split(package: RecordingPackage, inner: str, seed: int) -> str:
    if package.held_out:
        return "test"
    return "valid" if rng_for(seed, package.name, inner).random() < VALID_SHARE else "train"


def build_recordings(out: str | Path, root: str | Path = "/", seed: int = 0,
                     strict: bool = False, log: Callable[[str], None] = print) -> dict:
    """Write every present package's recordings under `out`; return the summary.

    Layout: `audio/PACKAGE/...flac`, `manifest.jsonl` (path, duration, split, group = source
    file, source = package, license, attribution), `recordings.json` (hours per package and
    split) and `README.md`. A rebuild writes identical files.
    """
    root, out = Path(root), Path(out)
    missing = missing_packages(root)
    if missing and strict:
        raise AudiogenError(install_hint(missing))
    if missing:
        log(install_hint(missing) + "\nBuilding from the packages that are present.")
    present = [p for p in PACKAGES if p.name not in missing]
    if not present:
        raise AudiogenError("none of the recording packages is installed.\n"
                            + install_hint(missing))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many short clips: a second thread only adds hand-off cost
    claimed = corpus_files(root)
    try:
        entries = []
        for package in present:
            before = len(entries)
            entries += _write_package(out, package, root, seed, claimed)
            log(f"{package.name}: {len(entries) - before} pieces")
    finally:
        torch.set_num_threads(threads)
    write_manifest(out / "manifest.jsonl", entries)
    summary = summarize(entries, missing)
    (out / "recordings.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "README.md").write_text(readme(summary))
    return summary


def _write_package(out: Path, package: RecordingPackage, root: Path, seed: int,
                   claimed: frozenset[str]) -> list[ManifestEntry]:
    entries = []
    for inner, read in sound_files(package, root, claimed):
        wav = decode_sound(read())
        if wav is None:
            continue
        split = _split(package, inner, seed)
        stem = inner.rsplit(".", 1)[0].replace("/", "__").replace(" ", "_")
        for i, piece in enumerate(pieces(wav)):
            rel = Path("audio") / package.name / f"{stem}__{i:02d}.flac"
            path = out / rel
            if not path.is_file():  # a rebuild (or a resumed one) skips what is written
                path.parent.mkdir(parents=True, exist_ok=True)
                save_audio(path, piece, SAMPLE_RATE)
            entries.append(ManifestEntry(
                path=str(rel), duration=piece.shape[-1] / SAMPLE_RATE, sample_rate=SAMPLE_RATE,
                channels=1, split=split, group=f"{package.name}:{inner}", source=package.name,
                license=package.license, attribution=package.attribution))
    return entries


def summarize(entries: list[ManifestEntry], missing: list[str]) -> dict:
    hours: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    files: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        hours[e.source][e.split] += e.duration / 3600
        files[e.source].add(e.group)
    by_name = {p.name: p for p in PACKAGES}
    packages = {
        name: {"hours": {k: round(v, 4) for k, v in sorted(h.items())},
               "source_files": len(files[name]), "held_out": by_name[name].held_out,
               "license": by_name[name].license, "attribution": by_name[name].attribution,
               "content": by_name[name].content}
        for name, h in hours.items()}
    total = defaultdict(float)
    for h in hours.values():
        for split, v in h.items():
            total[split] += v
    return {**FORMAT, "pieces": len(entries),
            "hours": {k: round(v, 4) for k, v in sorted(total.items())},
            "packages": packages, "missing_packages": missing}


def readme(summary: dict) -> str:
    lines = [
        "# Real recordings from free Debian packages",
        "",
        ("Built by `audiogen data build-recordings`. 16 kHz mono FLAC pieces of at most "
         f"{PIECE_SECONDS:g} s; split `test` is the out-of-domain test set (packages held out "
         "of all training). Licence and attribution of every piece are in `manifest.jsonl`."),
        "",
        "| package | held out | source files | hours (train / valid / test) | licence | content |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in summary["packages"].items():
        h = p["hours"]
        lines.append(f"| {name} | {'yes' if p['held_out'] else ''} | {p['source_files']} | "
                     f"{h.get('train', 0):.2f} / {h.get('valid', 0):.2f} / "
                     f"{h.get('test', 0):.2f} | {p['license']} | {p['content']} |")
    h = summary["hours"]
    lines += ["", (f"In all: {summary['pieces']} pieces, {h.get('train', 0):.2f} h train, "
                   f"{h.get('valid', 0):.2f} h valid, {h.get('test', 0):.2f} h test.")]
    if summary["missing_packages"]:
        lines += ["", "Built without: " + ", ".join(summary["missing_packages"]) + "."]
    return "\n".join(lines) + "\n"

