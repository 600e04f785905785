"""The test-phase benchmark (benchmarks/test_phase.py): uPIT's one-pass ``assignments`` against the
two-pass default, on the same model and utterances; it must find the same scores and end with
``shared_pass_speedup=<x>``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, tiny_spec


def test_a_quick_run_compares_both_paths_and_ends_with_the_ratio(tiny_data: Path, tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(tiny_spec(tiny_data))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "test_phase.py"), "--spec", str(spec),
                           "--reps", "1", "--utterances", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert "same scores to the last bit: yes" in done.stdout
    n_utterances = 2 * 2  # two conditions
    assert any(line.startswith("run 1 two passes: evaluate") and line.endswith(f"{2 * n_utterances} passes "
                                                                              "of the network)") for line in lines)
    assert any(line.startswith("run 1 one pass: evaluate") and line.endswith(f"{n_utterances} passes "
                                                                            "of the network)") for line in lines)
    assert re.fullmatch(r"shared_pass_speedup=\d+\.\d{3}", lines[-1])
