"""Build the open corpus: collect clips from every source present, balance, split, write.

    DIR/clips/LABEL/NAME.flac   16 kHz mono clips
    DIR/manifest.jsonl          one row per clip (audiogen.data.manifest), relative paths
    DIR/corpus.json             summary: clips, hours, classes, captions, licences, sources
    DIR/README.md               the same summary for people, with the attribution notice

The build is deterministic given the seed (every random choice comes from `rng_for`) and
idempotent: a rebuild rewrites the same files and removes clips a previous build left.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import torch

from audiogen.audio.io import resample, save_audio
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.data.open_corpus import everyday, game_sfx, midi, procedural, speech
from audiogen.data.open_corpus.captions import ALL_CLASSES
from audiogen.data.open_corpus.clips import MAX_SECONDS, SAMPLE_RATE, Clip, rng_for
from audiogen.errors import AudiogenError
from audiogen.fileio import atomic_path, write_json

SOURCES = ("game", "midi", "speech", "procedural", "everyday")
# The default corpus, the one the shipped model was trained on (62 classes). Without
# `everyday` (everyday.py: real everyday recordings) the earlier models' 40-class corpus.
DEFAULT_SOURCES = SOURCES
SPLIT_FRACTIONS = {"test": 0.1, "valid": 0.1}  # the rest is train
AUDIO_SUFFIX = ".flac"
MAX_VARIANTS = 3  # speed-changed copies of one training clip, at most
FORMAT = {"format": "audiogen-open-corpus", "version": 1}


def missing_packages(root: Path, sources: Iterable[str] = DEFAULT_SOURCES
                     ) -> dict[str, list[str]]:
    """source -> Debian packages it needs that are not installed under `root`."""
    sources = set(sources)
    missing = {}
    if "game" in sources:
        missing["game"] = game_sfx.missing_packages(root)
    if "midi" in sources:
        missing["midi"] = midi.fluidsynth_missing(root)
    if "speech" in sources:
        missing["speech"] = speech.espeak_missing()
    if "everyday" in sources:
        missing["everyday"] = game_sfx.missing_packages(root, everyday.PACKAGES, opensfx=False)
    return {k: v for k, v in missing.items() if v}


def install_hint(missing: dict[str, list[str]]) -> str:
    """What to run to get every missing source, as one apt-get line."""
    packages = sorted({p for ps in missing.values() for p in ps})
    lines = ["These corpus sources are missing:"]
    lines += [f"  - {source}: {', '.join(ps)}" for source, ps in missing.items()]
    lines.append(f"Install them with:\n  apt-get install -y --no-install-recommends "
                 f"{' '.join(packages)}")
    return "\n".join(lines)


def collect(root: Path, seed: int, max_per_class: int, sources: Iterable[str],
            log: Callable[[str], None] = print) -> list[Clip]:
    """Clips from every present source; synthetic sources fill classes up to `max_per_class`
    after the real recordings of the same class."""
    sources = set(sources)
    missing = missing_packages(root, sources)
    clips: list[Clip] = []
    packages = (game_sfx.PACKAGES if "game" in sources else ()) + (
        everyday.PACKAGES if "everyday" in sources else ())
    if packages:
        start = time.perf_counter()
        clips += game_sfx.collect(root, seed, packages, opensfx="game" in sources)
        log(f"recorded sounds: {len(clips)} clips ({time.perf_counter() - start:.0f} s)")
    have = Counter(c.label for c in clips)

    def fill(name: str, labels: Iterable[str], render: Callable[[str, int], list[Clip]]):
        start, n = time.perf_counter(), len(clips)
        for label in labels:
            count = max(0, max_per_class - have[label])
            if count:
                clips.extend(render(label, count))
        log(f"{name}: {len(clips) - n} clips ({time.perf_counter() - start:.0f} s)")

    if "midi" in sources and "midi" not in missing:
        fill("fluidsynth renders", midi.LABELS,
             lambda label, n: midi.render_class(label, n, seed, root))
    if "speech" in sources and "speech" not in missing:
        fill("espeak-ng speech", speech.LABELS,
             lambda label, n: speech.render_class(label, n, seed))
    if "procedural" in sources:
        fill("procedural sounds", procedural.LABELS,
             lambda label, n: procedural.render_class(label, n, seed))
    return clips


def balance(clips: list[Clip], max_per_class: int, seed: int) -> list[Clip]:
    """At most `max_per_class` clips per label, taken round-robin over the label's groups
    (in a seeded order), so capping keeps as many different source files as possible."""
    by_label: dict[str, dict[str, list[Clip]]] = defaultdict(lambda: defaultdict(list))
    for clip in clips:
        by_label[clip.label][clip.group].append(clip)
    kept = []
    for label in sorted(by_label):
        groups = sorted(by_label[label].values(), key=lambda g: _unit(seed, "balance", g[0].group))
        chosen: list[Clip] = []
        depth = 0
        while len(chosen) < max_per_class and any(depth < len(g) for g in groups):
            chosen += [g[depth] for g in groups if depth < len(g)][: max_per_class - len(chosen)]
            depth += 1
        kept += chosen
    return kept


def add_variants(clips: list[Clip], splits: dict[str, str], min_per_class: int, seed: int
                 ) -> list[Clip]:
    """Speed-changed copies of training clips for classes with fewer than `min_per_class`
    clips (small real-recording classes), so classes are closer to balanced.

    Like playing a tape faster or slower, each copy shifts pitch and duration together, by
    6-16% either way. Copies keep their original's group, so they stay in train; valid and
    test clips are never copied. At most MAX_VARIANTS copies of any clip.
    """
    by_label: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_label[clip.label].append(clip)
    variants = []
    for label in sorted(by_label):
        train = sorted((c for c in by_label[label] if splits[c.group] == "train"),
                       key=lambda c: c.name)
        needed = min_per_class - len(by_label[label])
        for k in range(min(max(0, needed), MAX_VARIANTS * len(train))):
            base, copy = train[k % len(train)], k // len(train) + 1
            rng = rng_for(seed, "variant", label, base.name, str(copy))
            faster = rng.random() < 0.5
            speed = float(rng.uniform(1.06, 1.16) if faster else rng.uniform(0.84, 0.94))
            wav = resample(base.wav, SAMPLE_RATE, round(SAMPLE_RATE / speed))
            variants.append(replace(
                base, wav=wav[:, : int(MAX_SECONDS * SAMPLE_RATE)], name=f"{base.name}_v{copy}",
                extra={**base.extra, "variant_of": f"{label}/{base.name}",
                       "speed": round(speed, 3)}))
    return variants


def assign_splits(label_groups: dict[str, list[str]], seed: int) -> dict[str, str]:
    """group -> "train" | "valid" | "test", deterministic given the seed.

    Per label, groups are shuffled by a hash of (seed, group) and the first ~10% go to test,
    the next ~10% to valid. Every label with two or more groups gets a test group; valid
    needs five groups, so that small classes keep most groups for training.
    """
    split = {}
    for _, groups in sorted(label_groups.items()):
        groups = sorted(set(groups), key=lambda g: _unit(seed, "split", g))
        n = len(groups)
        n_test = max(1, round(SPLIT_FRACTIONS["test"] * n)) if n >= 2 else 0
        n_valid = max(1, round(SPLIT_FRACTIONS["valid"] * n)) if n >= 5 else 0
        for i, group in enumerate(groups):
            if group in split:
                raise AudiogenError(f"group {group!r} holds clips of two labels; "
                                    "groups must be unique to a label.")
            split[group] = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
    return split


def _unit(seed: int, *names: str) -> float:
    digest = hashlib.sha1("\0".join((str(seed),) + names).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2 ** 64


def write_corpus(out: Path, clips: list[Clip], splits: dict[str, str], summary_args: dict
                 ) -> dict:
    """Write clips, manifest, corpus.json and README.md under `out`; return the summary."""
    clips = sorted(clips, key=lambda c: (c.label, c.name))
    paths = [f"clips/{clip.label}/{clip.name}{AUDIO_SUFFIX}" for clip in clips]
    written = set(paths)
    if len(written) != len(paths):
        twice = sorted(p for p in written if paths.count(p) > 1)
        raise AssertionError(f"clips with the same file name: {twice[:5]}")
    entries = []
    for clip, rel in zip(clips, paths, strict=True):
        save_audio(out / rel, clip.wav, SAMPLE_RATE)
        entries.append(ManifestEntry(
            path=rel, duration=round(clip.seconds, 4), sample_rate=SAMPLE_RATE, channels=1,
            captions=list(clip.captions), split=splits[clip.group], group=clip.group,
            label=clip.label, source=clip.source, license=clip.license,
            attribution=clip.attribution, extra={"id": f"{clip.label}/{clip.name}", **clip.extra}))
    for stale in (out / "clips").rglob(f"*{AUDIO_SUFFIX}"):  # left by an earlier build
        if stale.relative_to(out).as_posix() not in written:
            stale.unlink()
    write_manifest(out / "manifest.jsonl", entries)
    summary = summarize(entries, **summary_args)
    write_json(out / "corpus.json", summary)
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(readme(summary))
    return summary


def summarize(entries: list[ManifestEntry], seed: int, max_per_class: int, min_per_class: int,
              missing: dict[str, list[str]]) -> dict:
    classes: dict[str, dict] = {}
    for label in sorted({e.label for e in entries}):
        rows = [e for e in entries if e.label == label]
        classes[label] = {
            "clips": len(rows),
            "seconds": round(sum(e.duration for e in rows), 1),
            "groups": len({e.group for e in rows}),
            "speed_variants": sum("variant_of" in e.extra for e in rows),
            "splits": {s: sum(e.split == s for e in rows) for s in ("train", "valid", "test")},
            "distinct_captions": len({c for e in rows for c in e.captions}),
            "sources": dict(sorted(Counter(e.source for e in rows).items())),
        }
    return {
        **FORMAT,
        "seed": seed,
        "max_per_class": max_per_class,
        "min_per_class": min_per_class,
        "sample_rate": SAMPLE_RATE,
        "clips": len(entries),
        "hours": round(sum(e.duration for e in entries) / 3600, 3),
        "splits": {s: sum(e.split == s for e in entries) for s in ("train", "valid", "test")},
        "distinct_captions": len({c for e in entries for c in e.captions}),
        "sources": dict(sorted(Counter(e.source for e in entries).items())),
        "licenses": dict(sorted(Counter(e.license.split(" (")[0] for e in entries).items())),
        "missing_packages": missing,
        "classes": classes,
    }


def readme(summary: dict) -> str:
    lines = [
        "# Open sound corpus",
        "",
        ("Built by `audiogen data build-open-corpus` from freely licensed Debian packages, "
         "General MIDI renders (FluidSynth + FluidR3_GM), espeak-ng speech and procedural "
         f"sounds. Seed {summary['seed']}, at most {summary['max_per_class']} clips per class; "
         f"classes under {summary['min_per_class']} clips get speed-changed copies of "
         "training clips (column `copies`)."),
        "",
        (f"{summary['clips']} clips, {summary['hours']:.2f} hours, {len(summary['classes'])} "
         f"classes, {summary['distinct_captions']} distinct captions; splits "
         + ", ".join(f"{k} {v}" for k, v in summary["splits"].items()) + "."),
        "",
        ("| label | clips | copies | seconds | source files | train/valid/test | captions "
         "| sources |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, c in summary["classes"].items():
        s = c["splits"]
        lines.append(f"| {label} | {c['clips']} | {c['speed_variants']} | {c['seconds']:.0f} | "
                     f"{c['groups']} | "
                     f"{s['train']}/{s['valid']}/{s['test']} | {c['distinct_captions']} | "
                     + ", ".join(c["sources"]) + " |")
    lines += ["", "## Licences", "",
              ("Every clip's licence and attribution are in `manifest.jsonl` (fields `license`, "
               "`attribution`, `source`). Clips per licence:"), ""]
    lines += [f"- {k}: {v}" for k, v in summary["licenses"].items()]
    if summary["missing_packages"]:
        lines += ["", "Built without: " + ", ".join(
            p for ps in summary["missing_packages"].values() for p in ps) + "."]
    return "\n".join(lines) + "\n"


def build_open_corpus(out: str | Path, max_per_class: int = 60, seed: int = 0,
                      sources: Iterable[str] = DEFAULT_SOURCES, root: str | Path = "/",
                      strict: bool = False, min_per_class: int = 30,
                      log: Callable[[str], None] = print) -> dict:
    """Build the corpus into `out` from the sources present under `root`; return the summary.

    Missing Debian packages are reported with the apt-get line that installs them; with
    `strict` that is an error, otherwise the corpus is built from what is present.
    """
    sources = tuple(sources)
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise AudiogenError(f"unknown corpus source(s) {sorted(unknown)}; "
                            f"choose from {', '.join(SOURCES)}.")
    if max_per_class < 1:
        raise AudiogenError("--max-per-class must be at least 1.")
    root, out = Path(root), Path(out)
    missing = missing_packages(root, sources)
    if missing:
        if strict:
            raise AudiogenError(install_hint(missing))
        log(install_hint(missing) + "\nBuilding from the sources that are present.")
    # Every tensor here is one short clip: a second intra-op thread only adds hand-off cost,
    # which on a busy machine made small ops 10-100x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build(out, max_per_class, seed, sources, root, min_per_class, missing, log)
    finally:
        torch.set_num_threads(threads)


def _build(out: Path, max_per_class: int, seed: int, sources: tuple[str, ...], root: Path,
           min_per_class: int, missing: dict[str, list[str]], log: Callable[[str], None]
           ) -> dict:
    clips = balance(collect(root, seed, max_per_class, sources, log), max_per_class, seed)
    label_groups: dict[str, list[str]] = defaultdict(list)
    for clip in clips:
        label_groups[clip.label].append(clip.group)
    splits = assign_splits(label_groups, seed)
    clips += add_variants(clips, splits, min(min_per_class, max_per_class), seed)
    unknown_labels = {c.label for c in clips} - set(ALL_CLASSES)
    if unknown_labels:
        raise AssertionError(f"labels without captions: {sorted(unknown_labels)}")
    if not clips:
        raise AudiogenError("no clips were produced; " + install_hint(missing))
    return write_corpus(out, clips, splits, {"seed": seed, "max_per_class": max_per_class,
                                             "min_per_class": min_per_class, "missing": missing})
