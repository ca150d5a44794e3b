"""Pitch fidelity: on the original's voiced frames, how often a reconstruction keeps its f0.

    original      -> pYIN -> f0 per 20 ms frame, voiced or not
    reconstructed -> pYIN -> f0 per frame
    a voiced frame of the original is a hit when the reconstruction's frame is voiced too and
    its f0 is within 50 cents (half a semitone) of the original's

A frame the reconstruction made unvoiced is a miss (a codec that turns a voice into noise
loses its pitch); frames where the original is unvoiced are not counted. A clip without
voiced frames (noise, silence, most impacts) has no pitch score; totals pool the frames of
all clips.

f0 comes from librosa's pYIN (Mauch and Dixon, ICASSP 2014) at 16 kHz, 50..2000 Hz (low male
voices to a baby's cry and bird song), 1024-sample windows and a 320-sample hop (20 ms, one
frame per token of a 50 Hz codec). librosa is optional: `pip install 'audiogen[eval]'`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
import torch

from audiogen.audio.io import resample
from audiogen.errors import AudiogenError

PITCH_RATE = 16000  # pYIN runs at this rate (clips are resampled to it)
FMIN_HZ, FMAX_HZ = 50.0, 2000.0  # the f0 search range
FRAME = 1024  # pYIN's frame in samples at PITCH_RATE (64 ms: two periods of 50 Hz fit)
HOP = 320  # 20 ms between frames
TOLERANCE_CENTS = 50.0  # a hit: |1200 log2(f_reconstructed / f_original)| <= this
# pYIN gives a frame without periodicity (no YIN trough under its thresholds) a voicing
# probability of 0.01 (librosa's `no_trough_prob`). Over 50..2000 Hz its HMM spreads the
# unvoiced state across ~640 pitch bins, so the decoded path calls such frames voiced (white
# noise comes out about half voiced, at 0.01 + less than 1e-8). A frame counts as voiced only
# when the decoder says so and its probability is at least this:
MIN_VOICED_PROB = 0.011


def librosa_missing() -> str | None:
    """None when librosa is importable, else the reason pitch cannot be measured."""
    if importlib.util.find_spec("librosa") is None:
        return "librosa is not installed: pip install 'audiogen[eval]'"
    return None


def f0_track(wav: torch.Tensor, sample_rate: int) -> np.ndarray:
    """f0 in Hz per frame of mono `wav [T]`, NaN where unvoiced -> `[frames]`."""
    reason = librosa_missing()
    if reason is not None:
        raise AudiogenError(f"pitch fidelity needs librosa: {reason}")
    import librosa

    x = wav.detach().to(torch.float32).reshape(1, -1)
    if sample_rate != PITCH_RATE:
        x = resample(x, sample_rate, PITCH_RATE)
    x = x[0].numpy()
    if x.size < FRAME:
        x = np.pad(x, (0, FRAME - x.size))
    f0, voiced, prob = librosa.pyin(x, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=PITCH_RATE,
                                    frame_length=FRAME, hop_length=HOP)
    return np.where(voiced & (prob >= MIN_VOICED_PROB), f0, np.nan)


@dataclass
class PitchScore:
    hits: int  # voiced frames of the original whose f0 the reconstruction kept
    voiced: int  # voiced frames of the original

    @property
    def share(self) -> float | None:
        """Share of the original's voiced frames that are hits; None without voiced frames."""
        return self.hits / self.voiced if self.voiced else None

    def __add__(self, other: PitchScore) -> PitchScore:
        return PitchScore(self.hits + other.hits, self.voiced + other.voiced)


def pitch_agreement(original_f0: np.ndarray, estimate_f0: np.ndarray) -> PitchScore:
    """Score tracks `[frames]` of `f0_track` (same clip length): see the module doc."""
    frames = min(len(original_f0), len(estimate_f0))
    ref, est = original_f0[:frames], estimate_f0[:frames]
    voiced = np.isfinite(ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        cents = np.abs(1200.0 * np.log2(est / ref))
    hits = voiced & np.isfinite(est) & (cents <= TOLERANCE_CENTS)
    return PitchScore(int(hits.sum()), int(voiced.sum()))
