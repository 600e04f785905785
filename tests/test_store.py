"""The store keeps what a resume needs and upgrades databases made by older versions."""

from __future__ import annotations

import sqlite3

from sweep.driver.launch import spec_for_study
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


def _old_database(db, dataset: str = "{}") -> None:
    """sweep_study as the first release wrote it (no `budget`, no `data_root`), and no other table."""
    with sqlite3.connect(db) as c:
        c.execute("create table sweep_study (id integer primary key, name varchar(200) unique, family varchar(64), "
                  "spec_path text, spec_yaml text, sampler varchar(16), scheduler varchar(16), n_trials integer, "
                  "seed integer, dataset text, objective varchar(64), created_at datetime, code_version varchar(64))")
        c.execute("insert into sweep_study (name, family, spec_path, spec_yaml, sampler, scheduler, n_trials, seed, "
                  "dataset, objective, code_version) values ('old', 'upit', 'x.yaml', 'study: old', 'tpe', 'none', "
                  "3, 0, ?, 'max valid_si_snri', '0.0.1')", (dataset,))
    c.close()


def test_an_older_database_gets_the_new_nullable_columns(tmp_path):
    db = tmp_path / "old.db"
    _old_database(db)
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
    from sweep.store.lease import beat, claim, release

    spec = load_spec(write(tmp_path, GOOD))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sid = store.ensure_study(spec.study, spec).id
    host = socket.gethostname()
    live = f"{host}:{os.getpid()}"  # this test process: certainly alive
    claim(store, sid, live)
    with pytest.raises(StudyBusy, match="being run by driver"):
        claim(store, sid, f"{host}:1234567")
    assert beat(store, sid, live) and not beat(store, sid, "someone-else:1")

    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid no longer names a process
    dead_pid = gone.pid
    release(store, sid, live)
    claim(store, sid, f"{host}:{dead_pid}")
    claim(store, sid, "elsewhere:42")  # its holder's process is gone: taking over needs no unlock
    with pytest.raises(StudyBusy):  # a driver on another host is judged by its heartbeat only
        claim(store, sid, "me:2")
    claim(store, sid, "me:2", stale_s=0.0)  # a heartbeat older than stale_s no longer holds it


def test_the_lease_beats_in_the_background_from_the_moment_it_is_claimed(tmp_path):
    import time

    from sweep.store import Lease, StudyRow

    spec = load_spec(write(tmp_path, GOOD))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sid = store.ensure_study(spec.study, spec).id
    with Lease(store, sid, "host:1", every_s=0.05) as lease:
        first = store.study("tiny").heartbeat_at
        time.sleep(0.3)  # no Tune loop runs here: only the lease's own thread can refresh it
        assert store.study("tiny").heartbeat_at > first and not lease.lost.is_set()
        with store.session() as s:  # another driver takes the study over
            s.get(StudyRow, sid).driver = "other:2"
            s.commit()
        time.sleep(0.3)
        assert lease.lost.is_set()
    assert store.study("tiny").driver == "other:2"  # a lost lease is not released over its new holder


def test_the_reproducibility_record_names_code_libraries_and_device(tmp_path):
    import torch

    spec = load_spec(write(tmp_path, GOOD))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    row = store.ensure_study(spec.study, spec)
    store.trial_queued(row.id, 0, spec.resolve_trial({"mask_type": "AM", "hidden_size": 32, "train.lr": 1e-3}))
    trial = store.trials(row.id)[0]
    for r in (row, trial):
        assert r.code_version.startswith("0.4.2") and r.code_dirty in (True, False)
        assert r.torch_version == torch.__version__ and r.optuna_version and r.ray_version
        assert r.device_name and r.device_name != "cpu"  # the CPU model, not the device type
    assert trial.mask == "AM" and trial.activation == "sigmoid" and trial.params["num_layers"] >= 1


