"""Trends: least-squares lines through a series (as Prometheus' ``predict_linear`` fits them), how well
they fit, when they cross a level, and percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_POINTS = 3  # the fewest points a line is fitted through


@dataclass(frozen=True)
class Fit:
    """A line through a series: value = intercept + slope * (t - t0), t0 the points' mean time; r2 and the
    spread around it."""

    slope: float  # per second
    intercept: float
    t0: float
    r2: float
    residual_sd: float
    points: int

    def at(self, t: float) -> float:
        """Given a time (unix seconds), return the line's value then."""
        return self.intercept + self.slope * (t - self.t0)

    def crossing(self, level: float, after: float) -> float | None:
        """Given a level, return when the line reaches it (``after`` when already above; None when it
        never rises to it)."""
        if self.at(after) >= level:
            return after
        if self.slope <= 0:
            return None
        return self.t0 + (level - self.intercept) / self.slope


def fit_line(points: Sequence[tuple[float, float]]) -> Fit | None:
    """Given (t, value) points, return their least-squares line (None for fewer than MIN_POINTS points).

    The values are fitted divided by their largest magnitude, so values near the largest float (1e308)
    neither overflow nor lose the line; what cannot be represented in the result is infinite, never NaN."""
    n = len(points)
    if n < MIN_POINTS:
        return None
    scale = max(abs(v) for _, v in points) or 1.0
    t0 = sum(t for t, _ in points) / n
    xs = [t - t0 for t, _ in points]
    ys = [v / scale for _, v in points]
    mean_y = sum(ys) / n
    sxx = sum(x * x for x in xs)
    sxy = sum(x * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    residuals = [y - (mean_y + slope * x) for x, y in zip(xs, ys, strict=True)]
    ss_res = sum(r * r for r in residuals)
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return Fit(slope * scale, mean_y * scale, t0, r2, math.sqrt(ss_res / n) * scale, n)


def percentile(values: Sequence[float], q: float) -> float:
    """Given values and a fraction, return that percentile (linear between the nearest ranks; never beyond
    them, so finite values give a finite percentile)."""
    ordered = sorted(values)
    if not ordered:
        msg = "no values"
        raise ValueError(msg)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    weight = position - low
    return ordered[low] * (1 - weight) + ordered[high] * weight
