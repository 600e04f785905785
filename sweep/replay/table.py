"""The replay table: each recorded configuration's per-epoch curve.

A configuration is the study's searched knobs (Optuna's flat parameters, e.g. ``mask_type``,
``train.lr``). Its curve is one row per epoch: the objective (what ASHA and "best" use), the
validation SI-SNRi (which epoch's weights a trial is scored by, as the harness does) and the
epoch's seconds. Only complete trials have whole curves; they make the table.

A replayed sampler proposes only configurations the study ran: each knob is categorical over
its recorded values, so a table that is a full grid holds every proposal; in a partial table a
proposal that was not run is replaced by the recorded configuration agreeing with it on the
most knobs (ties: the lowest trial number), which :meth:`ReplayTable.snap` does.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweep.objective import Objective, parse_objective


@dataclass(frozen=True)
class Epoch:
    epoch: int
    objective: float
    valid_si_snri: float  # dB
    seconds: float  # this epoch's share of the trial's training time


@dataclass
class ReplayTable:
    """Recorded configurations (``knobs`` -> values) and their curves, with the study's objective."""

    objective: Objective
    knobs: list[str]
    configs: list[dict[str, Any]] = field(default_factory=list)
    curves: list[list[Epoch]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = {self._key(c): i for i, c in enumerate(self.configs)}

    def _key(self, config: dict[str, Any]) -> str:
        return json.dumps([config.get(k) for k in self.knobs], default=str)

    def add(self, config: dict[str, Any], curve: list[Epoch]) -> None:
        if curve and self._key(config) not in self._index:
            self._index[self._key(config)] = len(self.configs)
            self.configs.append({k: config.get(k) for k in self.knobs})
            self.curves.append(sorted(curve, key=lambda e: e.epoch))

    def values(self) -> dict[str, list[Any]]:
        """Each knob's recorded values, in first-seen order (the replayed sampler's choices)."""
        out: dict[str, list[Any]] = {k: [] for k in self.knobs}
        for c in self.configs:
            for k in self.knobs:
                if c[k] not in out[k]:
                    out[k].append(c[k])
        return out

    def snap(self, proposal: dict[str, Any]) -> int:
        """The index of ``proposal``, or of the recorded configuration that agrees with it on the most knobs."""
        hit = self._index.get(self._key(proposal))
        if hit is not None:
            return hit
        return max(range(len(self.configs)),
                   key=lambda i: (sum(self.configs[i][k] == proposal.get(k) for k in self.knobs), -i))

    def final_value(self, i: int, epochs: int | None = None) -> float:
        """The trial's value after ``epochs`` (default: all): the objective at its best-validation epoch."""
        run = self.curves[i][:epochs]
        best = max(run, key=lambda e: (e.valid_si_snri, -e.epoch))
        return best.objective

    def best_value(self) -> float:
        """What running every configuration to the end finds: the study's best."""
        return self.objective.best_value(self.final_value(i) for i in range(len(self.configs)))

    def full_cost(self) -> tuple[int, float]:
        """(epochs, seconds) of running every configuration to the end once."""
        return sum(len(c) for c in self.curves), sum(e.seconds for c in self.curves for e in c)

    # -- files and studies ------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """One CSV row per (configuration, epoch); the objective in a ``# objective:`` first line."""
        with open(path, "w", newline="") as f:
            f.write(f"# objective: {self.objective.mode} {self.objective.metric}\n")
            w = csv.writer(f)
            w.writerow(["config", *self.knobs, "epoch", "objective", "valid_si_snri", "seconds"])
            for i, (config, curve) in enumerate(zip(self.configs, self.curves)):
                for e in curve:
                    w.writerow([i, *(json.dumps(config[k]) for k in self.knobs), e.epoch, repr(e.objective),
                                repr(e.valid_si_snri), f"{e.seconds:.4f}"])

    @classmethod
    def load(cls, path: Path) -> "ReplayTable":
        with open(path, newline="") as f:
            first = f.readline()
            if not first.startswith("# objective:"):
                raise ValueError(f"{path}: not a replay table (its first line is not '# objective: ...')")
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        knobs = header[1:-4]
        grouped: dict[str, tuple[dict, list[Epoch]]] = {}
        for r in body:
            config = {k: json.loads(v) for k, v in zip(knobs, r[1:-4])}
            grouped.setdefault(r[0], (config, []))[1].append(
                Epoch(int(r[-4]), float(r[-3]), float(r[-2]), float(r[-1])))
        table = cls(parse_objective(first.split(":", 1)[1]), knobs)
        for config, curve in grouped.values():
            table.add(config, curve)
        return table

    @classmethod
    def from_study(cls, store, name: str) -> "ReplayTable":
        """The complete trials of study ``name`` (its searched knobs from the stored spec)."""
        from sweep.studies import spec_for_study

        spec = spec_for_study(store, name)
        trials, _, epochs = store.frames(name)
        table = cls(spec.objective, sorted(spec.searched()))
        done = trials[trials["status"] == "complete"].sort_values("number")
        for _, t in done.iterrows():
            rows = epochs[epochs["trial_id"] == t["id"]].sort_values("epoch")
            table.add(dict(t["params"]), _curve(rows, spec.objective))
        if not table.configs:
            raise ValueError(f"study {name} has no complete trial with recorded epochs to replay")
        return table


def _curve(rows, objective: Objective) -> list[Epoch]:
    """Epoch rows as a curve; an epoch's seconds are the difference of its ``elapsed_s``."""
    out, before = [], 0.0
    column = objective.metric if objective.metric in rows.columns else "valid_si_snri"
    for _, r in rows.iterrows():
        elapsed = float(r["elapsed_s"]) if r["elapsed_s"] is not None and not math.isnan(r["elapsed_s"]) else before
        out.append(Epoch(int(r["epoch"]), float(r[column]), float(r["valid_si_snri"]), max(elapsed - before, 0.0)))
        before = elapsed
    return out
