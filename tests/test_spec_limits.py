"""A spec cannot ask for more than a machine has, nor for values that crash a trial later.

Each bound of :mod:`sweep.spec_limits` is refused with a located error (``file:line: key: ...``)
in well under a second, before anything is expanded, listed or written.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import sweep.models  # noqa: F401  (imported once here: torch's import is not what the timings bound)
from sweep.spec import SpecError, load_spec, parse_spec
from sweep.spec_limits import MAX_DEPTH, MAX_GRID_POINTS, MAX_NODES, MAX_TRIALS
from sweep.store.tables import NAME_LENGTH
from tests.test_spec import GOOD

REPLICATES = "study: x\nfamily: upit\nparams: {}\n"  # nothing searched: replicates of one configuration


def refused(text: str, budget: str | None = None) -> SpecError:
    """The SpecError of ``text``, which must come in well under a second."""
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml", budget)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.2f} s to refuse: {info.value}"
    assert str(info.value).startswith("s.yaml:") and "\n" not in str(info.value)
    return info.value


def laughs(levels: int = 9, width: int = 9) -> list[str]:
    """Nested anchors, each a list of ``width`` aliases of the one before: width**levels leaves."""
    lines = ["- &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"- &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return lines


# -- 1. specs that would exhaust memory or never finish validating --------------------------------

@pytest.mark.parametrize("where", ["choice", "description"])
def test_an_alias_bomb_is_refused_before_anything_is_expanded(where):
    """Billion laughs: 9**9 leaves. As choices, the parser before the bounds built them all (``repr``)."""
    if where == "choice":
        text = REPLICATES.replace("params: {}", "params:\n  mask_type:\n    choice:\n") + \
            "".join(f"      {line}\n" for line in laughs())
        key = "params.mask_type.choice"
    else:  # never read by the parser, yet refused: the bound is on the document
        text = REPLICATES + "description:\n" + "".join(f"  {line}\n" for line in laughs())
        key = "description"
    err = refused(text)
    assert err.key == key and f"more than {MAX_NODES} YAML nodes" in err.message, str(err)
    assert err.line is not None and err.line <= text.count("\n")


def test_an_alias_inside_its_own_anchor_is_refused():
    err = refused(REPLICATES + "description: &a [x, *a]\n")
    assert (err.line, err.key) == (4, "description") and "contains it" in err.message


def test_aliases_within_the_bound_still_share_blocks():
    text = GOOD.replace("  epochs: 2", "  epochs: &e 2") + "budgets:\n  cpu: {}\n  paper: {train: {epochs: *e}}\n"
    assert parse_spec(text, "s.yaml", "paper").train.epochs == 2


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_deep_nesting_is_a_spec_error_not_a_recursion_error(opening):
    if opening == "- ":  # block nesting: one level per line
        text = REPLICATES + "description:\n" + "".join("  " * i + "- \n" for i in range(200))
    else:
        text = REPLICATES + "description: " + opening * 10_000 + "\n"
    err = refused(text)
    assert err.line is not None and ("nested deeper" in err.message or "nesting depth" in err.message), str(err)


def test_nesting_up_to_the_bound_is_fine():
    text = REPLICATES + "description: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n"
    assert parse_spec(text, "s.yaml").n_trials == 1


@pytest.mark.parametrize("train, key, points", [
    ("  max_train_mixtures: {int: [1, 1000000000]}\n", "train.max_train_mixtures", 2 * 10**9),
    ("  batch_size: {int: [1, 4096]}\n  num_threads: {int: [1, 256]}\n", "train.batch_size", 2 * 4_096 * 256),
    ("  max_eval_utterances: {int: [1, 100000000000000000000]}\n", "train.max_eval_utterances", 2 * 10**20),
])
def test_a_grid_is_counted_by_arithmetic_and_bounded(train, key, points):
    """Before the bounds every range was listed to count the grid (10**9 ints: out of memory)."""
    text = GOOD.replace("sampler: tpe\nn_trials: 3\n", "sampler: grid\n").replace(
        "  lr: {log_float: [1.0e-4, 1.0e-2]}\n", train).replace("{int: [32, 96], step: 32}", "64")
    err = refused(text)
    assert err.key == key and f"the grid has {points} points" in err.message, str(err)


def test_a_grid_of_exactly_the_bound_is_allowed():
    text = REPLICATES + f"train: {{max_train_mixtures: {{int: [1, {MAX_GRID_POINTS}]}}}}\nsampler: grid\n"
    assert parse_spec(text, "s.yaml").n_trials == MAX_GRID_POINTS


@pytest.mark.parametrize("text", [
    REPLICATES + "n_trials: 1000000000000\n",  # replicates: before the bounds, range(10**12) was listed
    GOOD.replace("n_trials: 3", "n_trials: 1000000000000"),
    GOOD.replace("n_trials: 3", f"n_trials: {MAX_TRIALS + 1}"),
])
def test_n_trials_is_bounded(text):
    err = refused(text)
    assert err.key == "n_trials" and f"at most {MAX_TRIALS}" in err.message, str(err)


# -- 2. values that validation let through and a trial (or the database) choked on ---------------

@pytest.mark.parametrize("seed, n_trials", [(-1, 3), (2**32, 3), (2**31 - 2, 3), (10**30, 1)])
def test_the_seed_and_every_trial_seed_fit_32_bits(seed, n_trials):
    err = refused(REPLICATES + f"seed: {seed}\nn_trials: {n_trials}\n")
    assert (err.line, err.key) == (4, "seed"), str(err)


def test_the_largest_seed_that_fits_is_allowed():
    spec = parse_spec(REPLICATES + f"seed: {2**31 - 3}\nn_trials: 3\n", "s.yaml")
    assert spec.resolve_trial({"replicate": 2}).seed == 2**31 - 1


@pytest.mark.parametrize("old, new, line, key", [
    ("  lr: {log_float: [1.0e-4, 1.0e-2]}", "  lr: .nan", 9, "train.lr"),
    ("  lr: {log_float: [1.0e-4, 1.0e-2]}", "  lr: {log_float: [1.0e-4, .nan]}", 9, "train.lr.log_float"),
    ("  lr: {log_float: [1.0e-4, 1.0e-2]}", "  lr: {choice: [1.0e-3, .inf]}", 9, "train.lr.choice"),
    ("  epochs: 2", "  segment_s: .inf", 8, "train.segment_s"),
    ("  epochs: 2", "  weight_decay: {float: [0, .inf]}", 8, "train.weight_decay.float"),
    ("  epochs: 2", "  grad_clip: .nan", 8, "train.grad_clip"),
    ("  epochs: 2", "  weight_decay: .inf", 8, "train.weight_decay"),
    ("  activation: sigmoid", "  dropout: {float: [0.0, .nan]}", 5, "params.dropout.float"),
    ("n_trials: 3", "n_trials: 3\nresources: {cpu: .nan}", 12, "resources.cpu"),
    ("n_trials: 3", "n_trials: 3\nresources: {gpu: .inf}", 12, "resources.gpu"),
    ("n_trials: 3", "n_trials: 3\ndataset: {level_dbfs: .nan}", 12, "dataset.level_dbfs"),
    ("n_trials: 3", "n_trials: 3\ndataset: {noise_snr_db: [0, .inf]}", 12, "dataset.noise_snr_db"),
    ("  epochs: 2", "  segment_s: {float: [0.5, 1" + "0" * 400 + "]}", 8, "train.segment_s.float"),
])
def test_nan_and_infinity_are_refused_everywhere(old, new, line, key):
    err = refused(GOOD.replace(old, new))
    assert (err.line, err.key) == (line, key), str(err)
    assert "finite" in err.message, str(err)


@pytest.mark.parametrize("old, new, line, key, words", [
    ("  epochs: 2", "  batch_size: 1000000000", 8, "train.batch_size", "at most 4096"),
    ("  epochs: 2", "  segment_s: 61", 8, "train.segment_s", "at most 60"),
    ("  epochs: 2", "  epochs: 10001", 8, "train.epochs", "at most 10000"),
    ("  epochs: 2", "  epochs: {int: [1, 20000]}", 8, "train.epochs", "at most 10000"),
    ("  epochs: 2", "  num_threads: 257", 8, "train.num_threads", "at most 256"),
    ("  epochs: 2", "  weight_decay: -0.1", 8, "train.weight_decay", ">= 0"),
    ("n_trials: 3", "n_trials: 3\nmax_concurrent: 1025", 12, "max_concurrent", "at most 1024"),
    ("n_trials: 3", "n_trials: 3\nresources: {cpu: 1025}", 12, "resources.cpu", "at most 1024"),
    ("n_trials: 3", "n_trials: 3\nresources: {gpu: -1}", 12, "resources.gpu", ">= 0"),
    ("n_trials: 3", "n_trials: 3\nn_src: 1000000", 12, "n_src", "at most 16"),
    ("n_trials: 3", "n_trials: 3\nscheduler: {kind: asha, reduction_factor: 1}", 12, "scheduler.reduction_factor",
     ">= 2"),
    ("{int: [32, 96], step: 32}", "{int: [0, 96], log: true}", 6, "params.hidden_size", "low >= 1"),
])
def test_absurd_sizes_are_refused_with_the_bound(old, new, line, key, words):
    err = refused(GOOD.replace(old, new))
    assert (err.line, err.key) == (line, key), str(err)
    assert words in err.message, str(err)


def test_the_study_name_fits_the_database_column_with_its_budget_suffix():
    longest = "a" * NAME_LENGTH
    assert parse_spec(GOOD.replace("study: tiny", f"study: {longest}"), "s.yaml").study == longest
    err = refused(GOOD.replace("study: tiny", f"study: {longest}a"))
    assert (err.line, err.key) == (1, "study") and f"at most {NAME_LENGTH}" in err.message
    text = GOOD.replace("study: tiny", f"study: {'a' * (NAME_LENGTH - 4)}") + "budgets:\n  cpu: {}\n  paper: {}\n"
    assert parse_spec(text, "s.yaml", "cpu").study == "a" * (NAME_LENGTH - 4)
    err = refused(text, budget="paper")  # the name becomes NAME-paper: 2 characters too many
    assert err.key == "study" and f"{NAME_LENGTH + 2} characters" in err.message


@pytest.mark.parametrize("old, new, line, key, words", [
    ("  lr: {log_float: [1.0e-4, 1.0e-2]}", "  lr: !!python/object:os.system x", 9, "train.lr",
     "tag !!python/object:os.system"),
    ("n_trials: 3", "n_trials: 3\nseed: !!binary aGk=", 12, "seed", "tag !!binary"),
    ("  activation: sigmoid", "  activation: !foo sigmoid", 5, "params.activation", "tag !foo"),
    ("params:\n", "params: !!python/object:collections.OrderedDict\n", 3, "params", "tag !!python/object"),
    ("{choice: [AM, PSM]}", "{choice: !!set {AM, PSM}}", 4, "params.mask_type.choice", "tag !!set"),
    ("n_trials: 3", "n_trials: 3\nseed: !!int abc", 12, "seed", "cannot read 'abc'"),
    ("study: tiny", "study: 2020-13-45", 1, "study", "cannot read '2020-13-45'"),
    ("n_trials: 3", "n_trials: 3\nseed: " + "1" * 5000, 12, "seed", "cannot read '1111"),
])
def test_yaml_tags_and_unreadable_scalars_are_located_errors(old, new, line, key, words):
    err = refused(GOOD.replace(old, new))
    assert (err.line, err.key) == (line, key), str(err)
    assert words in err.message, str(err)


BINARY = {
    "utf16": b"\xff\xfe" + "study: x\nfamily: upit\n".encode("utf-16-le"),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00",
    "nul": b"study: x\nfamily: upit\x00\n",
}


@pytest.mark.parametrize("kind", sorted(BINARY))
def test_a_binary_spec_file_exits_2_with_one_line_and_no_database(tmp_path, kind):
    path = tmp_path / f"spec.{kind}"
    path.write_bytes(BINARY[kind])
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}:")
    db = tmp_path / "s.db"
    proc = subprocess.run([sys.executable, "-m", "sweep", "launch", str(path), "--storage", f"sqlite:///{db}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"sweep: {path}:"), proc.stderr
    assert ("not a UTF-8 text file" if kind != "nul" else "not valid YAML") in lines[0]
    assert not db.exists()


def test_a_huge_spec_file_is_not_read_whole(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "description: " + "x" * 10_000_000 + "\n")
    start = time.perf_counter()
    with pytest.raises(SpecError, match="larger than"):
        load_spec(path)
    assert time.perf_counter() - start < 1.0


def test_the_shipped_specs_are_within_every_bound():
    for path in sorted((Path(__file__).resolve().parent.parent / "search_spaces").glob("*.yaml")):
        start = time.perf_counter()
        load_spec(path)
        assert time.perf_counter() - start < 1.0, path
