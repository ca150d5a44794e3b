"""Pitch fidelity (audiogen.eval.pitch) on synthetic signals with known f0."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audiogen.eval.pitch import PitchScore, f0_track, pitch_agreement

pytest.importorskip("librosa", reason="pitch fidelity needs librosa (audiogen[eval])")

SR = 16000


def _harmonic(f0: float, seconds: float = 1.0, sr: int = SR) -> torch.Tensor:
    """A tone of f0 with 5 harmonics (amplitudes 1/k), peak about 0.5."""
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    x = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.22 * x).float()


@pytest.fixture(scope="module")
def tone_f0():
    return f0_track(_harmonic(220.0), SR)


def test_a_harmonic_tone_is_tracked_at_its_f0(tone_f0):
    voiced = np.isfinite(tone_f0)
    assert voiced.mean() > 0.9
    assert np.abs(1200 * np.log2(tone_f0[voiced] / 220.0)).max() < 15  # cents


def test_a_tone_against_itself_scores_one(tone_f0):
    score = pitch_agreement(tone_f0, f0_track(_harmonic(220.0), SR))
    assert score.share == 1.0 and score.voiced == int(np.isfinite(tone_f0).sum())


def test_within_50_cents_is_a_hit_a_semitone_off_is_a_miss(tone_f0):
    assert pitch_agreement(tone_f0, f0_track(_harmonic(220.0 * 2 ** (30 / 1200)), SR)).share \
        == 1.0
    assert pitch_agreement(tone_f0, f0_track(_harmonic(220.0 * 2 ** (100 / 1200)), SR)).share \
        == 0.0


def test_silence_in_place_of_a_tone_misses_every_frame(tone_f0):
    silence = f0_track(torch.zeros(SR), SR)
    assert not np.isfinite(silence).any()
    score = pitch_agreement(tone_f0, silence)
    assert score.share == 0.0 and score.voiced > 40


def test_noise_has_no_voiced_frames_and_no_score():
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(SR).astype(np.float32))
    noise_f0 = f0_track(0.3 * noise, SR)
    assert not np.isfinite(noise_f0).any()  # pYIN's decoder alone would call ~half voiced
    score = pitch_agreement(noise_f0, f0_track(_harmonic(220.0), SR))
    assert score == PitchScore(0, 0) and score.share is None


def test_other_rates_are_resampled_to_the_same_frames(tone_f0):
    at_24k = f0_track(_harmonic(220.0, sr=24000), 24000)
    assert at_24k.shape == tone_f0.shape
    assert pitch_agreement(tone_f0, at_24k).share > 0.95


def test_scores_pool_frames():
    assert (PitchScore(3, 4) + PitchScore(0, 0) + PitchScore(1, 4)).share == 0.5
