"""Real recorded sound effects from freely licensed Debian packages.

Each `SoundPackage` names where a package puts its sounds (a folder or a zip archive, listed
by package_files.py) and which of them to use: an ordered table of (glob, sound kind) rules,
first match wins, files matching none are left out (interface blips, music, sounds whose
content the name does not make clear). Sound kinds index `captions.SOUNDS`, which gives the
label and captions. These tables feed source `game`; everyday.py's, built the same way, feed
source `everyday`. Licences and attributions come from each package's
/usr/share/doc/PKG/copyright; where a package documents single files (widelands' sound CSV,
OpenSFX's catalogue, sound-theme-freedesktop's copyright) the clip records that file's own
author and licence.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from audiogen.data.open_corpus.captions import ALL_CLASSES, SOUNDS
from audiogen.data.open_corpus.clips import (
    Clip,
    decode_sound,
    pick_captions,
    rng_for,
    segment,
)
from audiogen.data.open_corpus.package_files import is_present, package_files


@dataclass(frozen=True)
class SoundPackage:
    name: str  # Debian package
    base: str  # folder or zip archive of its sounds, relative to the file-system root
    license: str  # from /usr/share/doc/PKG/copyright
    attribution: str
    rules: tuple[tuple[str, str], ...]  # (glob relative to base, sound kind); first match wins
    per_file: dict[str, tuple[str, str]] = field(default_factory=dict)  # file -> (licence, author)


WESNOTH = SoundPackage(
    "wesnoth-1.16-data", "usr/share/games/wesnoth/1.16/data/core/sounds", "GPL-2+",
    "The Battle for Wesnoth project (David White et al.)",
    (
        ("ambient/birds*.ogg", "dawn_chorus"), ("ambient/morning.ogg", "dawn_chorus"),
        ("ambient/campfire.ogg", "campfire"), ("ambient/wardrums.ogg", "war_drums"),
        ("horn-signals/*.ogg", "horn_signal"),
        ("wolf-growl-*", "wolf_growl"), ("wolf-die-*", "wolf_yelp"), ("wolf-hit-*", "wolf_yelp"),
        ("horse-canter.wav", "horse_gallop"), ("horse-elf-canter.wav", "horse_gallop"),
        ("horse-die.ogg", "horse_neigh"), ("horse-hit-*", "horse_neigh"),
        ("bow-puny-fire*", ""), ("crossbow-fire*", ""),  # flaming arrows: not plain archery
        ("bow.ogg", "bow"), ("bow-miss.ogg", "bow"), ("bow-puny.ogg", "bow"),
        ("bow-puny-miss.ogg", "bow"), ("crossbow.ogg", "crossbow"),
        ("crossbow-miss.ogg", "crossbow"),
        ("club-miss.ogg", "swish"), ("flail-miss.ogg", "swish"), ("hatchet-miss.wav", "swish"),
        ("mace-miss.ogg", "swish"), ("spear-miss.ogg", "swish"), ("staff-miss.ogg", "swish"),
        ("throwing-knife-miss.ogg", "swish"), ("miss-[123].ogg", "swish"),
        ("dagger-swish.wav", "swish"),
        ("sword-1.ogg", "sword"), ("axe.ogg", "axe_hit"), ("hatchet.wav", "axe_hit"),
        ("knife.ogg", "knife"), ("throwing-knife.ogg", "knife"), ("spear.*", "spear"),
        ("mace.*", "mace"), ("flail.ogg", "mace"),
        ("gunshot.wav", "gunshot"), ("thunderstick.ogg", "musket"),
        ("thunderstick-miss.ogg", "musket"),
        ("explosion.ogg", "explosion"), ("cave-in.ogg", "rumble"), ("rumble.ogg", "rumble"),
        ("fire.wav", "fire"), ("flame-big.ogg", "fire"), ("melee-fire.ogg", "fire"),
        ("torch.ogg", "torch"), ("torch-miss.ogg", "torch"), ("water-blast.wav", "splash"),
        ("human-female-*", "woman_hurt"), ("human-old-*", "old_man"),
        ("human-hit-*", "man_hurt"), ("human-die-*", "man_dies"), ("dwarf-hit-*", "man_hurt"),
        ("dwarf-die-*", "man_dies"), ("elf-hit-*", "man_hurt"),
        ("orc-*", "orc"), ("troll-*", "troll"), ("ogre-*", "ogre"), ("goblin-*", "goblin"),
        ("yeti-*", "beast"), ("drake-*", "beast"),
    ),
)

WIDELANDS = SoundPackage(
    "widelands-data", "usr/share/games/widelands/data/sound", "GPL-2+",
    "The Widelands Development Team",
    (
        ("animals/bird*.ogg", "songbird"), ("animals/coyote*.ogg", "coyote"),
        ("animals/crickets*.ogg", "crickets"), ("animals/wolf*.ogg", "wolf_howl"),
        ("farm/donkey.ogg", "donkey"), ("farm/horse*.ogg", "horse_neigh"),
        ("farm/ox*.ogg", "cow"), ("farm/sheep*.ogg", "sheep"),
        ("hammering/*.ogg", "hammer"), ("smiths/smith*.ogg", "smith"),
        ("smiths/toolsmith*.ogg", "smith"), ("atlanteans/cutting/*.ogg", "pickaxe"),
        ("stonecutting/*.ogg", "pickaxe"), ("atlanteans/saw/benchsaw*.ogg", "power_saw"),
        ("atlanteans/saw/sawing*.ogg", "hand_saw"), ("sawmill/*.ogg", "power_saw"),
        ("woodcutting/tree_falling*.ogg", "tree_fall"), ("woodcutting/*.ogg", "chop"),
        ("empire/*bubble*.ogg", "bubbles"), ("barbarians/blackwood.ogg", "creek"),
        ("metal/furnace.ogg", "furnace"), ("metal/fizzle.ogg", "fire"),
        ("mill/mill_turning*.ogg", "mill"), ("barbarians/stonegrind.ogg", "mill"),
        ("mill/weaving.ogg", "loom"), ("barbarians/weaver.ogg", "loom"),
    ),
)

LINCITY = SoundPackage(
    "lincity-ng-data", "usr/share/games/lincity-ng/sounds", "GPL-2+",
    "I J Peters, Greg Sharp and the LinCity-NG developers",
    (
        ("Blacksmith*.wav", "smith"), ("CoalMine*.wav", "mine"), ("OreMine*.wav", "mine"),
        ("IndustryHigh*.wav", "industry"), ("IndustryLight*.wav", "industry"),
        ("PowerCoal*.wav", "industry"), ("Fire[0-9].wav", "fire"),
        ("FireWasteland*.wav", "fire"), ("RailTrain*.wav", "train_pass"),
        ("Trafic*.wav", "road_traffic"), ("SportsCroud*.wav", "sports_crowd"),
        ("RocketExplosion*.wav", "rocket_blast"), ("Rocket*.wav", "rocket"),
        ("Mill[0-9].wav", "mill"),
    ),
)

TUXPAINT = SoundPackage(
    "tuxpaint-stamps-default", "usr/share/tuxpaint/stamps", "GPL-2",
    "Bill Kendrick and the Tux Paint contributors",
    (
        ("animals/birds/blackbird.ogg", "songbird"), ("animals/birds/lark.ogg", "songbird"),
        ("animals/birds/crow.ogg", "crow"), ("animals/birds/cuckoo.ogg", "cuckoo"),
        ("animals/birds/owl.ogg", "owl"), ("animals/birds/seagull.ogg", "seagull"),
        ("animals/birds/rooster.ogg", "rooster"), ("animals/birds/hen.ogg", "hen"),
        ("animals/birds/duck.ogg", "duck"), ("animals/birds/drake.ogg", "duck"),
        ("animals/birds/gander.ogg", "goose"), ("animals/birds/turkey.ogg", "turkey"),
        ("animals/birds/tucan.ogg", "tropical_bird"),
        ("animals/birds/quetzal.ogg", "tropical_bird"),
        ("animals/mammals/equines/horse.ogg", "horse_neigh"),
        ("animals/mammals/equines/zebra.ogg", "horse_neigh"),
        ("animals/mammals/equines/donkey.ogg", "donkey"),
        ("animals/mammals/bovines/cow*.ogg", "cow"), ("animals/mammals/bovines/bull.ogg", "bull"),
        ("animals/mammals/bovines/bison.ogg", "bull"),
        ("animals/mammals/bovines/sheep*.ogg", "sheep"),
        ("animals/mammals/bovines/ram.ogg", "sheep"),
        ("animals/mammals/bovines/*goat.ogg", "goat"),
        ("animals/mammals/cats/lion.ogg", "beast"), ("animals/mammals/cats/tiger.ogg", "beast"),
        ("animals/mammals/bears/bear.ogg", "beast"),
        ("animals/insects/bee.ogg", "bee"), ("animals/insects/hornet.ogg", "bee"),
        ("animals/insects/mosquito.ogg", "mosquito"),
        ("animals/insects/grasshopper.ogg", "crickets"),
        ("household/tools/hammer.ogg", "hammer"), ("household/tools/mallet_metal.ogg", "hammer"),
        ("household/tools/saw.ogg", "hand_saw"), ("household/toilet.ogg", "toilet"),
        ("household/Washing-machine.ogg", "appliance"),
        ("household/vacuum_cleaner.ogg", "appliance"),
        ("vehicles/emergency/firetruck.ogg", "fire_truck"),
        ("naturalforces/lightningbolt.ogg", "thunder"),
        ("hobbies/music/percussion/drum*.ogg", "drum_real"),
        ("hobbies/music/string/*.ogg", "bowed_real"),
    ),
)

FREEDESKTOP = SoundPackage(
    "sound-theme-freedesktop", "usr/share/sounds/freedesktop/stereo", "GPL-2+",
    "Damien Sandras",
    (
        ("phone-incoming-call.oga", "phone_ring"), ("phone-outgoing-calling.oga", "phone_ring"),
        ("alarm-clock-elapsed.oga", "alarm_clock"),
    ),
    per_file={"alarm-clock-elapsed.oga": ("CC-BY-SA-3.0", "Tim/corsica_s")},
)

SCRATCH = SoundPackage(
    "scratch", "usr/share/scratch/Media/Sounds", "CC-BY-SA-3.0",
    "Massachusetts Institute of Technology (Scratch 1.4 media library)",
    (
        ("Animal/Bird.wav", "songbird"), ("Animal/Owl.wav", "owl"),
        ("Animal/Rooster.wav", "rooster"), ("Animal/Duck.wav", "duck"),
        ("Animal/Goose.wav", "goose"), ("Animal/Horse.wav", "horse_neigh"),
        ("Animal/HorseGallop.wav", "horse_gallop"), ("Animal/WolfHowl.wav", "wolf_howl"),
        ("Animal/Cricket*.wav", "crickets"),
        ("Effects/CarPassing.wav", "car_pass"), ("Effects/MotorcyclePassing.wav", "motorcycle"),
        ("Effects/Bubbles.wav", "bubbles"), ("Effects/WaterRunning.mp3", "running_water"),
        ("Effects/Ripples.wav", "splash"), ("Effects/Plunge.wav", "splash"),
        ("Effects/SewingMachine.mp3", "appliance"),
        ("Electronic/ComputerBeeps*.wav", "computer_beeps"),
        ("Human/Scream-female.wav", "woman_hurt"), ("Human/Scream-male*", "man_scream"),
        ("Human/PartyNoise.wav", "party"),
        ("Instruments/Trumpet*.wav", "trumpet_real"),
        ("Instruments/GuitarStrum.wav", "guitar_real"),
        ("Music Loops/GuitarChords*.mp3", "guitar_real"),
        ("Music Loops/Drum.mp3", "drum_real"), ("Music Loops/DrumSet*.mp3", "drum_real"),
    ),
)

PACKAGES = (WESNOTH, WIDELANDS, LINCITY, TUXPAINT, FREEDESKTOP, SCRATCH)

OPENSFX = "openttd-opensfx"
OPENSFX_CATALOGUE = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
# catalogue index -> sound kind (the catalogue names each sound, its author and licence)
OPENSFX_KINDS = {
    4: "steam_train", 5: "steam_train", 13: "steam_train", 10: "train_horn", 65: "train_pass",
    71: "train_pass", 14: "level_crossing", 8: "propeller_plane", 69: "propeller_plane",
    9: "jet", 59: "jet", 61: "jet", 11: "mine", 12: "sparks", 17: "crash", 19: "crash",
    18: "explosion", 21: "beep", 22: "beep", 24: "helicopter", 25: "bus", 26: "bus", 27: "bus",
    28: "bus", 35: "car_horn", 29: "applause", 30: "crowd_ooh", 33: "jackhammer", 36: "sheep",
    37: "cow", 38: "horse_neigh", 39: "smith", 40: "power_saw", 46: "bubbles", 47: "bubbles",
    51: "bubbles", 52: "wind", 57: "strong_wind", 54: "tree_fall", 55: "chop", 56: "chainsaw",
    66: "tropical_bird", 72: "tropical_bird", 67: "beast",
}

# licence statements in the catalogue -> SPDX identifiers
OPENSFX_LICENSES = {
    "Creative Commons Zero 1.0": "CC0-1.0",
    "Creative Commons Attribution 3.0 Unported": "CC-BY-3.0",
    "Creative Commons Attribution 3.0": "CC-BY-3.0",
    "Creative Commons Attribution-ShareAlike 3.0 Unported": "CC-BY-SA-3.0",
}

ALL_PACKAGES = tuple(p.name for p in PACKAGES) + (OPENSFX,)


@dataclass
class _Item:
    """One source recording before decoding."""

    package: str
    key: str  # stable id within the package (relative path or catalogue index)
    kind: str
    license: str
    attribution: str
    group: str
    data: bytes


def missing_packages(root: Path, packages: tuple[SoundPackage, ...] = PACKAGES,
                     opensfx: bool = True) -> list[str]:
    """Debian packages among `packages` (and OpenSFX) whose sounds are not under `root`."""
    missing = [p.name for p in packages if not is_present(root, p.base)]
    if opensfx and not (root / OPENSFX_CATALOGUE).is_file():
        missing.append(OPENSFX)
    return list(dict.fromkeys(missing))  # a package may have two tables (game and everyday)


def _matches(pkg: SoundPackage, root: Path) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(path inside the package's base, sound kind, reader) of each file a rule takes."""
    for rel, read in package_files(root, pkg.base):
        if "_desc" in rel.rsplit("/", 1)[-1]:
            continue  # Tux Paint's spoken stamp descriptions sit beside the sounds
        kind = next((k for pattern, k in pkg.rules if fnmatch.fnmatchcase(rel, pattern)), "")
        if kind:
            yield rel, kind, read


