"""What a Python user expects of an installed package: a version, `python -m sweep`, metadata
and extras, and no top-level `models` package to collide with another project's."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import sweep

SWEEP = str(Path(sys.executable).with_name("sweep"))


def test_the_version_is_printed_by_the_command_and_by_python_m_sweep(tmp_path):
    for cmd in ([SWEEP, "--version"], [sys.executable, "-m", "sweep", "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == f"sweep {sweep.__version__}"


def test_the_families_install_as_sweep_models_and_not_as_a_top_level_models(tmp_path):
    code = ("import importlib.util, sweep.models as m; "
            "print(len(m.FAMILIES), importlib.util.find_spec('models') is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    count, no_top_level = out.stdout.split()
    assert int(count) >= 7 and no_top_level == "True"


def test_metadata_names_the_license_and_the_extras():
    meta = metadata("sweep-separation")
    assert meta["License-Expression"] == "Apache-2.0" and meta["Version"] == sweep.__version__
    assert {"postgres", "dashboard", "test"} <= set(meta.get_all("Provides-Extra"))
    assert (Path(__file__).resolve().parents[1] / "LICENSE").read_text().lstrip().startswith("Apache License")
