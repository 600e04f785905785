"""Replay: searches "train" by reading recorded curves; a real sampler and a real ASHA decide."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from sweep.objective import Objective
from sweep.replay.run import replay
from sweep.replay.summary import epochs_to_reach, reach
from sweep.replay.table import Epoch, ReplayTable
from sweep.spec import parse_spec
from sweep.store import Store
from tests.conftest import tiny_spec

SWEEP = str(Path(sys.executable).with_name("sweep"))


def _table(n_lr: int = 4, epochs: int = 8) -> ReplayTable:
    """mask x lr; each curve rises to a plateau set by its configuration (AM best at lr index 2)."""
    table = ReplayTable(Objective(), ["mask_type", "train.lr"])
    for m, mask in enumerate(["AM", "PSM", "NPSM"]):
        for k in range(n_lr):
            top = 6.0 - m - abs(k - 2)  # the best: AM at lr index 2, 6 dB
            curve = [Epoch(e, top * (1 - 0.5 ** e), top * (1 - 0.5 ** e), 2.0) for e in range(1, epochs + 1)]
            table.add({"mask_type": mask, "train.lr": 10.0 ** -(k + 2)}, curve)
    return table


def test_a_grid_replay_runs_every_configuration_once_and_costs_the_full_grid():
    table = _table()
    steps = replay(table, "grid", "none", seed=3)
    assert sorted(s.config for s in steps) == list(range(12))
    assert steps[-1].epochs == table.full_cost()[0] == 96 and steps[-1].seconds == pytest.approx(192.0)
    assert steps[-1].best == pytest.approx(table.best_value()) == pytest.approx(6.0 * (1 - 0.5 ** 8))
    assert [s.best for s in replay(table, "grid", "none", seed=3)] == [s.best for s in steps]  # seeded


def test_asha_stops_poor_curves_early_so_the_same_trials_cost_less():
    table = _table()
    plain = replay(table, "random", "none", seed=0)
    stopped = replay(table, "random", "asha", seed=0)
    assert [s.config for s in plain] == [s.config for s in stopped]  # same proposals: random ignores results
    assert stopped[-1].epochs < plain[-1].epochs
    assert any(b.epochs - a.epochs < 8 for a, b in zip(stopped, stopped[1:]))  # some trial ran < 8 epochs


def test_compute_to_reach_counts_epochs_until_the_best_is_within_the_tolerance():
    table = _table()
    steps = replay(table, "grid", "none", seed=1)
    target = table.best_value() - 0.3
    first = next(s for s in steps if s.best is not None and s.best >= target)
    assert epochs_to_reach(steps, table) == first.epochs
    assert epochs_to_reach(steps[:1], table) in (8.0, math.inf)
    r = reach("grid", [steps, steps], table)
    assert r.reached == 2 and r.median_fraction == first.epochs / 96
    assert "reached in 2/2 seeds" in r.line()


def test_a_partial_table_snaps_a_proposal_to_the_closest_recorded_configuration():
    table = _table()
    assert table.snap({"mask_type": "PSM", "train.lr": 1e-2}) == 4
    assert table.snap({"mask_type": "PSM", "train.lr": 5.0}) == 4  # agrees on mask only: the first PSM row


def test_a_table_saves_and_loads_unchanged(tmp_path):
    table = _table(n_lr=2, epochs=3)
    table.save(tmp_path / "t.csv")
    again = ReplayTable.load(tmp_path / "t.csv")
    assert again.knobs == table.knobs and again.configs == table.configs and again.curves == table.curves
    assert again.objective == table.objective


def test_a_study_s_complete_trials_make_its_table_and_the_cli_replays_it(tmp_path, tiny_data):
    spec = parse_spec(tiny_spec(tiny_data, masks=("AM", "PSM", "NPSM"), epochs=3))
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    sid = store.ensure_study("tiny", spec).id
    for n, mask in enumerate(["AM", "PSM", "NPSM"]):
        store.trial_queued(sid, n, spec.resolve_trial({"mask_type": mask}))
        for e in (1, 2, 3):
            store.add_epoch(sid, n, e, 1.0, float(n + e), 10.0 * e, objective_value=float(n + e))
        store.update_trial(sid, n, status="complete" if n < 2 else "failed")
    table = ReplayTable.from_study(store, "tiny")
    assert table.knobs == ["mask_type"] and table.configs == [{"mask_type": "AM"}, {"mask_type": "PSM"}]
    assert [e.seconds for e in table.curves[0]] == [10.0, 10.0, 10.0]
    out = subprocess.run([SWEEP, "replay", "tiny", "--storage", url, "--sampler", "grid", "--seeds", "3",
                          "--save-table", str(tmp_path / "t.csv"), "-o", str(tmp_path / "r.html")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "table: 2 configurations, full grid 6 epochs" in out.stdout and "reached in 3/3 seeds" in out.stdout
    assert (tmp_path / "r.html").stat().st_size > 10_000 and ReplayTable.load(tmp_path / "t.csv").configs
    bad = subprocess.run([SWEEP, "replay", "nope", "--storage", url], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_the_search_efficiency_benchmark_replays_the_shipped_grid_and_prints_its_fractions():
    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "search_efficiency.py"
    out = subprocess.run([sys.executable, str(bench), "--seeds", "2", "--trials", "30"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("table replay_grid.csv: 96 configurations, full grid 576 epochs")
    assert [ln.split(":")[0] for ln in lines[1:5]] == ["grid", "random", "tpe", "tpe+asha"]
    last = dict(kv.split("=") for kv in lines[-1].split())
    assert set(last) == {"tpe_asha_compute_fraction", "random_compute_fraction"}
    assert all(float(v) > 0 for v in last.values())  # inf when half the seeds never got there
