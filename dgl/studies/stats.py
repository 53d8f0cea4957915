"""Intervals of the studies' tables: means with 95 % Student t intervals (n - 1 degrees of
freedom), for seeds (paired differences share a data seed) and for test rows alike."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95


@functools.lru_cache(maxsize=256)
def t_quantile(n: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with n - 1 degrees of freedom:
    scipy.special.stdtrit, the function scipy.stats.t.ppf calls (the same values, bit for bit),
    without importing scipy.stats (0.75 s against 0.24 s for scipy.special, in every job that
    reports an interval), and imported here, not with the module, which training jobs load
    but never call. Cached: an evaluation asks it for the same n hundreds of times, and each
    scipy.stats call took about 3 ms (1.4 s of a main-study evaluation)."""
    from scipy import special

    return float(special.stdtrit(n - 1, 0.5 + level / 2)) if n > 1 else float("nan")


def t_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL
               ) -> tuple[float, float, float]:
    """Mean and its ``level`` t interval: mean -+ t_{n-1} sd / sqrt(n) (sd with ddof 1); the
    bounds are NaN for a single value."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = t_quantile(len(v), level) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def t_halfwidth_rows(values: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Half-width of the ``level`` t interval of the mean of each row of values [E, n]."""
    n = values.shape[1]
    return t_quantile(n, level) * values.std(axis=1, ddof=1) / math.sqrt(n)
