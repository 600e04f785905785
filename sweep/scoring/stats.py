"""Statistics for the leaderboard: confidence intervals of test means and paired comparisons.

* **Confidence interval** of a mean over ``n`` utterances: Student's t interval,
  ``mean +- t_{0.975, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation (ddof 1).
  Utterance scores are not normal, but with ~100 utterances the mean is close enough to
  normal, and the t quantile keeps small test sets honest.
* **Paired comparison** of two trials: a two-sided **paired t-test** on the per-utterance
  differences over the utterances both trials scored (the same test mixtures; pairing removes
  the large utterance-to-utterance variance that unpaired intervals carry). A trial is *tied*
  with the best when ``p >= alpha`` (0.05). There is no multiple-comparison correction: a tie
  says "this test set cannot separate them", and correcting would only create more ties.
  "Best" follows a direction (``mode``: max or min), or is named by the caller: the report's
  best is the study objective's best on validation data, never picked on the test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import special

__all__ = ["ALPHA", "MeanCI", "PairedDifference", "PairedResult", "mean_ci", "paired_difference", "paired_t_test",
           "ties_with_best"]

ALPHA: float = 0.05
"""Significance level of the paired comparisons."""


@dataclass(frozen=True)
class MeanCI:
    """A mean with the half-width of its confidence interval (same unit, e.g. dB)."""

    mean: float
    half_width: float  # NaN when n < 2
    n: int

    def __str__(self) -> str:
        if math.isnan(self.half_width):
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} ± {self.half_width:.2f}"


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> MeanCI:
    """Mean and t-interval half-width of ``values`` (one per utterance).

    Raises:
        ValueError: on an empty sample or non-finite values.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values: a confidence interval needs at least one utterance")
    if not np.isfinite(x).all():
        raise ValueError("values contain NaN or inf")
    if x.size < 2:
        return MeanCI(float(x[0]), math.nan, 1)
    t = special.stdtrit(x.size - 1, 0.5 + confidence / 2.0)  # scipy.stats.t.ppf's own kernel, without its overhead
    return MeanCI(float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(x.size)), int(x.size))


@dataclass(frozen=True)
class PairedResult:
    """Paired t-test of ``a - b`` over common utterances."""

    mean_diff: float  # mean of a - b, same unit as the scores
    p_value: float  # two-sided; 1.0 when every difference is 0
    n: int


def paired_t_test(a: Mapping[str, float], b: Mapping[str, float]) -> PairedResult:
    """Two-sided paired t-test on the utterances present in both ``a`` and ``b``.

    Args:
        a, b: ``{utterance name: score}``.

    Raises:
        ValueError: fewer than two common utterances.
    """
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        raise ValueError(f"{len(common)} common utterance(s): a paired test needs at least 2")
    d = np.array([a[k] for k in common], dtype=np.float64) - np.array([b[k] for k in common])
    if np.all(d == d[0]):
        # Constant differences have zero variance: identical scores are a tie (p = 1), a
        # constant non-zero shift is as significant as it gets.
        return PairedResult(float(d.mean()), 1.0 if d[0] == 0 else 0.0, len(common))
    # scipy.stats.ttest_rel's statistic and two-sided p, through the t distribution's ufunc: a report
    # of 1,000 trials makes 1,000 of these, and ttest_rel's overhead was most of their time.
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    p = float(2.0 * special.stdtr(d.size - 1, -abs(t)))
    return PairedResult(float(d.mean()), p, len(common))


@dataclass(frozen=True)
class PairedDifference:
    """The mean of ``a - b`` over common utterances with its t-interval, and the paired test's p."""

    diff: MeanCI  # mean difference and CI half-width, same unit as the scores (e.g. dB)
    p_value: float  # two-sided paired t-test of a against b


def paired_difference(a: Mapping[str, float], b: Mapping[str, float],
                      confidence: float = 0.95) -> PairedDifference:
    """Mean of ``a[u] - b[u]`` over the utterances ``u`` in both, its ``confidence`` t-interval
    (:func:`mean_ci` of the differences) and the two-sided p of :func:`paired_t_test`.

    Raises:
        ValueError: fewer than two common utterances.
    """
    common = sorted(set(a) & set(b))
    result = paired_t_test(a, b)  # raises below two common utterances
    return PairedDifference(mean_ci([a[k] - b[k] for k in common], confidence), result.p_value)


def _maximises(mode: Any) -> bool:
    """True for ``'max'`` (or Optuna's ``'maximize'``), False for ``'min'``/``'minimize'``;
    anything with a ``mode`` attribute (a :class:`sweep.objective.Objective`) gives its own."""
    mode = getattr(mode, "mode", mode)
    if mode in ("max", "maximize"):
        return True
    if mode in ("min", "minimize"):
        return False
    raise ValueError(f"mode must be 'max' or 'min' (or an Objective), got {mode!r}")


def ties_with_best(scores: Mapping[int, Mapping[str, float]], mode: Any = "max", *, alpha: float = ALPHA,
                   best: int | None = None) -> dict[int, PairedResult | None]:
    """Compare every trial with the best one on the utterances both scored.

    Args:
        scores: ``{trial number: {utterance name: score}}``.
        mode: which way the *scores* are better: ``'max'`` / ``'min'``, or an object with a
            ``mode`` attribute such as :class:`sweep.objective.Objective`. Pass the direction of
            the metric in ``scores`` (test SI-SNRi is ``'max'``), not of some other quantity.
        alpha: significance level.
        best: the reference trial, when it was chosen elsewhere (the report picks it by the
            study's objective on validation data, so the test set is not used to select it);
            by default the trial with the best mean in ``mode``, ties to the lowest number.

    Returns:
        ``{trial: result}``: ``None`` for the best trial itself; otherwise the paired test of
        best minus trial (``mean_diff`` > 0 means the trial scored lower), *tied* when
        ``result.p_value >= alpha``. Trials sharing fewer than two utterances with the best
        are left out; ``{}`` when the reference has no scores.
    """
    sign = 1.0 if _maximises(mode) else -1.0
    means = {t: float(np.mean(list(s.values()))) for t, s in scores.items() if len(s)}
    if best is None:
        if not means:
            return {}
        best = max(means, key=lambda t: (sign * means[t], -t))
    elif best not in means:
        return {}
    out: dict[int, PairedResult | None] = {best: None}
    for t in means:
        if t != best:
            try:
                out[t] = paired_t_test(scores[best], scores[t])
            except ValueError:
                continue
    return out
