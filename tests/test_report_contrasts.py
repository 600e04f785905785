"""The report's "Paired contrasts" section: the assignment gap of each group's best trial and the
differences between groups, every number a paired mean over the same test utterances with its
95% interval and p.

The study below is written without training (as tests/test_report.py writes studies). Its
per-utterance SI-SNRi (closed condition; SDRi is 1 dB higher, the open condition 0.5 dB lower):

=====  =======  ========  ==============  ==============  ========================================
trial  variant  valid dB  default         optimal         why
=====  =======  ========  ==============  ==============  ========================================
0      frame    4         0, 1, 2, 3      5, 5, 7, 7      a large gap: 5, 4, 5, 4 -> 4.5 dB
1      lstm     5         4, 5, 6, 7      5, 5, 7, 7      gap 1, 0, 1, 0 -> 0.5 dB, not significant
2      blstm    6         6, 6, 8, 9      7, 6, 9, 9      the best blstm on validation
3      blstm    3         20, 20, 20, 20  21, 20, 21, 20  best on test, never picked
=====  =======  ========  ==============  ==============  ========================================

Hand-computed, with t(0.975, 3) = 3.18245 for four utterances:

* frame's gap: differences 5, 4, 5, 4, mean 4.5, s = sqrt(1/3), half-width 3.18245 * s / 2 = 0.92;
  t = 15.59, p = 0.00057. Its default: 1.50 ± 2.05; optimal: 6.00 ± 1.84.
* lstm's (and blstm's) gap: differences 1, 0, 1, 0: 0.50 ± 0.92, t = 1.73, p = 0.18.
* blstm − lstm, default: 2, 1, 2, 2: mean 1.75, s = 0.5, half-width 0.80, t = 7, p = 0.0060;
  blstm's own default: 7.25, s = 1.5, 7.25 ± 2.39 (the pairing removes most of that spread).
* blstm − frame, default: 6, 5, 6, 6: 5.75 ± 0.80, t = 23, p < 0.001.
* lstm − frame, default: 4, 4, 4, 4: 4.00 ± 0.00, p = 0 (a constant shift); optimal: 0 everywhere, p = 1.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from sweep.objective import Objective
from sweep.report.contrasts import MAX_GROUPS, contrasts_html, gap_rows, group_bests, has_contrasts, pair_rows
from sweep.report.page import write_report
from sweep.report.study import load_study
from sweep.report.views import TrialView
from sweep.scoring.stats import paired_difference
from sweep.store import COMPLETE, Store
from tests.test_report import UPIT_YAML, Study, _parse, _results, _upit

VARIANTS_YAML = """study: pit
seed: 0
variants:
  frame: {family: upit, params: {pit: frame, num_layers: 1, hidden_size: 32}}
  lstm:  {family: upit, params: {rnn_type: lstm, num_layers: 1, hidden_size: 32}}
  blstm: {family: upit, params: {num_layers: 1, hidden_size: 32}}
