"""What a failed trial's stored reason says, from Ray's error text (first line: the cause)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sweep.driver.callbacks import error_text


def _trial(error: str):
    return SimpleNamespace(get_error=lambda: error, run_metadata=SimpleNamespace(error_filename=None), local_path=None)


TRACE = "Traceback (most recent call last):\n  File \"train.py\", line 3, in step\n"


@pytest.mark.parametrize("error, head", [
    (TRACE + "RuntimeError: [enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
     "memory: you tried to allocate 4294967296 bytes.", "out of memory: RuntimeError: [enforce fail"),
    (TRACE + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
     "out of memory: OutOfMemoryError: CUDA out of memory."),
    (TRACE + "MemoryError", "out of memory: MemoryError"),
    ("ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.",
     "the trial's worker process died (killed, or out of memory): ActorDiedError"),
    (TRACE + "FloatingPointError: training loss became nan at batch 3", "FloatingPointError: training loss became nan"),
])
def test_the_first_line_names_the_cause(error, head):
    text = error_text(_trial(error))
    assert text.splitlines()[0].startswith(head), text
    assert len(text) <= 2000 and "Traceback" in text or not error.startswith(TRACE)


def test_a_worker_that_left_no_error_says_so():
    assert error_text(_trial("")).startswith("the trial's worker stopped without an error message")
