"""Multi-objective studies (quality against size) and constraints checked before training."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep.driver.searcher import make_sampler, open_study, optuna_storage
from sweep.objective import Objective, pareto_ranks
from sweep.spec import SpecError, parse_spec
from sweep.store import Store
from tests.conftest import tiny_spec

MULTI = ("objective:\n  - {metric: valid_si_snri, mode: max}\n  - {metric: param_count, mode: min}\n")
SWEEP = str(Path(sys.executable).with_name("sweep"))


def _sized(data: Path, sizes=(32, 64), extra: str = "") -> str:
    text = tiny_spec(data, study="mo", masks=("AM",)).replace("  hidden_size: 32",
                                                              f"  hidden_size: {{choice: {list(sizes)}}}")
    return text + MULTI + extra


def test_pareto_ranks_peel_fronts_in_each_objectives_direction():
    objs = (Objective("valid_si_snri", "max"), Objective("param_count", "min"))
    points = {0: (5.0, 100.0), 1: (4.0, 50.0), 2: (3.0, 200.0), 3: (5.0, 100.0), 4: (2.0, 60.0)}
    assert pareto_ranks(points, objs) == {0: 0, 1: 0, 3: 0, 2: 1, 4: 1}
    assert pareto_ranks({}, objs) == {}


def test_a_multi_objective_spec_opens_an_optuna_study_with_both_directions_and_names(tmp_path, tiny_data):
    spec = parse_spec(_sized(tiny_data), "mo.yaml")
    storage = optuna_storage(f"sqlite:///{tmp_path / 'o.db'}")
    study = open_study(spec, storage, "mo")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["valid_si_snri", "param_count"]
    single = parse_spec(tiny_spec(tiny_data, study="mo"), "single.yaml")
    with pytest.raises(SpecError, match="created with the objective"):
        open_study(single, storage, "mo")  # a study's objectives cannot change under it


@pytest.mark.parametrize("sampler, cls", [("tpe", optuna.samplers.TPESampler),
                                          ("nsga2", optuna.samplers.NSGAIISampler)])
def test_tpe_and_nsga2_run_multi_objective(tiny_data, sampler, cls):
    spec = parse_spec(_sized(tiny_data).replace("sampler: grid", f"sampler: {sampler}") + "n_trials: 4\n")
    assert isinstance(make_sampler(spec), cls) and spec.multi_objective


@pytest.mark.slow
def test_a_constrained_multi_objective_study_skips_the_oversized_model_and_stores_its_front(tmp_path, tiny_data):
    """Grid over two sizes (29,378 and 66,690 parameters) with max 50,000: one trains, one does not."""
    spec = tmp_path / "mo.yaml"
    spec.write_text(_sized(tiny_data, (32, 48, 64), "constraints: {param_count: {max: 5.0e4}}\n"))
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    env_runs = {"SWEEP_RUNS": str(tmp_path / "runs")}
    import os

    run = subprocess.run([SWEEP, "launch", str(spec), "--storage", url], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, env={**os.environ, **env_runs})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "infeasible: param_count 66,690 outside max 50000 (not trained)" in run.stderr
    store = Store(url)
    rows = {r.params["hidden_size"]: r for r in store.trials(store.study("mo").id)}
    big = rows[64]
    assert big.status == "infeasible" and big.param_count == 66690 and big.epochs_done == 0
    assert big.started_at is None or big.train_s is None  # never trained
    assert "param_count 66,690 outside max 50000" in big.error
    small = [rows[32], rows[48]]
    assert all(r.status == "complete" and r.pareto_rank is not None for r in small)
    assert min(r.pareto_rank for r in small) == 0 and big.pareto_rank is None
    study = optuna.load_study(study_name="mo", storage=url)
    by_size = {t.params["hidden_size"]: t for t in study.trials}
    assert by_size[64].state == TrialState.PRUNED and by_size[64].constraints == {"param_count": 16690.0}
    assert all(by_size[h].state == TrialState.COMPLETE and by_size[h].values[1] == rows[h].param_count
               for h in (32, 48))
    assert {t.number for t in study.best_trials} == {r.number for r in small if r.pareto_rank == 0}
    status = subprocess.run([SWEEP, "status", "mo", "--storage", url], capture_output=True, text=True, timeout=120)
    assert "3/3 finished (2 complete, 0 pruned, 1 infeasible)" in status.stdout, status.stdout
    assert "Pareto front (" in status.stdout and "parameters" in status.stdout