def claimed_files(root: Path, packages: tuple[SoundPackage, ...]) -> frozenset[str]:
    """Paths relative to `root` (through a zip archive: ARCHIVE/PATH) of every file a rule of
    `packages` takes into the corpus, so that another data set can leave them out."""
    return frozenset(f"{pkg.base}/{rel}" for pkg in packages for rel, _, _ in _matches(pkg, root))


def _package_items(pkg: SoundPackage, root: Path) -> Iterator[_Item]:
    credits = _widelands_credits(root / pkg.base) if pkg is WIDELANDS else {}
    for rel, kind, read in _matches(pkg, root):
        license, attribution = pkg.per_file.get(rel, (pkg.license, pkg.attribution))
        group = f"{pkg.name}:{rel}"
        credit = credits.get(rel.rsplit("/", 1)[-1])
        if credit is not None:
            author, credit_license, original = credit
            if credit_license.lower() == "personal":
                continue  # upstream notes personal-use-only terms: leave it out
            if author and author.upper() != "UNKNOWN":
                attribution = f"{pkg.attribution}; recording by {author}"
                if credit_license:
                    attribution += f" ({credit_license})"
            if original:
                group = f"{pkg.name}:{original}"  # cut from one recording: keep together
        yield _Item(pkg.name, rel, kind, license, attribution, group, read())


