"""A real sweep: Ray Tune workers, Optuna in the same database (a SQLite file, or a PostgreSQL
server), our rows beside Optuna's."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep.driver.launch import launch
from sweep.spec import parse_spec
from sweep.store import Store
from tests.conftest import tiny_spec
from tests.test_postgres import postgres_url  # noqa: F401 - the module-scoped server fixture

pytestmark = pytest.mark.slow

STATE = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path) -> str:
    """The study's database: a SQLite file, or a database of its own on a PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sweep.db'}"
    server = request.getfixturevalue("postgres_url")
    return server.new_database(f"e2e_{uuid.uuid4().hex[:12]}")


def run(tmp_path: Path, text: str, name: str = "spec.yaml", url: str | None = None):
    path = tmp_path / name
    path.write_text(text)
    spec = parse_spec(text, str(path))
    url = url or f"sqlite:///{tmp_path / 'sweep.db'}"
    out = io.StringIO()
    outcome = launch(spec, url, out=out)
    return spec, url, outcome, out.getvalue()


def test_a_grid_sweep_stores_one_row_per_optuna_trial(tmp_path, tiny_data, ray_local, monkeypatch, storage_url):
    monkeypatch.setenv("SWEEP_RUNS", str(tmp_path / "ray"))
    spec, url, outcome, printed = run(tmp_path, tiny_spec(tiny_data, masks=("AM", "PSM", "NPSM")), url=storage_url)
    assert outcome.finished == outcome.planned == 3 and outcome.failed == 0
    assert "[3/3" in printed  # progress: done of planned

    ot = optuna.load_study(study_name="tiny", storage=url)
    store = Store(url)
    rows = {t.number: t for t in store.trials(store.study("tiny").id)}
    assert sorted(rows) == sorted(t.number for t in ot.trials)
    for t in ot.trials:
        row = rows[t.number]
        assert row.status == STATE[t.state]
        assert row.mask == t.params["mask_type"] == row.params["mask_type"]
        assert row.params["hidden_size"] == 32 and row.param_count > 0
        assert row.valid_si_snri == pytest.approx(t.value)
        assert row.epochs_done == 1 and row.wall_s > 0
        assert row.train_s > row.valid_s > 0 and row.eval_s > 0 and row.best_epoch == 1
        # The default policy keeps the best 3 trials' weights: all three here, without training state.
        assert row.checkpoint_epoch == 1 and row.checkpoint_bytes > 0
        assert Path(row.checkpoint_uri, "best.pt").is_file() and not Path(row.checkpoint_uri, "state.pt").exists()
    # Where the launch's time went, stored with the study.
    phases = store.study("tiny").phases
    assert set(phases) >= {"setup", "corpus", "oracle", "ray_start", "trials", "first_trial", "total"}
    assert 0 < phases["first_trial"] < phases["trials"] and 0 < phases["setup"] < phases["total"]
    assert outcome.phases.as_dict()["trials"] == phases["trials"]
    # the grid is covered exactly once
    assert sorted(t.params["mask_type"] for t in ot.trials) == ["AM", "NPSM", "PSM"]

    trials, results, epochs = store.frames("tiny")
    assert len(results) == 3 * 4  # closed/open x optimal/default per trial
    assert set(results["condition"]) == {"closed", "open"}
    assert set(results["assignment"]) == {"optimal", "default"}
    assert (results["n_utterances"] == 2).all()
    # Per-utterance scores travel in the final report and are stored (CIs, paired tests).
    utts = store.utterance_frame("tiny")
    assert len(utts) == 3 * 4 * 2
    assert set(utts["assignment"]) == {"optimal", "default"} and utts["utterance"].str.len().min() > 0
    assert ((utts.groupby(["number", "condition", "assignment"])["si_snri"].mean().reset_index()
             .merge(results.assign(number=results["trial_id"].map(dict(zip(trials["id"], trials["number"])))),
                    on=["number", "condition", "assignment"]).pipe(lambda m: (m["si_snri_x"] - m["si_snri_y"]).abs()))
            < 1e-9).all()
    # The uPIT study scored the oracle masks once on the same test utterances.
    oracle = store.oracle_frame(str(tiny_data.resolve()))
    assert len(oracle) == 2 * 4 and (oracle["n_utterances"] == 2).all()

    # Optuna's own CLI sees the study in our database.
    optuna_cli = Path(sys.executable).with_name("optuna")
    listed = subprocess.run([str(optuna_cli), "studies", "--storage", url], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "tiny" in listed.stdout

    # Launching the finished study again runs nothing.
    _, _, again, printed = run(tmp_path, tiny_spec(tiny_data, masks=("AM", "PSM", "NPSM")), url=storage_url)
    assert again.ran == 0 and "nothing to run" in printed
    assert len(optuna.load_study(study_name="tiny", storage=url).trials) == 3


def test_trials_that_asha_stops_early_are_pruned_not_complete(tmp_path, tiny_data, ray_local, monkeypatch):
    monkeypatch.setenv("SWEEP_RUNS", str(tmp_path / "ray"))
    text = tiny_spec(tiny_data, study="asha", masks=("PSM",), epochs=3, scheduler="asha", sampler="grid",
                     extra_train="  lr: {choice: [0.003, 1.0e-9, 2.0e-9, 3.0e-9]}").replace("  lr: 0.003\n", "")
    text = text.replace("scheduler: asha", "scheduler: {kind: asha, grace_period: 1, reduction_factor: 2}")
    spec, url, outcome, _ = run(tmp_path, text)
    ot = optuna.load_study(study_name="asha", storage=url)
    store = Store(url)
    rows = {t.number: t for t in store.trials(store.study("asha").id)}
    _, results, _ = store.frames("asha")
    pruned = [t for t in ot.trials if t.state == TrialState.PRUNED]
    assert pruned, "with one learning rate and three frozen ones ASHA stops at least one trial"
    for t in ot.trials:
        row = rows[t.number]
        assert row.status == STATE[t.state]
        if t.state == TrialState.PRUNED:
            assert row.epochs_done < 3
            assert results[results["trial_id"] == row.id].empty
        else:
            assert t.state == TrialState.COMPLETE and row.epochs_done == 3
    assert outcome.finished == 4


def test_a_cross_family_study_stores_each_variants_family_and_size(tmp_path, tiny_data, ray_local, monkeypatch):
    monkeypatch.setenv("SWEEP_RUNS", str(tmp_path / "ray"))
    text = tiny_spec(tiny_data, study="cross").split("params:")[0].replace("family: upit\n", "") + (
        "variants:\n"
        "  lstm-32: {family: upit, params: {rnn_type: lstm, num_layers: 1, hidden_size: 32}}\n"
        "  blstm-64: {family: upit, params: {rnn_type: blstm, num_layers: 1, hidden_size: 64}}\n"
        "train: {epochs: 1, segment_s: 0.5, batch_size: 4, max_eval_utterances: 2}\n"
        "objective: {metric: train_loss, mode: min}\n"
        "sampler: grid\n")
    spec, url, outcome, printed = run(tmp_path, text)
    assert outcome.finished == 2
    store = Store(url)
    rows = {r.params["variant"]: r for r in store.trials(store.study("cross").id)}
    # A minimised objective: Optuna, the outcome, the progress line and `sweep status` agree on the lowest loss.
    losses = {r.number: r.objective_value for r in rows.values()}
    ot = optuna.load_study(study_name="cross", storage=url)
    assert ot.direction == optuna.study.StudyDirection.MINIMIZE
    assert outcome.best == min(losses.values()) == pytest.approx(ot.best_value)
    assert ot.best_trial.number == min(losses, key=losses.get)
    assert f"best {min(losses.values()):.2f}" in printed.splitlines()[-1]
    status = subprocess.run([str(Path(sys.executable).with_name("sweep")), "status", "cross", "--storage", url],
                            capture_output=True, text=True, timeout=120)
    assert f"best train loss {min(losses.values()):.2f} (trial {ot.best_trial.number}:" in status.stdout
    assert rows["lstm-32"].family == rows["blstm-64"].family == "upit"
    assert rows["lstm-32"].params["hidden_size"] == 32 and rows["blstm-64"].params["rnn_type"] == "blstm"
    assert rows["lstm-32"].param_count < rows["blstm-64"].param_count
