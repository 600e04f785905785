"""What a study searches for: its objective(s) and its constraints.

``objective: valid_si_snri``, ``{metric: valid_si_snri, mode: max}``, or a list of such for a
multi-objective study, e.g.::

    objective:
      - {metric: valid_si_snri, mode: max}   # first: an epoch metric (ASHA stops on it; "best" ranks by it)
      - {metric: param_count, mode: min}     # then: trial metrics, known once the model is built

``constraints: {param_count: {max: 1.0e6}}``: a configuration whose model breaks a constraint is
known before training (counting parameters takes milliseconds); it is recorded as infeasible
with its count, told to Optuna as pruned with the constraint's violation
(``Trial.set_constraint``, which TPE learns from), counts as a finished trial, and costs no
training time.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from sweep.objective import EPOCH_METRICS, METRICS, MODES, TRIAL_METRICS, Objective
from sweep.spec_nodes import Reader

MAX_OBJECTIVES = 3  # what sweep_study.objective's 64 characters hold
CONSTRAINED = {"param_count": "parameters"}  # metric -> what it counts


@dataclass(frozen=True)
class Constraint:
    """``metric`` must lie in [low, high] (a bound of None: unbounded)."""

    metric: str
    low: float | None = None
    high: float | None = None

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bounds (0 or less: satisfied), Optuna's convention."""
        over = value - self.high if self.high is not None else float("-inf")
        under = self.low - value if self.low is not None else float("-inf")
        return max(over, under)

    def describe(self, value: float) -> str:
        bounds = " and ".join(f"{k} {v:g}" for k, v in (("min", self.low), ("max", self.high)) if v is not None)
        return f"{self.metric} {value:,.0f} outside {bounds}"


def parse_objectives(r: Reader, top: dict) -> tuple[Objective, ...]:
    """The spec's objectives: one, or a list whose first is an epoch metric."""
    if "objective" not in top:
        return (Objective(),)
    node = top["objective"][1]
    if not isinstance(node, yaml.SequenceNode):
        return (_one(r, node, "objective", EPOCH_METRICS),)
    if not node.value:
        raise r.fail(node, "objective", "an empty list: name at least one metric")
    if len(node.value) > MAX_OBJECTIVES:
        raise r.fail(node, "objective", f"at most {MAX_OBJECTIVES} objectives, got {len(node.value)}")
    out = [_one(r, item, f"objective[{i}]", EPOCH_METRICS if i == 0 else TRIAL_METRICS)
           for i, item in enumerate(node.value)]
    if len({o.metric for o in out}) != len(out):
        raise r.fail(node, "objective", "a metric is listed twice")
    return tuple(out)


def _one(r: Reader, node: yaml.Node, key: str, allowed: dict) -> Objective:
    """``METRIC`` or ``{metric: METRIC, mode: max|min}`` from ``allowed``."""
    metric, mode, mnode = Objective().metric, None, node
    if isinstance(node, yaml.ScalarNode):
        metric = r.scalar(node, key, str)
    else:
        items = r.mapping(node, key)
        r.check_keys(items, {"metric", "mode"}, key)
        if "metric" in items:
            mnode = items["metric"][1]
            metric = r.scalar(mnode, f"{key}.metric", str)
        if "mode" in items:
            mode = r.scalar(items["mode"][1], f"{key}.mode", str)
            if mode not in MODES:
                raise r.fail(items["mode"][1], f"{key}.mode", "must be 'max' or 'min'")
    if metric not in allowed:
        where = "the first objective is an epoch metric" if allowed is EPOCH_METRICS else \
            "objectives after the first are trial metrics"
        known = ", ".join(allowed) if metric not in METRICS else f"{where}: {', '.join(allowed)}"
        raise r.fail(mnode, key, f"unknown metric {metric!r} (known: {known})" if metric not in METRICS
                     else f"{metric!r} cannot be here ({known})")
    return Objective(metric, mode or METRICS[metric][2])


def parse_constraints(r: Reader, top: dict) -> tuple[Constraint, ...]:
    """``constraints: {param_count: {min: N, max: N}}``."""
    if "constraints" not in top:
        return ()
    items = r.mapping(top["constraints"][1], "constraints")
    r.check_keys(items, set(CONSTRAINED), "constraints")
    out = []
    for metric, (_, vnode) in items.items():
        key = f"constraints.{metric}"
        bounds = r.mapping(vnode, key)
        r.check_keys(bounds, {"min", "max"}, key)
        if not bounds:
            raise r.fail(vnode, key, "give min, max or both")
        low, high = (_number(r, bounds[b][1], f"{key}.{b}") if b in bounds else None for b in ("min", "max"))
        for b, v in (("min", low), ("max", high)):
            if v is not None and v < 0:
                raise r.fail(bounds[b][1], f"{key}.{b}", f"must be >= 0, got {v!r}")
        if low is not None and high is not None and low > high:
            raise r.fail(vnode, key, f"min {low:g} is above max {high:g}")
        out.append(Constraint(metric, None if low is None else float(low), None if high is None else float(high)))
    return tuple(out)


def _number(r: Reader, node: yaml.Node, key: str) -> float:
    """A finite number; also ``1.0e6``, which YAML 1.1 reads as a string (it wants ``1.0e+6``)."""
    if isinstance(node, yaml.ScalarNode) and isinstance(r.value(node, key), str):
        try:
            value = float(node.value)
        except ValueError:
            raise r.fail(node, key, f"expected a number, got {node.value!r}") from None
        r.finite(node, key, value)
        return value
    return float(r.scalar(node, key, (int, float)))
