"""Harness overhead (benchmarks/harness_overhead.py): one trial through ``sweep launch`` and the same
trial as a bare loop over ``sweep.worker.trial.run_plan``. Both arms must be the same trial (same
test scores to the last digit the database keeps), and the last line must be ``overhead_fraction=<x>``."""

from __future__ import annotations

import importlib.util
import io
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_benchmark():
    spec = importlib.util.spec_from_file_location("harness_overhead", ROOT / "benchmarks" / "harness_overhead.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", ["full", "quick"])
def test_each_size_is_one_fixed_configuration(size: str) -> None:
    from sweep.spec import parse_spec

    spec = parse_spec(load_benchmark().spec_text(size), "overhead.yaml")
    assert spec.grid_size() == 1 and spec.n_trials == 1
    assert spec.family == "convtasnet" and spec.dataset.kind == "default"


def test_results_agree_only_when_every_row_matches() -> None:
    same = load_benchmark().same_results
    a = {"closed/default": 3.2, "open/default": 2.9}
    assert same(a, dict(a))
    assert not same(a, {"closed/default": 3.2, "open/default": 2.8})
    assert not same(a, {"closed/default": 3.2})


@pytest.mark.slow
def test_a_quick_run_compares_the_same_trial_and_ends_with_the_fraction(tmp_path, tiny_data) -> None:
    bench = load_benchmark()
    shutil.copytree(tiny_data, bench.corpus_dir(tmp_path, "quick"))  # the same corpus: no second build
    out = io.StringIO()
    figures = bench.run("quick", tmp_path, out=out)
    lines = out.getvalue().strip().splitlines()
    assert re.fullmatch(r"overhead_fraction=-?\d+\.\d{3}", lines[-1]), lines[-1]
    assert float(lines[-1].split("=")[1]) == pytest.approx(figures["overhead_fraction"], abs=1e-3)
    assert any(ln.startswith("run 1: same test SI-SNRi in both arms: yes") for ln in lines), lines
    phase_line = next(ln for ln in lines if ln.startswith("run 1: sweep launch's phases (s): setup "))
    assert "(the first trial ran after " in phase_line
    assert figures["bare_s"] > 0 and figures["harness_s"] > 0
    assert (tmp_path / "overhead.html").is_file()  # the harness arm went through the report too