sampler: grid
train: {epochs: 1}
"""
TRIALS = [  # number, variant, valid SI-SNRi, closed default, closed optimal (dB per utterance)
    (0, "frame", 4.0, [0, 1, 2, 3], [5, 5, 7, 7]),
    (1, "lstm", 5.0, [4, 5, 6, 7], [5, 5, 7, 7]),
    (2, "blstm", 6.0, [6, 6, 8, 9], [7, 6, 9, 9]),
    (3, "blstm", 3.0, [20, 20, 20, 20], [21, 20, 21, 20]),
]


def _rows(default: list[float], optimal: list[float] | None) -> list[dict]:
    """Closed and open x default (and optimal) rows with per-utterance scores u0..u3."""
    out = []
    for cond, shift in (("closed", 0.0), ("open", 0.5)):
        for assign, scores in (("default", default), ("optimal", optimal)):
            if scores is None:
                continue
            utts = [{"name": f"u{i}", "si_snri": s - shift, "sdri": s - shift + 1.0} for i, s in enumerate(scores)]
            out.append(dict(condition=cond, assignment=assign, n_utterances=len(utts), utterances=utts,
                            si_snri=sum(u["si_snri"] for u in utts) / len(utts),
                            sdri=sum(u["sdri"] for u in utts) / len(utts)))
    return out


@pytest.fixture(scope="module")
def pit(tmp_path_factory) -> Store:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('pit') / 'sweep.db'}")
    st = Study(store, VARIANTS_YAML)
    for number, variant, valid, default, optimal in TRIALS:
        st.add(number, COMPLETE, [valid], _rows(default, optimal), variant=variant)
    return Store(store.url, write=False)


def _close(a: float, b: float, tol: float = 0.005) -> bool:
    return abs(a - b) < tol


# -- the statistics helper ------------------------------------------------------------------------
def test_paired_difference_is_the_mean_and_t_interval_of_the_differences_over_common_utterances():
    a = {"u0": 5.0, "u1": 5.0, "u2": 7.0, "u3": 7.0, "only_a": 100.0}
    b = {"u0": 0.0, "u1": 1.0, "u2": 2.0, "u3": 3.0, "only_b": -100.0}
    d = paired_difference(a, b)
    assert d.diff.n == 4 and d.diff.mean == 4.5
    assert _close(d.diff.half_width, 0.9187, 1e-4) and _close(d.p_value, 0.00057, 1e-4)


def test_paired_difference_of_a_constant_shift_has_no_spread_and_needs_two_utterances():
    d = paired_difference({"u0": 3.0, "u1": 4.0}, {"u0": 1.0, "u1": 2.0})
    assert (d.diff.mean, d.diff.half_width, d.p_value) == (2.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        paired_difference({"u0": 1.0, "u1": 2.0}, {"u1": 1.0})


# -- the tables' numbers ----------------------------------------------------------------------------
def test_each_variant_is_represented_by_its_best_trial_on_validation(pit: Store):
    bests = group_bests(load_study(pit, "pit"))
    assert {g: v.number for g, v in bests.items()} == {"blstm": 2, "lstm": 1, "frame": 0}  # not 3, best on test
    assert list(bests) == ["blstm", "lstm", "frame"]  # best group first


def test_assignment_gap_is_optimal_minus_default_over_the_same_utterances(pit: Store):
    rows = {(x.group, x.metric, x.condition): x for x in gap_rows(load_study(pit, "pit"))}
    assert len(rows) == 3 * 2 * 2  # groups x metrics x conditions
    frame = rows[("frame", "si_snri", "closed")]
    assert frame.trial == 0 and frame.default.mean == 1.5 and frame.optimal.mean == 6.0
    assert _close(frame.default.half_width, 2.054) and _close(frame.optimal.half_width, 1.837)
    assert frame.gap.diff.mean == 4.5 and _close(frame.gap.diff.half_width, 0.919) and frame.gap.p_value < 0.001
    lstm = rows[("lstm", "si_snri", "closed")]
    assert lstm.gap.diff.mean == 0.5 and _close(lstm.gap.p_value, 0.182)
    # The open condition and SDRi shift both assignments alike: the gap does not move.
    assert rows[("frame", "sdri", "open")].gap.diff.mean == 4.5
    assert rows[("frame", "sdri", "open")].default.mean == 2.0


def test_between_groups_compares_every_pair_higher_ranked_first(pit: Store):
    rows = {(x.a, x.b, x.assignment): x for x in pair_rows(load_study(pit, "pit"))}
    assert list(rows) == [("blstm", "lstm", "default"), ("blstm", "frame", "default"), ("lstm", "frame", "default"),
                          ("blstm", "lstm", "optimal"), ("blstm", "frame", "optimal"), ("lstm", "frame", "optimal")]
    blstm_lstm = rows[("blstm", "lstm", "default")]
    assert (blstm_lstm.trial_a, blstm_lstm.trial_b, blstm_lstm.mean_a.mean, blstm_lstm.mean_b.mean) == (2, 1, 7.25, 5.5)
    assert blstm_lstm.diff.diff.mean == 1.75 and _close(blstm_lstm.diff.diff.half_width, 0.796)
    assert _close(blstm_lstm.diff.p_value, 0.00599, 1e-4)
    assert rows[("blstm", "frame", "default")].diff.diff.mean == 5.75
    assert rows[("lstm", "frame", "optimal")].diff.p_value == 1.0  # identical scores: a tie


def _view(number: int, variant: str, valid: float, default: list[float] | None = None,
          optimal: list[float] | None = None) -> TrialView:
    """A complete trial with closed-condition SI-SNRi per utterance (dB): default, and optimal if given."""
    scores = {"default": default if default is not None else [valid, valid + 1.0], "optimal": optimal}
    v = TrialView({"number": number, "status": COMPLETE, "family": "upit", "params": {"variant": variant}},
                  utterances={("si_snri", "closed", a): {f"u{i}": x for i, x in enumerate(xs)}
                              for a, xs in scores.items() if xs is not None})
    v.objective_value = valid
    return v


@pytest.mark.parametrize("n_groups, n_pairs", [(MAX_GROUPS, MAX_GROUPS * (MAX_GROUPS - 1) // 2),
                                               (MAX_GROUPS + 1, MAX_GROUPS)])
def test_above_max_groups_each_group_is_compared_only_with_the_best(n_groups: int, n_pairs: int):
    r = SimpleNamespace(views=[_view(i, f"v{i}", float(i)) for i in range(n_groups)], objective=Objective())
    rows = pair_rows(r)
    assert len(rows) == n_pairs
    if n_groups > MAX_GROUPS:
        assert {x.a for x in rows} == {f"v{n_groups - 1}"}  # the highest validation score


def test_sentences_name_the_test_winner_even_against_the_validation_order_and_admit_ties():
    """a ranks above b and c on validation; on test b beats a (b − a: 2, 2, 2, 3), a and c tie."""
    r = SimpleNamespace(objective=Objective(), views=[
        _view(0, "a", 2.0, [1, 2, 3, 4]), _view(1, "b", 1.0, [3, 4, 5, 7]), _view(2, "c", 0.0, [1.1, 1.9, 3.1, 3.9])])
    between = contrasts_html(r).split('id="between-groups-lessons"')[1]
    assert "<b>b</b> beats <b>a</b> by 2.25 ± 0.80 dB (SI-SNRi, closed condition, default assignment;" in between
    assert "<b>a</b> and <b>c</b> are not separable (SI-SNRi, closed condition, default assignment: a − c = 0.00" in between


def test_a_default_assignment_below_0_db_is_called_worse_than_the_mixture():
    r = SimpleNamespace(objective=Objective(), views=[_view(0, "frame", 1.0, [-2, -1, -2, -1], [5, 5, 6, 6])])
    lessons = contrasts_html(r).split('id="assignment-gap-lessons"')[1]
    assert "default assignment -1.50 ± 0.92 dB, optimal 5.50 ± 0.92 dB (gap 7.00 ± 1.30 dB," in lessons
    assert "with the default assignment the output is worse than the unprocessed mixture." in lessons
    assert 'id="between-groups"' not in contrasts_html(r)  # one group: nothing to pair


# -- when the section is shown --------------------------------------------------------------------
def test_no_section_without_per_utterance_scores(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'means.db'}")
    st = Study(store, UPIT_YAML)
    st.add(0, COMPLETE, [5.0], _results(8.0, 9.0, 7.0, 8.0), **_upit("PSM", "relu", 64))  # means only
    assert not has_contrasts(load_study(store, "rep"))
    text, _ = _parse(write_report(store, "rep", tmp_path / "rep.html"))
    assert 'id="contrasts"' not in text and 'href="#contrasts"' not in text


def test_no_section_for_one_group_scored_with_the_default_assignment_only(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'one.db'}")
    Study(store, VARIANTS_YAML).add(0, COMPLETE, [5.0], _rows([1, 2, 3, 4], None), variant="blstm")
    r = load_study(store, "pit")
    assert gap_rows(r) == [] and pair_rows(r) == [] and not has_contrasts(r)


def test_groups_are_families_without_variants(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'family.db'}")
    Study(store, UPIT_YAML).add(0, COMPLETE, [5.0], _rows([0, 1, 2, 3], [5, 5, 7, 7]), **_upit("PSM", "relu", 64))
    r = load_study(store, "rep")
    assert {x.group for x in gap_rows(r)} == {"upit"} and pair_rows(r) == []  # one group: no pairs
    assert has_contrasts(r)


def test_a_group_is_never_represented_by_a_trial_other_than_its_best_on_validation():
    """b's best (#1) has only means: b drops out of the pairs instead of sending its runner-up (#2)."""
    untested = _view(1, "b", 5.0)
    untested.utterances = {}
    r = SimpleNamespace(objective=Objective(), views=[_view(0, "a", 4.0), untested, _view(2, "b", 3.0)])
    assert {g: v.number for g, v in group_bests(r).items()} == {"b": 1, "a": 0}
    assert pair_rows(r) == [] and not has_contrasts(r)


