"""The test-set metrics a trial reports, in one place.

Evaluation stores each :data:`TEST_METRICS` entry as a mean per (trial, condition, assignment)
in ``sweep_result`` and per utterance in ``sweep_utterance``; the store makes one column per
entry, and the report draws one block of columns per entry. Adding a reported metric is two
edits: compute it in :class:`sweep.scoring.metrics.UtteranceScores` and add a line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestMetric:
    """One reported test metric.

    Attributes:
        name: the attribute of :class:`~sweep.scoring.metrics.UtteranceScores` and the column name.
        label: how tables and plots name it.
        unit: ``'dB'`` for every metric so far.
        higher_is_better: the direction leaderboards sort in.
        summary: True if it is averaged into ``sweep_result`` and shown on leaderboards;
            False for per-utterance diagnostics only (SIR, SAR).
    """

    __test__ = False  # not a pytest class, despite the name

    name: str
    label: str
    unit: str = "dB"
    higher_is_better: bool = True
    summary: bool = True


TEST_METRICS: tuple[TestMetric, ...] = (
    TestMetric("si_snri", "SI-SNRi"),
    TestMetric("sdri", "SDRi"),
    TestMetric("sir", "SIR", summary=False),
    TestMetric("sar", "SAR", summary=False),
)


def summary_metrics() -> tuple[TestMetric, ...]:
    """The metrics leaderboards and ``sweep_result`` carry (SI-SNRi, SDRi)."""
    return tuple(m for m in TEST_METRICS if m.summary)


def get(name: str) -> TestMetric:
    for m in TEST_METRICS:
        if m.name == name:
            return m
    raise KeyError(f"unknown test metric {name!r} (known: {', '.join(m.name for m in TEST_METRICS)})")
