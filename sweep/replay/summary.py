"""What replayed searches say: best-so-far against compute (median and a 10-90% band over
seeds), and the compute each strategy needs to come within ``tolerance`` dB of the study's best,
as a fraction of running the full grid once."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from sweep.replay.run import Step
from sweep.replay.table import ReplayTable

TOLERANCE_DB = 0.3


@dataclass(frozen=True)
class Reach:
    """Compute (epochs) each seed needed to come within the tolerance; inf where it never did."""

    strategy: str
    epochs: list[float]
    full_epochs: int

    @property
    def reached(self) -> int:
        return sum(math.isfinite(e) for e in self.epochs)

    @property
    def median_fraction(self) -> float:
        """Median over seeds of the compute needed, as a fraction of the full grid's (inf if half never got there)."""
        return statistics.median(self.epochs) / self.full_epochs

    def line(self) -> str:
        med = self.median_fraction
        where = f"{statistics.median(self.epochs):.0f} epochs" if math.isfinite(med) else "not reached"
        return (f"{self.strategy}: within {TOLERANCE_DB} dB of the study's best after median {where} "
                f"({med:.3f} of the full grid's {self.full_epochs}); reached in {self.reached}/{len(self.epochs)} seeds")


def epochs_to_reach(steps: list[Step], table: ReplayTable, tolerance: float = TOLERANCE_DB) -> float:
    """The compute (epochs) after which the search's best is within ``tolerance`` of the table's best."""
    target = table.best_value()
    for s in steps:
        if s.best is not None and table.objective.key(s.best) >= table.objective.key(target) - tolerance:
            return float(s.epochs)
    return math.inf


def reach(strategy: str, runs: list[list[Step]], table: ReplayTable, tolerance: float = TOLERANCE_DB) -> Reach:
    return Reach(strategy, [epochs_to_reach(r, table, tolerance) for r in runs], table.full_cost()[0])


def band(runs: list[list[Step]], table: ReplayTable, points: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(compute grid in epochs, 10th percentile, median, 90th percentile) of best-so-far over seeds;
    before a seed's first complete trial its best is the table's worst final value."""
    top = max(r[-1].epochs for r in runs)
    grid = np.linspace(0, top, points)
    floor = min(table.final_value(i) for i in range(len(table.configs)))
    curves = []
    for r in runs:
        xs = np.array([s.epochs for s in r])
        ys = np.array([floor if s.best is None else s.best for s in r])
        idx = np.searchsorted(xs, grid, side="right") - 1
        curves.append(np.where(idx >= 0, ys[np.clip(idx, 0, None)], floor))
    arr = np.array(curves)
    return grid, np.percentile(arr, 10, axis=0), np.median(arr, axis=0), np.percentile(arr, 90, axis=0)


def figure_html(results: dict[str, list[list[Step]]], table: ReplayTable) -> str:
    """A self-contained HTML page: best so far against compute, one band per strategy."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, runs in results.items():
        x, lo, mid, hi = band(runs, table)
        fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 opacity=0.2, line={"width": 0}, name=f"{name} 10-90%", showlegend=False))
        fig.add_trace(go.Scatter(x=x, y=mid, mode="lines", name=f"{name} (median of {len(runs)} seeds)"))
    fig.add_hline(y=table.best_value() - TOLERANCE_DB, line_dash="dot",
                  annotation_text=f"study's best - {TOLERANCE_DB} dB")
    fig.update_layout(title="Replayed searches: best so far against compute", xaxis_title="compute (recorded epochs)",
                      yaxis_title=f"best {table.objective.label}", width=1100, height=560)
    return fig.to_html(include_plotlyjs=True, full_html=True)