# -- the rendered page ----------------------------------------------------------------------------
def test_page_shows_both_tables_and_the_lessons_in_words(pit: Store, tmp_path: Path):
    text, page = _parse(write_report(pit, "pit", tmp_path / "pit.html"))
    links = [a["href"][1:] for t, a in page.tags if t == "a" and a.get("href", "").startswith("#")]
    assert "contrasts" in links
    gap = {(tr["data-group"], tr["data-metric"], tr["data-condition"]): [t for _, t in cells]
           for tr, cells in page.table_rows(id="assignment-gap") if "data-group" in tr}
    assert gap[("frame", "si_snri", "closed")] == ["frame", "#0", "SI-SNRi", "closed", "1.50 ± 2.05", "6.00 ± 1.84",
                                                   "4.50 ± 0.92", "p < 0.001", "4"]
    assert gap[("lstm", "si_snri", "closed")][-2:] == ["p = 0.182", "4"]
    pairs = {(tr["data-a"], tr["data-b"], tr["data-assignment"]): [t for _, t in cells]
             for tr, cells in page.table_rows(id="between-groups") if "data-a" in tr}
    assert pairs[("blstm", "lstm", "default")] == ["blstm #2", "lstm #1", "default", "7.25 ± 2.39", "5.50 ± 2.05",
                                                   "1.75 ± 0.80", "p = 0.006", "4"]
    section = text.split('<section id="contrasts">')[1].split("</section>")[0]
    # The lessons, written from the numbers: the largest gap first, then who beats whom.
    lessons = section.split('id="assignment-gap-lessons"')[1].split("</ul>")[0]
    assert lessons.index("<b>frame</b>") < lessons.index("<b>blstm</b>")
    assert ("default assignment 1.50 ± 2.05 dB, optimal 6.00 ± 1.84 dB (gap 4.50 ± 0.92 dB, p &lt; 0.001): "
            "a significant gap; with the default assignment the output is not distinguishable from the unprocessed "
            "mixture.") in lessons  # 1.50 ± 2.05 dB reaches below 0 dB
    assert ("gap 0.50 ± 0.92 dB, p = 0.182): no gap this test set can separate from zero; the default assignment "
            "keeps 92% of the optimal improvement.") in lessons  # 5.5 / 6.0
    between = section.split('id="between-groups-lessons"')[1].split("</ul>")[0]
    assert "<b>blstm</b> beats <b>lstm</b> by 1.75 ± 0.80 dB" in between and "p = 0.006, 4 utterances" in between
    assert "optimal assignment" not in between  # sentences speak of the default assignment only
