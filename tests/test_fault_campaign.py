"""The CI subset of the fault campaign (benchmarks/fault_campaign.py): a killed Ray worker and a
corpus build killed halfway, each followed by `sweep resume` and checked for lost and duplicated
trials (rows 1:1 with Optuna's trials). A SIGKILL of the driver mid-epoch is tests/test_resume.py."""

from __future__ import annotations

import importlib.util
import io
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def load_campaign():
    spec = importlib.util.spec_from_file_location("fault_campaign", ROOT / "benchmarks" / "fault_campaign.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module's annotations through it
    spec.loader.exec_module(module)
    return module


def test_the_ci_faults_lose_and_duplicate_nothing(tmp_path, tiny_data):
    fc = load_campaign()
    data_dir = tmp_path / "data"  # the session's corpus is the campaign's shared one: no second build
    shutil.copytree(tiny_data, fc.default_corpus_name(data_dir))
    out = io.StringIO()
    results = fc.campaign(seed=0, only=["worker_kill", "corpus_halfway"], base=tmp_path, out=out)
    text = out.getvalue()
    assert text.strip().splitlines()[-1] == "faults=2 survived=2 lost=0 duplicated=0", text
    for r in results:
        assert r.lost == 0 and r.duplicated == 0 and r.survived, r.line()
    halfway = results[-1]
    assert halfway.hit and "rebuilt on resume" in halfway.note, halfway.line()
    assert results[0].hit, "no Ray worker of a running trial was found to kill"
