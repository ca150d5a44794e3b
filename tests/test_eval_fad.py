"""FAD: Fréchet distance properties, fixed-N subsets, FAD-inf against the analytic value."""

import itertools

import numpy as np
import pytest

from audiogen.eval.fad import (
    Gaussian,
    default_ns,
    fad_at_n,
    fad_inf,
    frechet_distance,
    frechet_to_samples,
)


def _random_cov(rng, d, floor=0.3):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + floor * np.eye(d)


def test_identical_gaussians_have_zero_distance():
    rng = np.random.default_rng(0)
    g = Gaussian(rng.standard_normal(6), _random_cov(rng, 6), 0)
    assert frechet_distance(g, g) == pytest.approx(0.0, abs=1e-9)


def test_matches_closed_form_for_diagonal_covariances():
    # diagonal: FD = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    got = frechet_distance(Gaussian(m1, np.diag(s1), 0), Gaussian(m2, np.diag(s2), 0))
    assert got == pytest.approx(expected, rel=1e-10)


def test_set_against_itself_is_near_zero_and_rises_with_noise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 8))
    ref = Gaussian.fit(x)
    assert frechet_to_samples(ref, x) == pytest.approx(0.0, abs=1e-8)
    values = [frechet_to_samples(ref, x + s * rng.standard_normal(x.shape))
              for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert values[0] > 0


@pytest.mark.parametrize("n", [5, 30])  # fewer and more samples than dimensions
def test_sample_shortcut_equals_generic_formula(n):
    rng = np.random.default_rng(2)
    ref = Gaussian.fit(rng.standard_normal((200, 12)))
    x = 1.5 * rng.standard_normal((n, 12)) + 0.3
    assert frechet_to_samples(ref, x) == pytest.approx(
        frechet_distance(ref, Gaussian.fit(x)), rel=1e-6)


def test_fad_at_n_is_deterministic_and_uses_n_clips():
    rng = np.random.default_rng(3)
    clips = [rng.standard_normal((3, 4)) for _ in range(20)]
    ref = Gaussian.fit(rng.standard_normal((100, 4)))
    assert fad_at_n(ref, clips, 10, seed=5) == fad_at_n(ref, clips, 10, seed=5)
    assert fad_at_n(ref, clips, 10, seed=5) != fad_at_n(ref, clips, 10, seed=6)
    with pytest.raises(ValueError):
        fad_at_n(ref, clips, 21)


def test_fad_inf_recovers_the_analytic_distance():
    """FAD(N) is biased upwards by ~c/N; the intercept of the fit over 1/N removes that bias."""
    rng = np.random.default_rng(4)
    d = 6
    ref = Gaussian(np.zeros(d), _random_cov(rng, d), 0)
    mean_g, cov_g = np.full(d, 0.3), _random_cov(rng, d)
    truth = frechet_distance(ref, Gaussian(mean_g, cov_g, 0))
    infs, smalls = [], []
    for _ in range(12):  # average independent generated sets to beat sampling noise
        x = rng.multivariate_normal(mean_g, cov_g, size=800)
        clips = [v[None] for v in x]
        infs.append(fad_inf(ref, clips, draws=4).value)
        smalls.append(fad_at_n(ref, clips, 40))
    assert np.mean(infs) == pytest.approx(truth, rel=0.03)
    assert np.mean(smalls) > truth * 1.05  # the small-N value is visibly biased


def test_fad_inf_needs_enough_clips():
    rng = np.random.default_rng(5)
    ref = Gaussian.fit(rng.standard_normal((50, 3)))
    with pytest.raises(ValueError, match="at least 3 subset sizes"):
        fad_inf(ref, [rng.standard_normal((2, 3)) for _ in range(3)])


def test_default_ns_span_quarter_to_all():
    ns = default_ns(100)
    assert ns[0] == 25 and ns[-1] == 100 and len(ns) >= 5
