"""Where a launch's time goes (sweep.driver.phases): the set-up counts from the command's start, the
first trial's start is noted once and inside the trials phase, and the printed line says both."""

from __future__ import annotations

import time
from types import SimpleNamespace

from sweep.driver.phases import Phases, phase_line


def test_setup_counts_from_the_commands_start_and_is_noted_once() -> None:
    phases = Phases(started=time.perf_counter() - 2.0)
    phases.setup_done()
    phases.setup_done()  # a second call (none is made today) keeps the first
    assert 2.0 <= phases.seconds["setup"] < 3.0
    assert phases.as_dict()["total"] >= phases.as_dict()["setup"]


def test_the_first_trial_is_timed_from_the_trials_phase_and_only_the_first() -> None:
    phases = Phases()
    phases.first_trial_started()  # no trials phase yet: nothing to measure against
    assert "first_trial" not in phases.seconds
    with phases.time("trials"):
        time.sleep(0.05)
        phases.first_trial_started()
        time.sleep(0.05)
        phases.first_trial_started()
    assert 0.05 <= phases.seconds["first_trial"] < phases.seconds["trials"]


def test_the_line_gives_every_phase_in_order_and_the_first_trials_wait() -> None:
    trials = [SimpleNamespace(train_s=10.0, valid_s=1.0, eval_s=2.0), SimpleNamespace(train_s=None)]
    line = phase_line({"trials": 30.0, "setup": 4.25, "ray_start": 3.0, "first_trial": 5.5, "report": 0.5,
                       "total": 40.0}, trials)
    assert line == ("phases (s): setup 4.2, ray start 3.0, trials 30.0 (the first trial ran after 5.5), "
                    "report 0.5, per trial, summed over 1: train 9.0, validate 1.0, test 2.0, total 40.0")
