"""Specifications of sweep.scoring.stats: t confidence intervals and paired comparisons, by hand."""

from __future__ import annotations

import math

import pytest

from sweep.scoring.stats import ALPHA, mean_ci, paired_t_test, ties_with_best


def test_confidence_interval_matches_a_hand_computation() -> None:
    # values 1..5: mean 3, sample variance 2.5, t_{0.975, 4} = 2.776445 (table value)
    ci = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ci.mean == 3.0 and ci.n == 5
    assert ci.half_width == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), abs=1e-5)
    assert ci.half_width == pytest.approx(1.96324, abs=1e-5)
    assert str(ci) == "3.00 ± 1.96"


def test_confidence_interval_edge_cases() -> None:
    assert math.isnan(mean_ci([4.0]).half_width)
    assert mean_ci([2.0, 2.0, 2.0]).half_width == 0.0
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([1.0, float("nan")])


def test_paired_t_test_matches_a_hand_computation() -> None:
    a = {"u1": 1.0, "u2": 2.0, "u3": 3.0, "u4": 4.0, "only_a": 9.0}
    b = {"u1": 0.5, "u2": 2.5, "u3": 2.0, "u4": 3.0}
    # d = [0.5, -0.5, 1, 1]: mean 0.5, sd sqrt(0.5), t = 0.5 / (sqrt(0.5) / 2) = sqrt(2), df 3;
    # two-sided p = 2 * P(T_3 > 1.41421) = 0.25226 (t table)
    r = paired_t_test(a, b)
    assert r.n == 4 and r.mean_diff == pytest.approx(0.5)
    assert r.p_value == pytest.approx(0.25226, abs=1e-4)
    with pytest.raises(ValueError):
        paired_t_test({"x": 1.0}, {"x": 2.0})


def test_ties_with_best_marks_only_trials_not_significantly_worse() -> None:
    utts = [f"u{i}" for i in range(20)]
    noise = [0.3 * ((i * 7) % 5 - 2) for i in range(20)]  # deterministic, mean 0
    best = {u: 10.0 + n for u, n in zip(utts, noise)}
    close = {u: 10.0 + n + (-0.05 if i % 2 else 0.02) for i, (u, n) in enumerate(zip(utts, noise))}
    worse = {u: 9.0 + n for u, n in zip(utts, noise)}
    out = ties_with_best({0: close, 1: best, 2: worse})
    assert out[1] is None  # the best (highest mean)
    assert out[0].p_value >= ALPHA  # a tie
    assert out[2].p_value < ALPHA and out[2].mean_diff == pytest.approx(1.0)


def test_ties_with_best_follows_the_direction_it_is_given() -> None:
    from sweep.objective import Objective

    low = {f"u{i}": 1.0 + 0.1 * (i % 3) for i in range(10)}
    high = {u: v + 2.0 for u, v in low.items()}
    assert ties_with_best({0: low, 1: high})[1] is None  # default: higher is better
    for mode in ("min", "minimize", Objective("train_loss", "min")):
        out = ties_with_best({0: low, 1: high}, mode)
        assert out[0] is None  # the lowest mean is the best
        assert out[1].mean_diff == pytest.approx(-2.0) and out[1].p_value < ALPHA
    assert ties_with_best({0: low, 1: high}, Objective("valid_si_snri", "max"))[1] is None
    with pytest.raises(ValueError, match="mode"):
        ties_with_best({0: low}, "lowest")


def test_ties_with_best_accepts_a_best_chosen_elsewhere() -> None:
    """The report picks the best on validation data; the test scores only say whether it is separable."""
    low = {f"u{i}": 1.0 + 0.1 * (i % 3) for i in range(10)}
    high = {u: v + 2.0 for u, v in low.items()}
    out = ties_with_best({0: low, 1: high}, "max", best=0)
    assert out[0] is None and out[1].mean_diff == pytest.approx(-2.0)  # trial 1 scored higher than the pick
    assert ties_with_best({0: low, 1: high}, best=7) == {}  # the pick has no per-utterance scores
    assert ties_with_best({}, "min") == {}
