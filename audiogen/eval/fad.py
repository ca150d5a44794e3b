"""Fréchet Audio Distance: the Fréchet distance between Gaussian fits of two embedding sets.

    FD = |mu_r - mu_g|^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^(1/2))

FAD is biased upwards for a finite number N of generated clips (the covariance estimate is
noisy), so a number is only comparable at the same N. We report:

- FAD at a fixed N (a seeded subset of N generated clips against the whole reference set);
- FAD-inf: FAD measured at several N, fitted as FAD(N) = FAD_inf + slope / N by least
  squares; the intercept estimates the value for infinitely many clips (Chung et al., 2023).

Subsets are drawn over clips (a clip contributes all its frames), with a fixed seed, so every
number here is deterministic. All statistics are computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Gaussian:
    """Mean `[D]` and covariance `[D, D]` of a set of embeddings, and how many vectors."""

    mean: np.ndarray
    cov: np.ndarray
    count: int
    _root: np.ndarray | None = field(default=None, repr=False)  # cov^(1/2), computed once

    @classmethod
    def fit(cls, x: np.ndarray) -> Gaussian:
        """Fit to embeddings `x [N, D]` (N >= 2; unbiased covariance)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"need at least 2 embedding vectors [N, D], got {x.shape}")
        return cls(x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1]),
                   x.shape[0])

    def root(self) -> np.ndarray:
        if self._root is None:
            self._root = _sqrt_psd(self.cov)
        return self._root


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _sum_sqrt_eig(m: np.ndarray) -> float:
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """Fréchet distance between two Gaussians (>= 0; 0 for identical ones).

    tr((Sa Sb)^(1/2)) is taken as tr((Sa^(1/2) Sb Sa^(1/2))^(1/2)): the same value, but the
    matrix is symmetric PSD, so an eigen-decomposition gives it stably even for the singular
    covariances of small sets.
    """
    diff = a.mean - b.mean
    root_a = a.root()
    cross = _sum_sqrt_eig(root_a @ b.cov @ root_a)
    value = float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * cross)
    return max(value, 0.0)


def frechet_to_samples(a: Gaussian, x: np.ndarray) -> float:
    """`frechet_distance(a, Gaussian.fit(x))` for samples `x [N, D]`, cheaper when N <= D.

    With Xc the centred samples, Sb = Xc^T Xc / (N - 1), and Sa^(1/2) Sb Sa^(1/2) has the same
    non-zero eigenvalues as the N x N matrix Xc Sa Xc^T / (N - 1): no D x D decomposition.
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"need at least 2 embedding vectors [N, D], got {x.shape}")
    if n > d:
        return frechet_distance(a, Gaussian.fit(x))
    mean = x.mean(axis=0)
    xc = x - mean
    diff = a.mean - mean
    trace_b = float((xc * xc).sum()) / (n - 1)
    cross = _sum_sqrt_eig(xc @ a.cov @ xc.T / (n - 1))
    return max(float(diff @ diff + np.trace(a.cov) + trace_b - 2 * cross), 0.0)


def _stack(clips: list[np.ndarray], index: np.ndarray) -> np.ndarray:
    return np.concatenate([clips[i] for i in index], axis=0)


def subset_order(n_clips: int, seed: int) -> np.ndarray:
    """A fixed permutation of clip indices: subsets of size n are its first n entries."""
    return np.random.default_rng(seed).permutation(n_clips)


def fad_at_n(reference: Gaussian, generated: list[np.ndarray], n: int, seed: int = 0) -> float:
    """FAD of the first `n` clips of a seeded permutation of `generated` (each `[F_i, D]`)."""
    if not 1 <= n <= len(generated):
        raise ValueError(f"n={n} must be in [1, {len(generated)}]")
    return frechet_to_samples(reference, _stack(generated, subset_order(len(generated), seed)[:n]))


@dataclass
class FadInf:
    """FAD(N) = value + slope / N fitted over `ns`; `points` are the measured (N, mean FAD)."""

    value: float  # the intercept: FAD extrapolated to N -> infinity
    slope: float
    r2: float  # goodness of the linear fit in 1/N
    points: list[tuple[int, float]]
    draws: int  # subsets averaged at each N


def fad_inf(reference: Gaussian, generated: list[np.ndarray], ns: list[int] | None = None,
            draws: int = 3, seed: int = 0) -> FadInf:
    """Extrapolate FAD to infinitely many generated clips by a linear fit over 1/N.

    Args:
        reference: Gaussian of the whole reference set.
        generated: per-clip embeddings `[F_i, D]`.
        ns: subset sizes (default: 8 sizes from a quarter of the set to all of it).
        draws: seeded subsets averaged per size (the full set is drawn once).
        seed: base seed; draw d of every size uses seed + d.
    """
    total = len(generated)
    if ns is None:
        ns = default_ns(total)
    ns = sorted({int(n) for n in ns if 2 <= n <= total})
    if len(ns) < 3:
        raise ValueError(f"FAD-inf needs at least 3 subset sizes in [2, {total}]; got {ns}")
    points = []
    for n in ns:
        k = 1 if n == total else draws
        values = [fad_at_n(reference, generated, n, seed + d) for d in range(k)]
        points.append((n, float(np.mean(values))))
    x = np.array([1.0 / n for n, _ in points])
    y = np.array([v for _, v in points])
    slope, intercept = np.polyfit(x, y, 1)
    pred = intercept + slope * x
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return FadInf(float(intercept), float(slope), r2, points, draws)


def default_ns(total: int, count: int = 8) -> list[int]:
    """`count` sizes spaced evenly in 1/N between a quarter of the set and all of it."""
    lo = max(2, total // 4)
    if total - lo < 2:
        return list(range(2, total + 1))
    inv = np.linspace(1.0 / lo, 1.0 / total, count)
    return sorted({round(1.0 / float(v)) for v in inv})
