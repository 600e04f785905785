"""The store keeps what a resume needs and upgrades databases made by older versions."""

from __future__ import annotations

import sqlite3

from sweep.launch import spec_for_study
from sweep.spec import load_spec
from sweep.store import Store
from tests.test_spec import GOOD, write


def test_a_study_remembers_its_budget_so_resume_rereads_the_same_spec(tmp_path):
    text = GOOD + "budgets:\n  cpu: {}\n  paper:\n    train: {epochs: 50}\n"
    spec = load_spec(write(tmp_path, text), budget="paper")
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.ensure_study(spec.study, spec)
    again = spec_for_study(store, "tiny-paper")
    assert again.budget == "paper" and again.train.epochs == 50 and again.study == "tiny-paper"


def test_an_older_database_gets_the_new_nullable_columns(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:  # sweep_study as the first release wrote it: no `budget`
        c.execute("create table sweep_study (id integer primary key, name varchar(200) unique, family varchar(64), "
                  "spec_path text, spec_yaml text, sampler varchar(16), scheduler varchar(16), n_trials integer, "
                  "seed integer, dataset text, objective varchar(64), created_at datetime, code_version varchar(64))")
        c.execute("insert into sweep_study (name, family, spec_path, spec_yaml, sampler, scheduler, n_trials, seed, "
                  "dataset, objective, code_version) values ('old', 'upit', 'x.yaml', 'study: old', 'tpe', 'none', "
                  "3, 0, '{}', 'max valid_si_snri', '0.0.1')")
    store = Store(f"sqlite:///{db}")
    row = store.study("old")
    assert row is not None and row.budget is None
    with sqlite3.connect(db) as c:
        assert "budget" in {r[1] for r in c.execute("pragma table_info(sweep_study)")}


def test_one_live_driver_per_study_and_a_dead_one_needs_no_unlock(tmp_path):
    import os
    import socket
    import subprocess

    import pytest

    from sweep.store import StudyBusy

    spec = load_spec(write(tmp_path, GOOD))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sid = store.ensure_study(spec.study, spec).id
    host = socket.gethostname()
    live = f"{host}:{os.getpid()}"  # this test process: certainly alive
    store.claim_study(sid, live)
    with pytest.raises(StudyBusy, match="being run by driver"):
        store.claim_study(sid, f"{host}:1234567")
    store.heartbeat(sid, live)

    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid no longer names a process
    dead_pid = gone.pid
    store.release_study(sid, live)
    store.claim_study(sid, f"{host}:{dead_pid}")
    store.claim_study(sid, "elsewhere:42")  # its holder's process is gone: taking over needs no unlock
    with pytest.raises(StudyBusy):  # a driver on another host is judged by its heartbeat only
        store.claim_study(sid, "me:2")
    store.claim_study(sid, "me:2", stale_s=0.0)  # a heartbeat older than stale_s no longer holds it
