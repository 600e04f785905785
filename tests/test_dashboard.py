"""optuna-dashboard as the live UI: what the searcher tells Optuna about each trial (metric name,
test scores, size, wall time, why it ended) is what the real dashboard server serves.

The trials are told through :class:`sweep.driver.searcher.OptunaSearcher` with the reports a
worker sends (no training, no Ray runtime); the dashboard is the real ``optuna-dashboard``
console script of the ``[dashboard]`` extra, started on a free port of this machine.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep.driver.searcher import OptunaSearcher, open_study, optuna_storage, outcome_attrs
from sweep.spec import parse_spec
from tests.test_spec import GOOD

DASHBOARD = Path(sys.executable).with_name("optuna-dashboard")


def _final_report(valid: float) -> dict:
    """The last report of a trial, as :func:`sweep.worker.trial.run_plan` sends it through Tune
    (``time_total_s`` is Tune's)."""
    rows = [dict(condition=c, assignment=a, n_utterances=2, si_snri=base + 0.5 * (a == "optimal"),
                 sdri=base + 1.0 + 0.5 * (a == "optimal"))
            for c, base in (("closed", 6.0), ("open", 5.5)) for a in ("optimal", "default")]
    return {"epoch": 2, "train_loss": 0.1, "valid_si_snri": valid, "elapsed_s": 11.0, "param_count": 123_456,
            "final": True, "results": rows, "time_total_s": 12.25}


def test_outcome_attributes_say_how_a_trial_ended():
    attrs = outcome_attrs(_final_report(3.5), TrialState.COMPLETE, "valid_si_snri")
    assert attrs == {"test_si_snri_closed_optimal_db": 6.5, "test_si_snri_closed_default_db": 6.0,
                     "test_si_snri_open_optimal_db": 6.0, "test_si_snri_open_default_db": 5.5,
                     "test_sdri_closed_optimal_db": 7.5, "test_sdri_closed_default_db": 7.0,
                     "test_sdri_open_optimal_db": 7.0, "test_sdri_open_default_db": 6.5,
                     "param_count": 123_456, "wall_s": 12.25, "epochs": 2, "status_reason": "complete after 2 epochs"}
    pruned = outcome_attrs({"epoch": 1, "valid_si_snri": 1.0, "elapsed_s": 4.5}, TrialState.PRUNED, "valid_si_snri")
    assert pruned == {"wall_s": 4.5, "epochs": 1, "status_reason": "stopped early by the scheduler after epoch 1"}
    nan = outcome_attrs(dict(_final_report(math.nan), results=[]), TrialState.FAIL, "valid_si_snri")
    assert nan["status_reason"] == "valid_si_snri was not a finite number at the tested epoch"


@pytest.fixture
def finished(tmp_path) -> str:
    """A study's database with a complete, a pruned and a failed trial, told as the driver tells them."""
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    spec = parse_spec(GOOD, "spec.yaml")
    storage = optuna_storage(url)
    s = OptunaSearcher(open_study(spec, storage, spec.study), storage, spec, "/data/x", on_ask=lambda *a: None)
    for tid in ("a", "b", "c"):
        s.suggest(tid)
    s.on_trial_result("a", {"epoch": 1, "valid_si_snri": 2.0})
    s.on_trial_complete("a", _final_report(3.5))
    s.on_trial_complete("b", {"epoch": 1, "valid_si_snri": 0.5, "time_total_s": 3.0})
    s.on_trial_complete("c", error=True)
    s.tell_failure("c", "ValueError: exploded\nTraceback (most recent call last):\n  File x\nValueError: exploded")
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, deadline: float) -> object:
    """GET ``url`` as JSON, retrying while the server starts (until ``deadline``)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as res:
                return json.loads(res.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_optuna_dashboard_serves_our_metric_name_and_trial_attributes(finished: str):
    study = optuna.load_study(study_name="tiny", storage=finished)
    assert study.metric_names == ["valid_si_snri"]
    assert [t.user_attrs["status_reason"] for t in study.trials] == [
        "complete after 2 epochs", "stopped early by the scheduler after epoch 1", "ValueError: exploded"]

    port = _free_port()
    server = subprocess.Popen([str(DASHBOARD), finished, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/api"
        studies = _get(f"{base}/studies", time.monotonic() + 60)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        detail = _get(f"{base}/studies/{studies[0]['study_id']}", time.monotonic() + 10)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert detail["objective_names"] == ["valid_si_snri"] and detail["directions"] == ["maximize"]
    trials = {t["number"]: t for t in detail["trials"]}
    assert [trials[n]["state"] for n in range(3)] == ["Complete", "Pruned", "Fail"]
    attrs = {a["key"]: a["value"] for a in trials[0]["user_attrs"]}
    assert attrs["test_si_snri_closed_optimal_db"] == "6.5" and attrs["test_sdri_open_default_db"] == "6.5"
    assert (attrs["param_count"], attrs["wall_s"], attrs["status_reason"]) == ("123456", "12.25",
                                                                               "complete after 2 epochs")
    assert trials[0]["values"] == [3.5]
    assert {a["key"]: a["value"] for a in trials[2]["user_attrs"]} == {"status_reason": "ValueError: exploded"}
    assert {a["key"] for a in detail["union_user_attrs"]} >= {"test_si_snri_closed_default_db", "param_count",
                                                              "wall_s", "status_reason"}
