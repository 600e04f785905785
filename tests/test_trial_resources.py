"""What a trial measures of its own cost: peak memory (per trial, though Ray reuses the worker
process), and a compiled model's compile time apart from its training time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sweep.worker.peaks import PeakMemory
from sweep.worker.train import Stopwatch, train_epoch


def test_peak_rss_follows_an_allocation_and_resets_for_the_next_trial():
    peaks = PeakMemory(torch.device("cpu"))
    base = peaks.read()["peak_rss_mb"]
    block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
    high = peaks.read()["peak_rss_mb"]
    assert high >= base + 250, (base, high)
    del block
    peaks.reset()  # the next trial in the same worker process starts from what is resident now
    assert peaks.read()["peak_rss_mb"] < high - 250
    assert "peak_gpu_mb" not in peaks.read()  # GPU figures on CUDA only
    peaks.close()


def test_a_resumed_trial_keeps_the_peak_of_its_earlier_run():
    peaks = PeakMemory(torch.device("cpu"), earlier={"peak_rss_mb": 1e6, "peak_gpu_mb": 5.0})
    assert peaks.read() == {"peak_rss_mb": 1e6, "peak_gpu_mb": 5.0}
    peaks.close()


def test_the_first_step_of_an_epoch_is_timed_apart_for_compile_time():
    model = torch.nn.Linear(8, 8)
    batches = [(torch.randn(4, 8), torch.randn(4, 1, 8), None) for _ in range(3)]
    model.training_loss = lambda mix, src: (model(mix) - src[:, 0]).pow(2).mean()
    first: list[float] = []
    clock = Stopwatch()
    clock.time("train", train_epoch, model, batches, torch.optim.SGD(model.parameters(), 0.1), 0.0,
               torch.device("cpu"), first_step_s=first)
    assert len(first) == 1 and 0 < first[0] <= clock.seconds["train"]
    total = clock.seconds["train"]
    clock.move("train", "compile", first[0])
    assert clock.seconds["compile"] == first[0]
    assert clock.seconds["train"] + clock.seconds["compile"] == pytest.approx(total)


def test_a_trial_reports_its_peak_memory_and_no_compile_time_when_not_compiled(tmp_path, tiny_data):
    from sweep.spec import parse_spec
    from sweep.worker.trial import run_plan
    from tests.conftest import tiny_spec

    plan = parse_spec(tiny_spec(tiny_data, masks=("PSM",), epochs=2)).resolve_trial({}, str(tiny_data))
    reports: list[dict] = []
    run_plan(plan, lambda m, folder=None: reports.append(m))
    assert all(r["peak_rss_mb"] > 50 for r in reports)  # torch alone is more than that
    assert reports[-1]["compile_s"] is None and reports[-1]["train_s"] > 0
