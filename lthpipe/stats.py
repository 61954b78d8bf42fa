"""Paired comparisons with confidence intervals, for the reporting jobs.

Free of torch (it would add seconds to every reporting job's start); scipy.special
alone gives the Student-t quantile.

A comparison pairs two samples over the same units, e.g. a method's and the dense
network's test accuracy on the same seeds: each unit gives one difference a_i - b_i,
which removes what the seed shares between the two (data split, initialisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, stdev

from scipy.special import stdtrit

CONFIDENCE = 0.95
VERDICTS = ("holds", "fails", "unclear")


@dataclass(frozen=True)
class PairedDifference:
    """Mean of n paired differences a_i - b_i, their sample sd (n - 1 in the
    denominator) and a 95% Student-t interval for the mean with n - 1 degrees of
    freedom. With n = 1 there is no spread, so ``sd``, ``low`` and ``high`` are None:
    "no interval", which ``decide`` reads as unclear and JSON writes as null."""

    mean: float
    sd: float | None
    n: int
    low: float | None
    high: float | None


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """The paired difference a - b of two samples over the same units, in the same order."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired samples need the same nonzero length, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    if not all(math.isfinite(d) for d in diffs):
        raise ValueError(f"paired differences must be finite, got {diffs}")
    mean, n = fmean(diffs), len(diffs)
    if n == 1:
        return PairedDifference(mean, None, 1, None, None)
    sd = stdev(diffs)
    half = float(stdtrit(n - 1, (1 + CONFIDENCE) / 2)) * sd / math.sqrt(n)  # t quantile x standard error
    return PairedDifference(mean, sd, n, mean - half, mean + half)


def decide(diff: PairedDifference, tolerance: float) -> str:
    """Whether "a is no worse than b by more than tolerance" holds, fails or is unclear
    from the interval: holds when its lower bound is >= -tolerance, fails when its
    upper bound is < -tolerance, unclear otherwise (and when there is no interval)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if diff.low is None or diff.high is None:
        return "unclear"
    if diff.low >= -tolerance:
        return "holds"
    if diff.high < -tolerance:
        return "fails"
    return "unclear"
