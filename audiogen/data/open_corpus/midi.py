"""General MIDI instruments and sound effects rendered by FluidSynth with FluidR3_GM.

For each class we write one MIDI file holding every phrase (a melody, some chords, a drum
beat, a telephone ring...) separated by silent gaps, render it with one `fluidsynth` call
(loading the 140 MB soundfont once), and cut the phrases out at their known times. Each
phrase is its own group. Captions are built from what the phrase is: instrument, kind of
phrase, tempo and loudness.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiogen.audio.io import convert_channels, resample
from audiogen.data.open_corpus.captions import CLASSES, SOUNDS
from audiogen.data.open_corpus.clips import (
    MAX_SECONDS,
    SAMPLE_RATE,
    Clip,
    normalize,
    pick_captions,
    rng_for,
    trim_silence,
)

SOUNDFONT = "usr/share/sounds/sf2/FluidR3_GM.sf2"
SOURCE = "fluidsynth:fluid-soundfont-gm"
LICENSE = "MIT (FluidR3_GM soundfont)"
ATTRIBUTION = "FluidR3_GM soundfont by Frank Wen and contributors; rendered with FluidSynth"
TICKS_PER_SECOND = 960  # 480 ticks per beat at the default 120 beats per minute
GAP_SECONDS = 1.5  # silence between phrases, long enough for the reverb tail to die
DRUM_CHANNEL = 9

# label -> {GM program: names of the instrument}
INSTRUMENTS: dict[str, dict[int, list[str]]] = {
    "piano": {0: ["a piano", "a grand piano"], 1: ["a piano", "a bright piano"],
              2: ["an electric grand piano", "a piano"]},
    "guitar": {24: ["an acoustic guitar", "a nylon-string guitar"],
               25: ["an acoustic guitar", "a steel-string guitar"],
               26: ["an electric guitar", "a jazz guitar"],
               27: ["an electric guitar", "a clean electric guitar"]},
    "strings": {40: ["a violin"], 42: ["a cello"],
                48: ["a string ensemble", "an orchestra's string section"],
                49: ["a string section", "slow orchestral strings"]},
    "brass": {56: ["a trumpet"], 57: ["a trombone"], 58: ["a tuba"], 60: ["a french horn"],
              61: ["a brass section", "a group of brass instruments"]},
    "flute": {73: ["a flute"], 72: ["a piccolo", "a small flute"], 74: ["a recorder"],
              75: ["a pan flute", "pan pipes"]},
}
POLYPHONIC = {"piano", "guitar", "strings", "brass"}  # a flute plays no chords

# label -> (GM program, sound kind) for the General MIDI sound effects
EFFECTS: dict[str, tuple[int, str]] = {
    "ocean_waves": (122, "seashore_gm"), "bird": (123, "bird_tweet_gm"),
    "telephone": (124, "phone_gm"), "helicopter": (125, "helicopter_gm"),
    "crowd": (126, "applause_gm"), "gunshot": (127, "gunshot_gm"),
}

LABELS = tuple(INSTRUMENTS) + ("drums",) + tuple(EFFECTS)

PHRASE_CAPTIONS = {
    "melody": ["{inst} plays a short melody", "a melody played on {inst}", "{inst} plays a tune"],
    "chords": ["{inst} plays a few chords", "a sequence of chords on {inst}",
               "chords played on {inst}"],
    "arpeggio": ["{inst} plays an arpeggio", "broken chords on {inst}",
                 "{inst} plays rising and falling notes"],
    "long_note": ["{inst} holds a long note", "a single sustained note on {inst}",
                  "one long note from {inst}"],
    "scale": ["{inst} plays a quick scale", "{inst} runs up a scale", "a scale on {inst}"],
}
DRUM_CAPTIONS = {
    "beat": ["a drummer plays a steady rock beat", "a drum kit plays a simple beat",
             "kick, snare and hi-hat play a rhythm"],
    "fill": ["a drum fill on the toms", "a drummer plays a fill ending in a cymbal crash",
             "a quick roll across the drums"],
    "shuffle": ["a drummer plays a shuffle on the ride cymbal", "a swinging drum groove",
                "a light jazzy drum beat"],
}
NUMBERS = ["no", "one", "two", "three", "four", "five", "six"]
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


@dataclass
class Phrase:
    start: float  # seconds into the rendered file
    length: float  # seconds of notes (the reverb tail comes after)
    captions: list[str]
    extra: dict


class MidiWriter:
    """A minimal single-track (format 0) Standard MIDI File writer."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, bytes]] = []  # (tick, order, message)

    def program(self, seconds: float, channel: int, program: int) -> None:
        self.events.append((self._tick(seconds), 0, bytes([0xC0 | channel, program])))

    def note(self, seconds: float, length: float, channel: int, pitch: int, velocity: int) -> None:
        pitch = int(np.clip(pitch, 0, 127))
        velocity = int(np.clip(velocity, 1, 127))
        self.events.append((self._tick(seconds), 1, bytes([0x90 | channel, pitch, velocity])))
        self.events.append((self._tick(seconds + length), 0, bytes([0x80 | channel, pitch, 0])))

    def to_bytes(self) -> bytes:
        track = bytearray()
        last = 0
        for tick, _, message in sorted(self.events, key=lambda e: (e[0], e[1])):
            track += _varlen(tick - last) + message
            last = tick
        track += _varlen(0) + b"\xff\x2f\x00"  # end of track
        header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_SECOND // 2)
        return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)

    @staticmethod
    def _tick(seconds: float) -> int:
        return round(seconds * TICKS_PER_SECOND)


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits a byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _instrument_phrase(midi: MidiWriter, rng: np.random.Generator, t0: float, label: str
                       ) -> tuple[float, list[str], dict]:
    program = int(rng.choice(list(INSTRUMENTS[label])))
    kinds = list(PHRASE_CAPTIONS) if label in POLYPHONIC else ["melody", "long_note", "scale"]
    kind = str(rng.choice(kinds))
    tempo = str(rng.choice(["slow", "moderate", "fast"]))
    step = {"slow": 0.55, "moderate": 0.35, "fast": 0.18}[tempo] * rng.uniform(0.85, 1.15)
    dynamics = str(rng.choice(["soft", "medium", "loud"]))
    base_velocity = {"soft": 45, "medium": 80, "loud": 112}[dynamics]
    low = {"strings": 48, "brass": 48, "flute": 67}.get(label, 52)
    if program in (42, 57, 58):  # cello, trombone, tuba sit low
        low -= 12
    root = low + int(rng.integers(0, 8))
    scale = MAJOR if rng.random() < 0.6 else MINOR
    midi.program(t0, 0, program)
    t = t0

    def play(degrees: list[int], length: float) -> None:
        for d in degrees:
            pitch = root + 12 * (d // 7) + scale[d % 7]
            midi.note(t, length, 0, pitch, base_velocity + int(rng.integers(-8, 9)))

    if kind == "melody":
        degree = int(rng.integers(0, 5))
        for _ in range(int(rng.integers(5, 10))):
            length = step * float(rng.choice([1, 1, 2, 0.5]))
            play([degree], length * 0.95)
            t += length
            degree = int(np.clip(degree + rng.integers(-2, 3), 0, 11))
    elif kind == "chords":
        for degree in rng.choice([0, 3, 4, 5, 1], size=rng.integers(3, 5)):
            play([int(degree), int(degree) + 2, int(degree) + 4], step * 2.6)
            t += step * 2.8
    elif kind == "arpeggio":
        for degree in rng.choice([0, 3, 4, 5], size=2):
            for d in (0, 2, 4, 7, 4, 2):
                play([int(degree) + d], step * 0.9)
                t += step
    elif kind == "long_note":
        for _ in range(int(rng.integers(1, 3))):
            length = float(rng.uniform(1.2, 2.2))
            play([int(rng.integers(0, 8))], length)
            t += length + 0.1
    else:  # scale
        direction = 1 if rng.random() < 0.6 else -1
        for i in range(8):
            play([7 + direction * i if direction < 0 else i], step * 0.55)
            t += step * 0.55
    inst = str(rng.choice(INSTRUMENTS[label][program]))
    # one manner word at most ("softly", "quickly"), on captions where it reads naturally
    manners = [w for w in ({"soft": "softly", "loud": "loudly"}.get(dynamics),
                           {"slow": "slowly", "fast": "quickly"}.get(tempo)) if w]
    captions = []
    for template in PHRASE_CAPTIONS[kind]:
        caption = template.format(inst=inst)
        if manners and caption.startswith(inst) and "quick" not in caption:
            caption += " " + str(rng.choice(manners))
        captions.append(caption)
    extra = {"program": program, "phrase": kind, "tempo": tempo, "dynamics": dynamics}
    return t - t0, captions, extra


def _drum_phrase(midi: MidiWriter, rng: np.random.Generator, t0: float
                 ) -> tuple[float, list[str], dict]:
    kit = int(rng.choice([0, 8, 16]))  # standard, room, power kits
    kind = str(rng.choice(list(DRUM_CAPTIONS)))
    step = float(rng.uniform(0.11, 0.2))  # an eighth note
    velocity = int(rng.integers(70, 120))
    midi.program(t0, DRUM_CHANNEL, kit)
    bars = int(rng.integers(1, 3))
    hits: list[tuple[float, int]] = []
    if kind == "beat":
        for i in range(8 * bars):
            hits.append((i * step, 42))
            if i % 4 == 0:
                hits.append((i * step, 36))
            if i % 4 == 2:
                hits.append((i * step, 38))
    elif kind == "fill":
        for i in range(8):
            hits.append((i * step * 0.5, [50, 50, 48, 48, 45, 45, 41, 41][i]))
        hits += [(8 * step * 0.5, 49), (8 * step * 0.5, 36)]
    else:  # shuffle
        for i in range(6 * bars):
            hits.append((i * step * 1.3 + (0.4 * step if i % 2 else 0), 51))
            if i % 3 == 0:
                hits.append((i * step * 1.3, 36))
    for at, pitch in hits:
        midi.note(t0 + at, 0.1, DRUM_CHANNEL, pitch, velocity + int(rng.integers(-10, 8)))
    length = max(at for at, _ in hits) + 0.4
    return length, list(DRUM_CAPTIONS[kind]), {"program": kit, "phrase": kind}


def _effect_phrase(midi: MidiWriter, rng: np.random.Generator, t0: float, label: str
                   ) -> tuple[float, list[str], dict]:
    program, kind = EFFECTS[label]
    midi.program(t0, 0, program)
    velocity = int(rng.integers(80, 120))
    captions = list(SOUNDS[kind][1])
    if label == "gunshot":
        count = int(rng.integers(1, 5))
        t = 0.0
        for _ in range(count):
            midi.note(t0 + t, 0.3, 0, int(rng.integers(40, 64)), velocity)
            t += float(rng.uniform(0.25, 0.8))
        if count == 1:
            captions = ["a single gunshot", "one shot is fired"] + SOUNDS["gunshot"][1]
        else:
            captions = [f"{NUMBERS[count]} gunshots in a row",
                        f"{NUMBERS[count]} shots are fired"] + captions
        return t + 0.5, captions, {"program": program, "count": count}
    if label == "bird":
        t = 0.0
        for _ in range(int(rng.integers(3, 8))):
            length = float(rng.uniform(0.08, 0.35))
            midi.note(t0 + t, length, 0, int(rng.integers(62, 90)), velocity)
            t += length + float(rng.uniform(0.05, 0.3))
        return t, captions, {"program": program}
    if label == "telephone":
        rings = int(rng.integers(1, 3))
        pitch = int(rng.integers(58, 74))
        for r in range(rings):
            midi.note(t0 + 2.2 * r, 1.4, 0, pitch, velocity)
        captions = [f"a telephone rings {['once', 'twice'][rings - 1]}"] + captions
        return 2.2 * rings - 0.6, captions, {"program": program, "rings": rings}
    length = float(rng.uniform(2.5, 4.2))  # waves, rotor, applause: one long note
    midi.note(t0, length, 0, int(rng.integers(48, 76)), velocity)
    return length, captions, {"program": program}


def fluidsynth_missing(root: Path) -> list[str]:
    """Debian packages this source needs that are not installed."""
    missing = []
    if shutil.which("fluidsynth") is None:
        missing.append("fluidsynth")
    if not (root / SOUNDFONT).is_file():
        missing.append("fluid-soundfont-gm")
    return missing


def render_class(label: str, count: int, seed: int, root: Path) -> list[Clip]:
    """`count` rendered phrases of `label` (one of LABELS) as clips."""
    rng = rng_for(seed, "midi", label)
    midi = MidiWriter()
    phrases = []
    t = 0.5
    for _ in range(count):
        if label in INSTRUMENTS:
            length, captions, extra = _instrument_phrase(midi, rng, t, label)
        elif label == "drums":
            length, captions, extra = _drum_phrase(midi, rng, t)
        else:
            length, captions, extra = _effect_phrase(midi, rng, t, label)
        phrases.append(Phrase(t, length, captions, extra))
        t += length + GAP_SECONDS
    audio = _render(midi.to_bytes(), root)
    clips = []
    for i, phrase in enumerate(phrases):
        a = int(phrase.start * SAMPLE_RATE)
        b = int(min(phrase.start + phrase.length + 0.8, phrase.start + MAX_SECONDS) * SAMPLE_RATE)
        wav = trim_silence(audio[:, a:b])
        if wav.shape[-1] < SAMPLE_RATE // 10:
            continue
        crng = rng_for(seed, "midi-captions", label, str(i))
        clips.append(Clip(
            wav=normalize(wav), label=label,
            captions=pick_captions(crng, phrase.captions, CLASSES[label]),
            source=SOURCE, license=LICENSE, attribution=ATTRIBUTION,
            group=f"midi:{label}:{i}", name=f"gm_{label}_{i:03d}", extra=phrase.extra))
    return clips


def _render(midi_bytes: bytes, root: Path) -> torch.Tensor:
    """Render a MIDI file with FluidSynth -> mono `[1, T]` at SAMPLE_RATE."""
    with tempfile.TemporaryDirectory() as tmp:
        mid, out = Path(tmp) / "phrases.mid", Path(tmp) / "render.wav"
        mid.write_bytes(midi_bytes)
        cmd = ["fluidsynth", "-ni", "-q", "-C", "0", "-g", "0.5", "-r", str(SAMPLE_RATE),
               "-F", str(out), "-T", "wav", str(root / SOUNDFONT), str(mid)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples, rate = sf.read(str(out), dtype="float32", always_2d=True)
    wav = convert_channels(torch.from_numpy(np.ascontiguousarray(samples.T)), 1)
    return resample(wav, rate, SAMPLE_RATE)
