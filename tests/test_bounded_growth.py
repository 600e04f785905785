"""Bounded growth (benchmarks/bounded_growth.py) and what it stands on:

- ``SWEEP_PLUGINS`` imports families from outside ``sweep.models``, in a fresh process, after the
  built-in ones; a module that cannot be imported is an ImportError that names the variable;
- the benchmark's stub family keeps the Separator contract with a handful of parameters;
- ``sweep status`` lists the parameters that vary across a study (one pass per key);
- a short run of the benchmark through the real ``sweep launch`` finishes every trial (the stub
  family reaches the Ray workers) and ends with the line ``trials=N rss_start_mb=.. ...``;
- with ``--ray-address``, the plugin reaches the workers of a cluster started without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
LAST_LINE = re.compile(r"^trials=(\d+) rss_start_mb=([\d.]+) rss_end_mb=([\d.]+) status_s=([\d.]+) report_s=([\d.]+)$")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bounded_growth", BENCH / "bounded_growth.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module's annotations through it
    spec.loader.exec_module(module)
    return module


def plugin_env(plugins: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), env.get("PYTHONPATH", "")])
    env["SWEEP_PLUGINS"] = plugins
    return env


def test_sweep_plugins_adds_a_family_in_a_fresh_process() -> None:
    code = "from sweep import models; print(models.PLUGINS, sorted(models.FAMILIES)[-3:], 'stub' in models.FAMILIES)"
    done = subprocess.run([sys.executable, "-c", code], env=plugin_env(" stub_family ,"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("True"), done.stdout
    assert done.stdout.startswith("['stub_family']"), done.stdout


def test_sweep_plugins_naming_a_missing_module_fails_naming_the_variable() -> None:
    done = subprocess.run([sys.executable, "-c", "import sweep.models"], env=plugin_env("no_such_plugin_xyz"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "SWEEP_PLUGINS names module 'no_such_plugin_xyz'" in done.stderr.splitlines()[-1], done.stderr


@pytest.fixture()
def stub():
    """The stub family, registered for this test only (other tests see the built-in families)."""
    from sweep import models

    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("stub_family")
    finally:
        sys.path.remove(str(BENCH))
        models.FAMILIES.pop("stub", None)
        sys.modules.pop("stub_family", None)


@pytest.mark.parametrize("taps", [1, 2, 3, 8])
def test_the_stub_family_keeps_the_separator_contract(stub, taps: int) -> None:
    from sweep import models

    model = models.build("stub", {"taps": taps}, n_src=3)
    assert isinstance(model, models.Separator)
    assert model.param_count() == 3 * (taps + 1)
    for length in (1, 17, 1001):
        out = model(torch.randn(2, length))
        assert out.shape == (2, 3, length)
        loss = model.training_loss(torch.randn(2, length), torch.randn(2, 3, length))
        assert loss.dim() == 0 and torch.isfinite(loss)
    with pytest.raises(ValueError, match=r"mixture must be \[B, T\]"):
        model(torch.randn(100))
    with pytest.raises(ValueError, match=r"sources must be \[B, S, T\]"):
        model.training_loss(torch.randn(2, 100), torch.randn(2, 2, 100))


def test_the_stub_family_learns(stub) -> None:
    """A trial of it must produce a changing loss, or the benchmark measures nothing real."""
    from sweep import models

    torch.manual_seed(0)
    sources = torch.randn(4, 2, 800)
    sources[:, 1] = torch.nn.functional.avg_pool1d(sources[:, 1:2], 9, 1, 4)[:, 0] * 3  # low-passed
    mixture = sources.sum(1)
    model = models.build("stub", {"taps": 15})
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    first = float(model.training_loss(mixture, sources).detach())
    for _ in range(100):
        opt.zero_grad()
        loss = model.training_loss(mixture, sources)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first - 3.0, (first, float(loss.detach()))  # 3 dB of SI-SNR gained


def test_the_study_is_random_over_the_stub_family_two_at_a_time(stub) -> None:
    from sweep.spec import parse_spec

    spec = parse_spec(load_benchmark().spec_text(1000), "growth.yaml")
    assert (spec.family, spec.sampler, spec.n_trials, spec.max_concurrent) == ("stub", "random", 1000, 2)
    assert spec.dataset.kind == "default" and spec.train.max_eval_utterances == 2
    assert sorted(spec.searched()) == ["init_scale", "taps", "train.epochs", "train.lr"]


def test_status_names_the_parameters_that_vary() -> None:
    from sweep.cli import _varying_keys

    rows = [{"lr": 0.1, "taps": 3, "fixed": "a"}, {"lr": 0.2, "taps": 3, "fixed": "a"},
            {"lr": 0.1, "taps": 3, "fixed": "a", "extra": 1}]
    assert _varying_keys(rows) == ["extra", "lr"]
    assert _varying_keys([{"a": 1}] * 1000) == []
    assert _varying_keys([]) == []


def test_status_does_not_import_torch_or_pandas(tmp_path) -> None:
    """``sweep status`` must answer in under a second: it reads the database, nothing heavier."""
    from sweep.spec import parse_spec
    from sweep.store import Store
    from tests.conftest import tiny_spec

    url = f"sqlite:///{tmp_path / 'x.db'}"
    spec = parse_spec(tiny_spec(tmp_path), "spec.yaml")
    store = Store(url)
    study = store.ensure_study("tiny", spec)
    store.trial_queued(study.id, 0, spec.resolve_trial({"mask_type": "AM"}))
    code = (f"import sys; from sweep.cli import main; main(['status', 'tiny', '--storage', {url!r}]); "
            "print(sorted(m for m in ('torch', 'pandas', 'scipy', 'plotly', 'ray') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("tiny [upit, grid]: 0/2 finished"), done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


@pytest.mark.slow
def test_a_short_run_of_the_benchmark_ends_with_its_figures(tmp_path, tiny_data) -> None:
    bench = load_benchmark()
    shutil.copytree(tiny_data, bench.corpus_dir(tmp_path))  # the same corpus: no second build
    out = io.StringIO()
    figures = bench.run(20, tmp_path, out=out, per_round=8)
    lines = out.getvalue().strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match, lines[-1]
    assert int(match.group(1)) == 20 and figures["trials"] == 20
    assert [ln.split(" (")[0] for ln in lines[:3]] == [f"driver rss at {p} of trials" for p in ("10%", "50%", "100%")]
    assert any(ln.startswith("growth [stub, random]: 20/20 finished (20 complete") for ln in lines), lines
    assert 50 < figures["rss_start_mb"] < 4000 and 50 < figures["rss_end_mb"] < 4000
    assert 0 < figures["status_s"] < 30 and 0 < figures["report_s"] < 120
    assert (tmp_path / "growth.html").stat().st_size > 10_000
    # 20 trials in rounds of 8: three Tuner.fit() calls, each its own Tune run folder.
    assert sorted(p.name.rsplit("-", 1)[-1] for p in (tmp_path / "ray").iterdir() if p.is_dir()) == ["r0", "r1", "r2"]


@pytest.mark.parametrize("total, per_round, sizes", [(0, 5, []), (3, 5, [3]), (10, 5, [5, 5]), (11, 5, [5, 5, 1])])
def test_a_launch_runs_its_trials_in_rounds_of_tuner_fit(total: int, per_round: int, sizes: list[int]) -> None:
    from sweep.driver.rounds import round_sizes

    assert list(round_sizes(total, per_round)) == sizes


def test_the_round_size_comes_from_the_environment(monkeypatch) -> None:
    from sweep.driver.cluster import ResourceError
    from sweep.driver.rounds import ROUND_TRIALS, per_round

    monkeypatch.delenv("SWEEP_ROUND_TRIALS", raising=False)
    assert per_round() == ROUND_TRIALS
    monkeypatch.setenv("SWEEP_ROUND_TRIALS", "7")
    assert per_round() == 7
    monkeypatch.setenv("SWEEP_ROUND_TRIALS", "0")
    with pytest.raises(ResourceError, match="SWEEP_ROUND_TRIALS"):
        per_round()


@pytest.fixture
def ray_head():
    """A `ray start` head whose environment has neither SWEEP_PLUGINS nor PYTHONPATH; its address.
    Stopped by the ids of its own processes (their command lines name its temp folder)."""
    tmp = f"/tmp/rbg{os.getpid()}"  # Ray's socket paths must stay short
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("SWEEP_PLUGINS", "PYTHONPATH")}
    env["RAY_AUTH_MODE"] = "token"
    subprocess.run([str(Path(sys.executable).with_name("ray")), "start", "--head", "--port", str(port), "--num-cpus",
                    "2", "--include-dashboard", "false", "--node-ip-address", "127.0.0.1", "--temp-dir", tmp],
                   check=True, capture_output=True, env=env, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        signal, deadline = "-TERM", time.monotonic() + 60
        while (pids := _pids_naming(tmp)) and time.monotonic() < deadline:
            for pid in pids:
                subprocess.run(["kill", signal, str(pid)], capture_output=True)
            signal = "-KILL"  # Ray's head processes may outlive a SIGTERM
            time.sleep(2)
        shutil.rmtree(tmp, ignore_errors=True)


def _pids_naming(text: str) -> list[int]:
    """The processes whose command line contains ``text`` (``ww``: not cut at $COLUMNS, which pytest sets)."""
    ps = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [int(ln.split()[0]) for ln in ps.splitlines() if text in ln]


@pytest.mark.slow
def test_a_cluster_started_without_the_plugin_runs_its_family(tmp_path, tiny_data, ray_head) -> None:
    bench = load_benchmark()
    shutil.copytree(tiny_data, bench.corpus_dir(tmp_path))
    (tmp_path / "growth.yaml").write_text(bench.spec_text(2))
    env = {**bench.bench_env(tmp_path), "RAY_AUTH_MODE": "token"}
    done = subprocess.run([bench.SWEEP, "launch", "growth.yaml", "--storage", f"sqlite:///{tmp_path / 'g.db'}",
                           "--ray-address", ray_head], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "study growth: 2/2 finished, 0 failed" in done.stdout, done.stdout


def test_each_round_hands_tune_its_own_list_of_callbacks(monkeypatch) -> None:
    """Tune appends its own callbacks (a progress reporter that keeps every trial it saw) to the
    list it is given: a list shared by every round would carry them, and their trials, on."""
    from ray import tune

    from sweep.driver.rounds import Rounds

    seen: list[list] = []

    class FakeTuner:
        def __init__(self, trainable, tune_config, run_config) -> None:
            self.callbacks = run_config.callbacks
            seen.append(self.callbacks)

        def fit(self) -> None:
            self.callbacks.append(object())  # as Tune's _create_default_callbacks does

    monkeypatch.setattr(tune, "Tuner", FakeTuner)
    ours = [object(), object()]
    from ray.tune.search import Searcher

    rounds = Rounds("s", None, Searcher(metric="m", mode="max"), None, 2, ours, None, 0, "/tmp", per_round=3)
    assert rounds.run(7, lambda: False) == 3
    assert [len(c) for c in seen] == [3, 3, 3] and len(ours) == 2