def _widelands_credits(base: Path) -> dict[str, tuple[str, str, str]]:
    """file name -> (author, licence, original recording) from widelands' sound CSV."""
    table = base / "wl-sound-docu.csv"
    if not table.is_file():
        return {}
    credits = {}
    for row in csv.reader(io.StringIO(table.read_text(errors="replace"))):
        if len(row) >= 8 and row[0].endswith(".ogg"):
            credits[row[0]] = (row[4].strip(), row[5].strip(), row[7].strip())
    return credits


def _opensfx_items(root: Path) -> Iterator[_Item]:
    """Sounds in OpenSFX's catalogue: a table of (offset, size) pairs, then entries made of a
    length-prefixed description ("Name". By Author. License: ...) and a RIFF wav file."""
    path = root / OPENSFX_CATALOGUE
    if not path.is_file():
        return
    data = path.read_bytes()
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8  # top bit: a flag
    for index in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * index)
        kind = OPENSFX_KINDS.get(index)
        if kind is None:
            continue
        offset &= 0x7FFFFFFF
        name_len = data[offset]
        text = data[offset + 1: offset + 1 + name_len].rstrip(b"\0").decode("utf-8", "replace")
        wav = data[offset + 1 + name_len: offset + size]
        license = "CC-BY-SA-3.0"  # the collection's licence (debian/copyright)
        match = re.search(r"License: (.+?)\.(?:\s|$)", text)
        if match:
            stated = match.group(1).strip()
            license = f"{OPENSFX_LICENSES.get(stated, stated)} (collection: CC-BY-SA-3.0)"
        original = re.search(r'Original "([^"]+)"', text)
        group = f"{OPENSFX}:{original.group(1) if original else index}"
        yield _Item(OPENSFX, f"{index:02d}", kind, license, f"OpenSFX: {text}", group, wav)


