"""The clip record every source yields, and the audio conditioning shared by all sources.

Every source (game sound packages, MIDI renders, speech, procedural) produces `Clip`s: a mono
16 kHz waveform `[1, T]` with its label, captions, provenance and group. Sources cut long
recordings into short segments with `segment`, so the LM sees short, non-silent events.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import torch

from audiogen.audio.io import convert_channels, loudness_normalize, resample

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.12  # a sword hit lasts 0.2 s; anything shorter is a click
MAX_SECONDS = 5.0  # longer recordings are cut into pieces of about SEGMENT_SECONDS
SEGMENT_SECONDS = 4.0
MAX_SEGMENTS_PER_FILE = 6  # so that one long recording cannot dominate its class
SILENCE_DB = 40.0  # frames this far below the loudest frame count as silence
TARGET_DB = -20.0  # RMS level every clip is normalised to (peaks kept below 1.0)


@dataclass
class Clip:
    """One corpus clip before it is written. `wav` is `[1, T]` float32 at SAMPLE_RATE."""

    wav: torch.Tensor
    label: str  # class name, e.g. "bird", "piano", "speech_male"
    captions: list[str]  # natural-language paraphrases, most specific first
    source: str  # Debian package, "fluidsynth:fluid-soundfont-gm", "espeak-ng" or "procedural"
    license: str
    attribution: str
    group: str  # id of the source file/recipe; clips sharing it land in the same split
    name: str  # file stem, unique within the label
    extra: dict = field(default_factory=dict)  # source-specific facts kept in the manifest

    @property
    def seconds(self) -> float:
        return self.wav.shape[-1] / SAMPLE_RATE


def decode_sound(data: bytes) -> torch.Tensor | None:
    """Bytes of a sound file -> mono `[1, T]` at SAMPLE_RATE, or None if unreadable."""
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - a broken file in a package must not stop the build
        return None
    if samples.shape[0] == 0 or not np.isfinite(samples).all():
        return None
    wav = convert_channels(torch.from_numpy(np.ascontiguousarray(samples.T)), 1)
    return resample(wav, rate, SAMPLE_RATE)


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator that depends only on `seed` and `names`, so every clip is reproducible on its
    own, whatever else is built (Python's `hash` is salted per process, hence sha1)."""
    digest = hashlib.sha1("\0".join(names).encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def frame_db(wav: torch.Tensor, frame: int = 320) -> torch.Tensor:
    """RMS level in dB of consecutive `frame`-sample frames of `wav [1, T]` -> `[F]`."""
    x = wav[0]
    n = max(1, x.shape[-1] // frame)
    x = x[: n * frame].reshape(n, -1) if x.shape[-1] >= frame else x[None]
    return 10 * torch.log10(x.pow(2).mean(-1).clamp_min(1e-12))


def trim_silence(wav: torch.Tensor, frame: int = 320, pad: int = 1) -> torch.Tensor:
    """Cut leading and trailing frames more than SILENCE_DB below the loudest one (`[1, T]`)."""
    db = frame_db(wav, frame)
    loud = torch.nonzero(db > db.max() - SILENCE_DB).flatten()
    if loud.numel() == 0:
        return wav[:, :0]
    start = max(0, int(loud[0]) - pad) * frame
    stop = min(wav.shape[-1], (int(loud[-1]) + 1 + pad) * frame)
    return wav[:, start:stop]


def segment(wav: torch.Tensor, max_segments: int = MAX_SEGMENTS_PER_FILE) -> list[torch.Tensor]:
    """Trim a recording `[1, T]` and cut it into short, non-silent, normalised clips.

    Recordings up to MAX_SECONDS stay whole; longer ones are cut into equal pieces of about
    SEGMENT_SECONDS, each trimmed again; pieces that are mostly silence or shorter than
    MIN_SECONDS are dropped; at most `max_segments` pieces, evenly spread over the file.
    """
    wav = trim_silence(wav)
    total = wav.shape[-1]
    if total < MIN_SECONDS * SAMPLE_RATE or float(wav.abs().max()) < 1e-4:
        return []
    if total <= MAX_SECONDS * SAMPLE_RATE:
        pieces = [wav]
    else:
        count = int(np.ceil(total / (SEGMENT_SECONDS * SAMPLE_RATE)))
        bounds = np.linspace(0, total, count + 1).astype(int)
        reference = float(frame_db(wav).max())
        pieces = []
        for a, b in itertools.pairwise(bounds):
            piece = wav[:, a:b]
            if float(frame_db(piece).max()) < reference - SILENCE_DB / 2:
                continue  # a quiet stretch between events
            piece = trim_silence(piece)
            if piece.shape[-1] >= MIN_SECONDS * SAMPLE_RATE:
                pieces.append(piece)
        if len(pieces) > max_segments:
            keep = np.linspace(0, len(pieces) - 1, max_segments).round().astype(int)
            pieces = [pieces[i] for i in keep]
    return [normalize(p) for p in pieces]


def normalize(wav: torch.Tensor) -> torch.Tensor:
    """Bring `wav [1, T]` to TARGET_DB RMS, peaks kept below 0.99, with 10 ms fades at the ends
    so that cuts do not click."""
    wav = loudness_normalize(wav, TARGET_DB) * 0.99
    fade = min(wav.shape[-1] // 4, SAMPLE_RATE // 100)
    if fade > 0:
        ramp = torch.linspace(0.0, 1.0, fade)
        wav = wav.clone()
        wav[:, :fade] *= ramp
        wav[:, -fade:] *= ramp.flip(0)
    return wav


def pick_captions(rng: np.random.Generator, specific: list[str], general: list[str],
                  n_specific: int = 4, n_general: int = 2) -> list[str]:
    """Up to `n_specific` specific paraphrases (first) and `n_general` class-level ones,
    without repeats, in a seeded order."""
    chosen = [specific[i] for i in sorted(rng.permutation(len(specific))[:n_specific])]
    rest = [c for c in general if c not in chosen]
    chosen += [rest[i] for i in sorted(rng.permutation(len(rest))[:n_general])]
    return chosen
