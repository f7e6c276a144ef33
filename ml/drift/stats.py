"""The drift statistics, fast and exact: two-sample KS, PSI, chi-square.

Kolmogorov-Smirnov. The statistic is scipy's, `D = max |F1(x) - F2(x)|` over the pooled
sample with right-continuous empirical CDFs (ties handled), computed without scipy's cost
of searching every pooled value in both samples. Both samples are sorted once (numpy's
SIMD sort); the CDFs are evaluated exactly on a coarse grid of every k-th value of each
sample (k about sqrt(n) / 4: 256 for a million values), which gives a lower bound on D.
Strictly between two grid values the CDF difference cannot exceed `F1(right-) - F2(left)`
nor `F2(right-) - F1(left)`, so only the intervals whose bound beats the grid's maximum
can hold a larger value; those are refined the same way (every 16th value, then every
value), so typically a few thousand points are evaluated in all. The result is the exact
D, found with two sorts and a few small binary searches. The
p-value is scipy's: for samples of at most 10,000 values (where `scipy.stats.ks_2samp`'s
default method is exact) scipy itself computes the exact distribution; above that the
asymptotic `scipy.stats.kstwo.sf(D, round(n1 n2 / (n1 + n2)))`, as scipy does. Tests
check statistic and p-value against scipy to 1e-9.

PSI. Bins are the reference's deciles (`bins` quantiles, duplicates merged), open at both
ends so every current value lands in one; shares are floored at 1e-4 so an empty bin
counts as a large change instead of an infinity. `PSI = sum((c - r) * ln(c / r))`.

scipy is imported where it is called, not with this module: `scipy.stats` alone costs
about a second, which `ml.drift.monitor` spends in a thread while the CSV is read.

Chi-square. A 2 x k contingency table of category counts (reference, current) over the
categories seen in either, tested with `scipy.stats.chi2_contingency` (its defaults,
including Yates' correction when k = 2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

KS_EXACT_MAX_N = 10_000  # scipy's `method="auto"` is exact up to this sample size
PSI_FLOOR = 1e-4
_FULL_BELOW = 4_096


@dataclass(frozen=True)
class KsResult:
    statistic: float
    pvalue: float
    method: str  # "exact" or "asymp", as scipy would use


def _ranges(lo: np.ndarray, hi: np.ndarray, stride: int = 1) -> np.ndarray:
    """Indices of every `stride`-th element of each range [lo[i], hi[i]), vectorised; a
    range shorter than `stride` contributes all of its elements (so refining progresses)."""
    lengths = hi - lo
    keep = lengths > 0
    lo, lengths = lo[keep], lengths[keep]
    if stride > 1:
        counts = np.where(lengths >= stride, lengths // stride, lengths)
        steps = np.where(lengths >= stride, stride, 1)
        offsets = np.where(lengths >= stride, stride - 1, 0)
    else:
        counts, steps, offsets = lengths, np.ones_like(lengths), np.zeros_like(lengths)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    k = np.arange(total) - np.repeat(first, counts)  # position within its range
    return np.repeat(lo + offsets, counts) + k * np.repeat(steps, counts)


def _max_abs_diff(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> float:
    if points.size == 0:
        return 0.0
    diff = (
        np.searchsorted(a, points, "right") / a.size - np.searchsorted(b, points, "right") / b.size
    )
    return float(max(diff.max(), -diff.min(), 0.0))


def _grid_step(n: int) -> int:
    """Grid spacing: about sqrt(n) / 4 values (a power of two), so that the grid search
    and the refinement of the intervals near the maximum cost about the same."""
    return int(min(1024, max(16, 2 ** round(math.log2(math.sqrt(n) / 4)))))


def ks_statistic_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sample KS statistic of two sorted float64 samples (see module doc).

    Works on "open" intervals of the value axis: the values strictly inside interval j
    are a[a_lo[j]:a_in[j]] and b[b_lo[j]:b_in[j]], and a_lo/n1, b_lo/n2 are the CDFs at
    its left end. Each round puts every `stride`-th inside value on the grid, evaluates
    the CDFs there exactly, splits the intervals at those values and keeps open only the
    pieces whose bound beats the best difference so far. It starts from one interval,
    the whole axis, and ends when no piece is open (at stride 1 every value of an open
    piece is evaluated, which leaves no piece open).
    """
    n1, n2 = a.size, b.size
    if n1 + n2 <= _FULL_BELOW:
        return _max_abs_diff(a, b, np.concatenate((a, b)))
    a_lo, b_lo = np.zeros(1, np.int64), np.zeros(1, np.int64)
    a_in, b_in = np.array([n1], np.int64), np.array([n2], np.int64)
    stride, best = _grid_step(max(n1, n2)), 0.0
    while a_lo.size:
        idx_a, idx_b = _ranges(a_lo, a_in, stride), _ranges(b_lo, b_in, stride)
        values = np.unique(np.concatenate((a[idx_a], b[idx_b])))
        right_a, right_b = np.searchsorted(a, values, "right"), np.searchsorted(b, values, "right")
        if values.size:
            diff = right_a / n1 - right_b / n2
            best = max(best, float(diff.max()), float(-diff.min()))
        owner = _owners(values, a, b, a_lo, b_lo)
        first = np.searchsorted(owner, np.arange(a_lo.size), "left")
        after = np.searchsorted(owner, np.arange(a_lo.size), "right")
        pieces_a_lo = np.insert(right_a, first, a_lo)
        pieces_b_lo = np.insert(right_b, first, b_lo)
        pieces_a_in = np.insert(np.searchsorted(a, values, "left"), after, a_in)
        pieces_b_in = np.insert(np.searchsorted(b, values, "left"), after, b_in)
        bound = np.maximum(pieces_a_in / n1 - pieces_b_lo / n2, pieces_b_in / n2 - pieces_a_lo / n1)
        keep = bound > best
        a_lo, b_lo, a_in, b_in = (
            pieces_a_lo[keep],
            pieces_b_lo[keep],
            pieces_a_in[keep],
            pieces_b_in[keep],
        )
        stride = max(1, stride // 16)
    return best


def _owners(
    values: np.ndarray, a: np.ndarray, b: np.ndarray, a_lo: np.ndarray, b_lo: np.ndarray
) -> np.ndarray:
    """Index of the open interval each (sorted) value lies strictly inside."""
    # An interval's values lie between its left end and right end; the left end is the
    # largest value counted in a_lo/b_lo. Intervals are disjoint and ordered, so the
    # owner is the number of intervals whose left end is below the value, minus one.
    left_end = np.maximum(
        np.where(a_lo > 0, a[np.maximum(a_lo - 1, 0)], -np.inf),
        np.where(b_lo > 0, b[np.maximum(b_lo - 1, 0)], -np.inf),
    )
    return np.searchsorted(left_end, values, "left") - 1


def ks_2samp_sorted(a: np.ndarray, b: np.ndarray) -> KsResult:
    """`scipy.stats.ks_2samp(a, b)` (two-sided, method auto) for sorted, NaN-free samples."""
    n1, n2 = a.size, b.size
    if max(n1, n2) <= KS_EXACT_MAX_N:
        import warnings

        from scipy import stats

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact -> asymp notice
            result = stats.ks_2samp(a, b)
        return KsResult(float(result.statistic), float(result.pvalue), "exact")
    d = ks_statistic_sorted(a, b)
    return KsResult(d, ks_asymptotic_pvalue(d, n1, n2), "asymp")


def ks_asymptotic_pvalue(d: float, n1: int, n2: int) -> float:
    """scipy's asymptotic p-value, `kstwo.sf(d, round(n1 n2 / (n1 + n2)))`.

    For large samples and a p-value between about 1e-160 and 0.025, scipy evaluates
    `2 * scipy.special.smirnov(n, d)`, the exact Birnbaum-Tingey sum over all of its
    ~n terms: about a second per feature at a million rows. That branch is computed here
    from the terms of the same sum that matter (`_smirnov_sf`); everything else is
    scipy's own call. Agreement with scipy is checked in tests (relative 1e-8).
    """
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    size, t = int(en), en * d
    # The conditions of scipy.stats._ksstats._kolmogn(n, d, cdf=False) leading to smirnov.
    if size > 140 and 1.0 < t < size - 1 and d < 0.5 and 2.2 <= t * d < 370.0:
        return float(np.clip(2.0 * _smirnov_sf(size, d), 0, 1))
    if size > 140 and 1.0 < t < size - 1 and d < 0.5 and t * d >= 370.0:
        return 0.0  # scipy's own cut-off
    # ... and leading to the Pelz-Good series (large samples, p-values above ~0.025)
    if size > 100_000 and 1.0 < t < size - 1 and d < 0.5 and t * d < 2.2:
        return float(np.clip(1.0 - _pelz_good_cdf(en, d), 0, 1))
    from scipy import stats

    return float(np.clip(stats.kstwo.sf(d, en), 0, 1))


_PI2, _PI4, _PI6 = np.pi**2, np.pi**4, np.pi**6
_SQRT2PI, _SQRT3 = np.sqrt(2 * np.pi), np.sqrt(3)


def _pelz_good_cdf(n: float, x: float) -> float:
    """P(D_n <= x) by Pelz and Good's series, as `scipy.stats._ksstats._kolmogn_PelzGood`
    computes it (BSD-3, the same operations in the same order, so the same bits): what
    `kstwo.sf` evaluates for n > 100,000 and n x^2 < 2.2. Computing it here spares the
    command importing `scipy.stats` when no feature needs anything else."""
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / zsquared
    if qlog < -708:
        return 0.0
    q = np.exp(qlog)
    k1a, k1b = -zsquared, _PI2 / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * zsquared) / 16
    k3d = _PI6 * (5 - 30 * zsquared) / 64
    k3c = _PI4 * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI2 * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8
    terms = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = np.power(q, 8 * k)
        coeffs = np.array(
            [
                1.0,
                k1a + k1b * msquared,
                k2a + k2b * msquared + k2c * mfour,
                k3a + k3b * msquared + k3c * mfour + k3d * msix,
            ]
        )
        terms *= qpower
        terms += coeffs
    terms *= q
    terms *= _SQRT2PI
    terms /= np.array([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    q = np.exp(-_PI2 / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks**2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q**ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI2 * _SQRT2PI / (-36 * zthree)
    terms[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI2 * _SQRT2PI / (216 * zsix)
    terms[3] += k3extra
    terms /= np.power(n * 1.0, np.arange(len(terms)) / 2.0)
    return float(sum(terms))


def _smirnov_sf(n: int, x: float, stride: int = 64, margin: float = 46.0) -> float:
    """P(D_n+ >= x), the one-sided one-sample KS survival function (`special.smirnov`).

    Birnbaum-Tingey: `x * sum_j C(n, j) (x + j/n)^(j-1) (1 - x - j/n)^(n-j)` for
    j <= n (1 - x). All terms are positive and unimodal in j; a coarse pass over every
    `stride`-th term finds the peak, and only terms within e^-margin of it (relative
    1e-20) are summed, in log space.
    """
    last = int(np.floor(n * (1.0 - x)))

    def log_terms(j: np.ndarray) -> np.ndarray:
        share = x + j / n
        with np.errstate(divide="ignore"):
            log_choose = _lgamma(np.array([n + 1.0]))[0] - _lgamma(j + 1) - _lgamma(n - j + 1)
            return log_choose + (n - j) * np.log1p(-share) + (j - 1) * np.log(share) + np.log(x)

    coarse_j = np.arange(0, last + 1, stride, dtype=np.float64)
    coarse = log_terms(coarse_j)
    keep = np.nonzero(coarse > coarse.max() - margin)[0]
    lo = max(0, int(coarse_j[keep[0]]) - stride)
    hi = min(last, int(coarse_j[keep[-1]]) + stride)
    terms = log_terms(np.arange(lo, hi + 1, dtype=np.float64))
    top = terms.max()
    return float(np.exp(top) * np.sum(np.exp(terms - top)))


_LGAMMA = np.frompyfunc(math.lgamma, 1, 1)
_STIRLING_FROM = 20.0


def _lgamma(x: np.ndarray) -> np.ndarray:
    """log Gamma(x) for x >= 1, vectorised without `scipy.special` (a second to import,
    more than the whole comparison of 40 features at 300,000 rows): Stirling's series
    to x^-7 from x = 20 (truncation below 2e-15, so the result is as close to the true
    value as `gammaln`'s, about 1e-15 relative), `math.lgamma` below."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    big = x >= _STIRLING_FROM
    xb = x[big]
    inv = 1.0 / xb
    inv2 = inv * inv
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    out[big] = (xb - 0.5) * np.log(xb) - xb + 0.5 * math.log(2 * math.pi) + series
    out[~big] = _LGAMMA(x[~big]).astype(np.float64)
    return out


@dataclass(frozen=True)
class BinnedShares:
    edges: list[float]
    """Inner bin edges; bins are (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    reference: list[int]
    current: list[int]


def psi_sorted(
    reference: np.ndarray, current: np.ndarray, bins: int = 10
) -> tuple[float, BinnedShares]:
    """PSI of `current` against `reference`'s quantile bins; both sorted."""
    n1 = reference.size
    positions = np.ceil(np.arange(1, bins) * n1 / bins).astype(np.int64) - 1
    edges = np.unique(reference[np.clip(positions, 0, n1 - 1)])
    edges = edges[edges < reference[-1]]  # an edge at the maximum would leave an empty bin
    ref_counts = np.diff(np.concatenate(([0], np.searchsorted(reference, edges, "right"), [n1])))
    cur_counts = np.diff(
        np.concatenate(([0], np.searchsorted(current, edges, "right"), [current.size]))
    )
    return psi_from_counts(ref_counts, cur_counts), BinnedShares(
        edges.tolist(), ref_counts.tolist(), cur_counts.tolist()
    )


def psi_from_counts(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    r = np.maximum(
        np.asarray(reference_counts, float) / max(1, np.sum(reference_counts)), PSI_FLOOR
    )
    c = np.maximum(np.asarray(current_counts, float) / max(1, np.sum(current_counts)), PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    pvalue: float
    dof: int
    categories: list[str]
    reference: list[int]
    current: list[int]
    psi: float


def chi_square(reference: Mapping[object, int], current: Mapping[object, int]) -> ChiSquareResult:
    """Chi-square test of homogeneity of two category-count mappings, and their PSI."""
    keys = sorted(set(reference) | set(current), key=lambda k: (str(type(k)), k))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=np.int64)
    cur = np.array([current.get(k, 0) for k in keys], dtype=np.int64)
    if len(keys) < 2:
        statistic, pvalue, dof = 0.0, 1.0, 0
    else:
        from scipy import stats

        result = stats.chi2_contingency(np.vstack((ref, cur)))
        statistic, pvalue, dof = float(result.statistic), float(result.pvalue), int(result.dof)
    return ChiSquareResult(
        statistic,
        pvalue,
        dof,
        [str(k) for k in keys],
        ref.tolist(),
        cur.tolist(),
        psi_from_counts(ref, cur),
    )


@dataclass(frozen=True)
class Histogram:
    edges: list[float]
    reference: list[int]
    current: list[int]


def histogram_sorted(reference: np.ndarray, current: np.ndarray, bins: int = 30) -> Histogram:
    """Counts of both samples on shared edges spanning their central 99% (for plots)."""
    lo = min(_quantile(reference, 0.005), _quantile(current, 0.005))
    hi = max(_quantile(reference, 0.995), _quantile(current, 0.995))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)

    def counts(values: np.ndarray) -> list[int]:
        cuts = np.searchsorted(values, edges, "left")
        cuts[-1] = np.searchsorted(values, edges[-1], "right")
        return np.diff(cuts).tolist()

    return Histogram(edges.tolist(), counts(reference), counts(current))


def _quantile(sorted_values: np.ndarray, q: float) -> float:
    return float(sorted_values[min(sorted_values.size - 1, int(q * sorted_values.size))])