def collect(root: Path, seed: int, packages: tuple[SoundPackage, ...] = PACKAGES,
            opensfx: bool = True) -> list[Clip]:
    """All clips from `packages` (and OpenSFX) installed under `root` (normally "/"); a file
    whose bytes an earlier one has is left out."""
    items = [it for pkg in packages for it in _package_items(pkg, root)]
    if opensfx:
        items += list(_opensfx_items(root))
    seen: set[str] = set()
    stems: set[str] = set()
    clips = []
    for item in items:
        digest = hashlib.sha1(item.data).hexdigest()
        if digest in seen:  # packages ship a few exact duplicates under other names
            continue
        seen.add(digest)
        wav = decode_sound(item.data)
        if wav is None:
            continue
        label, specific = SOUNDS[item.kind]
        stem = re.sub(r"[^a-z0-9]+", "_", f"{item.package}_{item.key}".lower().rsplit(".", 1)[0])
        if stem in stems:  # mace.ogg beside mace.wav: keep the extension in the name
            stem = re.sub(r"[^a-z0-9]+", "_", f"{item.package}_{item.key}".lower())
        stems.add(stem)
        for i, piece in enumerate(segment(wav)):
            rng = rng_for(seed, "captions", item.package, item.key, str(i))
            clips.append(Clip(
                wav=piece, label=label, captions=pick_captions(rng, specific, ALL_CLASSES[label]),
                source=item.package, license=item.license, attribution=item.attribution,
                group=item.group, name=f"{stem}_{i}", extra={"sound": item.kind,
                                                            "source_file": item.key}))
    return clips
