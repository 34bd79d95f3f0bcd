"""Lines and percentiles over values near the largest float (#28): what a broken exporter can send, and a
real Prometheus passes on, must give finite lines and percentiles, never an OverflowError or NaN."""

from __future__ import annotations

import math

import pytest

from seawall.capacity.forecast import MIN_POINTS, fit_line, percentile

HOUR = 3600.0
BIGGEST = 1.7e308


def test_a_line_through_huge_values_is_found_without_overflow() -> None:
    points = [(index * HOUR, 1e306 * index) for index in range(100)]
    fit = fit_line(points)
    assert fit is not None
    assert fit.slope == pytest.approx(1e306 / HOUR)
    assert fit.at(50 * HOUR) == pytest.approx(5e307)
    assert fit.r2 == pytest.approx(1.0)


@pytest.mark.parametrize(
    "values",
    [
        [0.0, BIGGEST] * 50,
        [-BIGGEST, BIGGEST] * 50,
        [BIGGEST] * 100,
        [50.0] * 99 + [BIGGEST],
    ],
    ids=["zero and the largest", "both signs", "all the largest", "one spike"],
)
def test_huge_values_give_a_finite_line_and_percentiles(values: list[float]) -> None:
    fit = fit_line([(index * HOUR, value) for index, value in enumerate(values)])
    assert fit is not None
    assert all(math.isfinite(number) for number in (fit.slope, fit.intercept, fit.r2))
    assert not math.isnan(fit.residual_sd)
    for q in (0.0, 0.5, 0.95, 1.0):
        assert min(values) <= percentile(values, q) <= max(values)


def test_fewer_points_than_a_line_needs_give_no_line() -> None:
    assert fit_line([(index * HOUR, 1.0) for index in range(MIN_POINTS - 1)]) is None
    assert fit_line([(index * HOUR, 1.0) for index in range(MIN_POINTS)]) is not None
