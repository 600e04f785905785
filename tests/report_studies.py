"""Finished studies for the report, compare and export tests, written without training.

Rows go through the Store's public methods as the driver writes them (tests/test_report.py's
:class:`Study`), with start and finish times, per-utterance scores and real parameter counts
where a test needs them. :func:`rich_study` is built so that the rules under test give answers
that differ from the tempting wrong ones:

=====  ========  ======================  ======  ============  ================================
trial  status    valid SI-SNRi by epoch  params  test SI-SNRi  why
=====  ========  ======================  ======  ============  ================================
0      complete  2, 4, 6                 200k    5.0           on the front
1      complete  3, 5, 7.5               800k    6.0           best on validation, on the front
2      complete  1, 2, 3                 100k    7.0           the smallest: on the front
3      complete  2, 3, 4                 300k    8.0           best on test, dominated by 0
4      complete  4, 6, 7.5               900k    6.0           ties 1 on validation (1 wins: the
                                                               lower number) and on test
5      failed    1                       -       -             a driver-style error text
6      pruned    0.5                     -       -             stopped after epoch 1
7      running   2.5                     -       -
=====  ========  ======================  ======  ============  ================================

Test SI-SNRi: closed condition, default assignment (the scatter's); optimal is 1 dB higher and
the open condition 0.5 dB lower. Trial ``i`` starts ``10 i`` minutes after the first and runs for 8 minutes.
"""

from __future__ import annotations

import datetime as dt

from sweep.store import COMPLETE, FAILED, PRUNED, RUNNING, Store
from tests.test_report import XSS, Study

RICH_YAML = """study: {name}
family: upit
sampler: tpe
n_trials: 10
params:
  mask_type: {{choice: [AM, PSM, NPSM]}}
  activation: {{choice: [softmax, sigmoid, relu, tanh]}}
  hidden_size: {{int: [32, 256], log: true}}
  num_layers: 2
train:
  epochs: 3
  lr: {{log_float: [1.0e-4, 1.0e-2]}}
"""
T0 = dt.datetime(2026, 1, 5, 9, 0, 0)
SPREAD = [-1.0, 0.5, 1.5, -0.5, 0.0, -0.5]  # mean 0: per-utterance offsets around a trial's mean
FAILURE = ("RuntimeError: CUDA out of memory " + XSS + "\nTraceback (most recent call last):\n"
           '  File "sweep/worker/trial.py", line 80, in run_plan\nRuntimeError: CUDA out of memory')


def results(si: float, sdri: float, spread: list[float] = SPREAD) -> list[dict]:
    """Closed/open x optimal/default rows; optimal = default + 1 dB, open = closed - 0.5 dB; every
    row carries per-utterance SI-SNRi and SDRi (mean = the row's value)."""
    out = []
    for cond, d in (("closed", 0.0), ("open", 0.5)):
        for assign, a in (("optimal", 1.0), ("default", 0.0)):
            s, q = si + a - d, sdri + a - d
            utts = [{"name": f"u{i}", "si_snri": s + x, "sdri": q + x, "sir": 20.0, "sar": 15.0}
                    for i, x in enumerate(spread)]
            out.append(dict(condition=cond, assignment=assign, si_snri=s, sdri=q, n_utterances=len(spread),
                            utterances=utts))
    return out


def _timed(st: Study, number: int, done: bool = True) -> None:
    start = T0 + dt.timedelta(minutes=10 * number)
    st.store.update_trial(st.id, number, started_at=start,
                          finished_at=start + dt.timedelta(minutes=8) if done else None)


def rich_study(store: Store, name: str = "rich") -> Study:
    """The study of the table above, in ``store``."""
    st = Study(store, RICH_YAML.format(name=name))
    near = [x + (0.1 if i % 2 else -0.15) for i, x in enumerate(SPREAD)]  # 0.025 dB below: a tie
    complete = [
        (0, [2.0, 4.0, 6.0], 200_000, results(5.0, 6.5), dict(mask_type="PSM", activation="relu", hidden_size=64)),
        (1, [3.0, 5.0, 7.5], 800_000, results(6.0, 7.5), dict(mask_type="AM", activation="softmax", hidden_size=128)),
        (2, [1.0, 2.0, 3.0], 100_000, results(7.0, 8.5), dict(mask_type="NPSM", activation="tanh", hidden_size=32)),
        (3, [2.0, 3.0, 4.0], 300_000, results(8.0, 9.5), dict(mask_type="PSM", activation="sigmoid", hidden_size=64)),
        (4, [4.0, 6.0, 7.5], 900_000, results(6.0, 7.5, near), dict(mask_type="AM", activation="relu", hidden_size=256)),
    ]
    for number, valid, size, rows, knobs in complete:
        st.add(number, COMPLETE, valid, rows, **knobs, **{"train.lr": 1e-3 * (number + 1)})
        st.store.update_trial(st.id, number, param_count=size)
        _timed(st, number)
    st.add(5, FAILED, [1.0], error=FAILURE, mask_type="AM", activation="tanh", hidden_size=64, **{"train.lr": 1e-3})
    st.add(6, PRUNED, [0.5], mask_type="NPSM", activation="relu", hidden_size=32, **{"train.lr": 1e-4})
    st.add(7, RUNNING, [2.5], mask_type="PSM", activation="softmax", hidden_size=128, **{"train.lr": 2e-3})
    for number in (5, 6):
        _timed(st, number)
    _timed(st, 7, done=False)
    return st


def paper_study(store: Store, name: str = "rich-paper") -> Study:
    """A second study with the same keys (as a ``paper`` budget would be): two keys it shares
    with :func:`rich_study` (trials 1 and 3 there) and one of its own."""
    st = Study(store, RICH_YAML.format(name=name))
    rows = [
        (0, [9.0], results(9.5, 10.0), dict(mask_type="AM", activation="softmax", hidden_size=128), 2e-3),
        (1, [8.0], results(10.0, 10.5), dict(mask_type="PSM", activation="sigmoid", hidden_size=64), 4e-3),
        (2, [5.0], results(4.0, 4.5), dict(mask_type="NPSM", activation="sigmoid", hidden_size=32), 1e-3),
    ]
    for number, valid, res, knobs, lr in rows:
        st.add(number, COMPLETE, valid, res, **knobs, **{"train.lr": lr})
        _timed(st, number)
    return st
