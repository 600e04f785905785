"""The GPU suite (benchmarks/gpu_suite.sh), kept working without a GPU:

- the packing study of ``k`` trials asks for ``1/k`` GPU each, and the spec accepts such a fraction;
- throughput is read from the trial rows (first start to last end);
- ``--dry-run`` runs all three parts on the CPU at tiny sizes and ends with its total time.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "benchmarks" / "gpu_suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("k, share", [(1, 1.0), (2, 0.5), (4, 0.25), (8, 0.125)])
def test_k_packed_trials_each_ask_for_a_kth_of_the_gpu(tmp_path, k: int, share: float) -> None:
    from sweep.spec import parse_spec

    spec = parse_spec(load_suite().packing_spec(k, tmp_path, epochs=2, utterances=4, gpu=True), "pack.yaml")
    assert spec.gpus_per_trial == share and spec.cpus_per_trial == 1.0
    assert spec.n_trials == k and spec.max_concurrent == k
    assert spec.grid_size() == k  # k replicates (seeds) of one configuration
    dry = parse_spec(load_suite().packing_spec(k, tmp_path, epochs=2, utterances=4, gpu=False), "pack.yaml")
    assert dry.gpus_per_trial == 0.0


def test_throughput_spans_the_first_start_to_the_last_end(tmp_path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE sweep_trial (started_at TEXT, finished_at TEXT, wall_s REAL, status TEXT)")
        c.executemany("INSERT INTO sweep_trial VALUES (?, ?, ?, ?)", [
            ("2026-01-01 10:00:00.000000", "2026-01-01 10:00:30.000000", 30.0, "complete"),
            ("2026-01-01 10:00:05.000000", "2026-01-01 10:00:45.000000", 40.0, "complete"),
            ("2026-01-01 09:00:00.000000", "2026-01-01 11:00:00.000000", 7200.0, "failed"),
        ])
    assert load_suite().trial_span(db) == (2, 45.0, 35.0)


@pytest.mark.slow
def test_the_dry_run_prints_every_part_and_its_total_time(tmp_path, tiny_data) -> None:
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), "--dry-run", "--data", str(tiny_data),
                           "--work", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    for pattern in (r"convtasnet:cpu\s+0\.\d+M\s+\d+\.\d", r"torchaudio ConvTasNet\s+0\.\d+M\s+\d+\.\d",
                    r"packing k=1: 1 trials in [\d.]+ s \([\d.]+ trials/min, 1\.00x of k=1",
                    r"packing k=2: 2 trials in [\d.]+ s \([\d.]+ trials/min, [\d.]+x of k=1",
                    r"scoring on cpu \(as the GPU\): \d+ ms per mixture", r"scoring on cpu: \d+ ms per mixture"):
        assert any(re.search(pattern, ln) for ln in lines), (pattern, lines)
    assert re.fullmatch(r"gpu_suite: total_s=\d+ budget_s=480 (within|OVER) dry_run=1", lines[-1]), lines[-1]