def test_a_data_root_kept_in_json_by_older_releases_moves_into_its_column(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:
        c.execute("create table sweep_study (id integer primary key, name varchar(200) unique, family varchar(64), "
                  "spec_path text, spec_yaml text, sampler varchar(16), scheduler varchar(16), n_trials integer, "
                  "seed integer, dataset text, objective varchar(64), created_at datetime, code_version varchar(64))")
        c.execute("insert into sweep_study (name, family, spec_path, spec_yaml, sampler, scheduler, n_trials, seed, "
                  "dataset, objective, code_version) values ('old', 'upit', 'x.yaml', 'study: old', 'tpe', 'none', "
                  "3, 0, '{\"kind\": \"default\", \"data_root\": \"/data/c\"}', 'max valid_si_snri', '0.1.0')")
    row = Store(f"sqlite:///{db}").study("old")
    assert row.data_root == "/data/c" and "data_root" not in row.dataset


def test_opening_writes_nothing_and_a_reader_never_writes(tmp_path):
    import pytest

    from sweep.store.engine import StorageError

    db = tmp_path / "new.db"
    writer, reader = Store(f"sqlite:///{db}"), Store(f"sqlite:///{db}", write=False)
    assert writer.study("tiny") is None and writer.studies() == [] and reader.studies() == []
    assert not writer.exists() and list(tmp_path.iterdir()) == []  # reading created no database
    spec = load_spec(write(tmp_path, GOOD))
    with pytest.raises(StorageError, match="opened for reading only"):
        reader.ensure_study(spec.study, spec)
    assert not db.exists()
    sid = writer.ensure_study(spec.study, spec).id  # the first write creates it
    assert db.exists() and reader.study("tiny").id == sid and reader.counts(sid)["running"] == 0


def test_a_reader_reads_an_older_database_as_it_is(tmp_path):
    db = tmp_path / "old.db"
    _old_database(db, '{"kind": "default", "data_root": "/data/c"}')
    before = db.read_bytes()
    reader = Store(f"sqlite:///{db}", write=False)
    row = reader.study("old")  # the columns it lacks read as None; data_root still comes out of the JSON
    assert row.budget is None and row.driver is None and row.data_root == "/data/c" and "data_root" not in row.dataset
    assert [s.name for s in reader.studies()] == ["old"] and reader.trials(row.id) == []
    trials, results, epochs = reader.frames("old")
    assert len(trials) == 0 and "objective_value" in trials and len(reader.utterance_frame("old")) == 0
    assert len(reader.oracle_frame()) == 0 and reader.counts(row.id)["complete"] == 0
    assert db.read_bytes() == before  # no column added, no table created


def test_a_trial_continued_after_its_final_report_was_written_writes_its_test_rows_once(tmp_path):
    """The fault campaign's kill right after a trial's last epoch row: the resumed trial only tests
    again, and its second final report must replace the first's rows, not collide with them."""
    from sweep.spec import parse_spec
    from tests.conftest import tiny_spec

    spec = parse_spec(tiny_spec(tmp_path))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sid = store.ensure_study("tiny", spec).id
    store.trial_queued(sid, 0, spec.resolve_trial({"mask_type": "AM"}))
    row = {"condition": "closed", "assignment": "default", "n_utterances": 1, "si_snri": 1.0, "sdri": 1.5,
           "utterances": [{"name": "u1", "si_snri": 1.0, "sdri": 1.5}]}
    store.add_epoch(sid, 0, 1, 0.5, 1.0, 2.0)
    store.add_results(sid, 0, [row])
    store.restart_trial(sid, 0, None, after_epoch=1)  # the resume
    assert store.frames("tiny")[1].empty and store.utterance_frame("tiny").empty
    store.add_results(sid, 0, [row])
    store.add_results(sid, 0, [{**row, "si_snri": 2.0}])  # the same final report delivered twice
    results = store.frames("tiny")[1]
    assert list(results["si_snri"]) == [2.0] and len(store.utterance_frame("tiny")) == 1
    assert [e for e in store.frames("tiny")[2]["epoch"]] == [1]
