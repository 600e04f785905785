"""Everything the report knows about one study before it draws anything.

:func:`load_study` reads the store once and answers the questions the page's sections ask:
which objective ranks the trials, which families ran and what they can do (spectral-mask knobs,
an oracle output assignment: capabilities declared on :class:`sweep.models.Family`, never
family names), which keys were searched (asked of :mod:`sweep.spec`, the parser that launched
the study), and which oracle and published reference rows belong beside the trials.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from sweep.models import Family, MaskKnobs, get_family
from sweep.objective import Objective, parse_objective  # parse_objective: re-exported
from sweep.report.views import TrialView, trial_views
from sweep.spec import Spec, SpecError, parse_spec
from sweep.store import COMPLETE, Store, StudyRow

__all__ = ["REFERENCE_CSV", "StudyReport", "dataset_items", "load_published", "load_study", "oracle_for_study",
           "parse_objective", "searched_keys"]

REFERENCE_CSV = Path(__file__).resolve().parent.parent / "reference" / "published_wsj0_2mix.csv"


@dataclass(frozen=True)
class StudyReport:
    """One study, loaded: what every section of the page is drawn from."""

    row: StudyRow
    objective: Objective
    spec: Spec | None  # the stored spec, parsed; None when it no longer parses (see spec_error)
    spec_error: str | None
    families: tuple[str, ...]  # the study's families ("convtasnet+dprnn" -> two)
    mask_knobs: dict[str, MaskKnobs]  # family -> its knobs, for the families with spectral masks
    has_optimal: bool  # some family has an oracle output assignment (or results carry one)
    views: list[TrialView]  # one per trial, in trial-number order
    epochs: pd.DataFrame  # the store's epoch rows
    searched: list[str]  # parameter columns of the leaderboard
    published: pd.DataFrame  # the reference CSV
    oracle: pd.DataFrame | None  # oracle-mask rows for this study's data (mask studies only)

    @property
    def best(self) -> TrialView | None:
        """The objective's best complete trial (on validation data)."""
        return next((v for v in self.views if v.is_best), None)

    @property
    def n_complete(self) -> int:
        return sum(v.status == COMPLETE for v in self.views)

    def mask_grid(self, family: str) -> tuple[tuple, tuple]:
        """The values ``family``'s mask knobs allow: (mask types, activations), in its own order."""
        knobs, hps = self.mask_knobs[family], get_family(family).hyperparameters
        return tuple(hps[knobs.mask].choices or ()), tuple(hps[knobs.activation].choices or ())

    @property
    def data_root(self) -> str | None:
        """The resolved dataset folder the study ran on (recorded at launch)."""
        return self.row.data_root


def load_study(store: Store, name: str) -> StudyReport:
    """Read study ``name`` from ``store``; raises KeyError if there is no such study."""
    row = store.study(name)
    if row is None:
        raise KeyError(name)
    objective = parse_objective(row.objective)
    spec, spec_error = _stored_spec(row)
    trials, results, epochs = store.frames(name)
    views = trial_views(trials, results, store.utterance_frame(name), epochs, objective)
    families = tuple(f for f in str(row.family or "").split("+") if f)
    registered = [fam for fam in map(_family, families) if fam is not None]
    knobs = {fam.name: fam.mask_knobs for fam in registered if fam.mask_knobs is not None}
    has_optimal = (any(fam.has_oracle_assignment for fam in registered)
                   or any(a == "optimal" for v in views for (_, _, a) in v.scores))
    oracle = oracle_for_study(store.oracle_frame(row.data_root), results) if knobs and row.data_root else None
    return StudyReport(row=row, objective=objective, spec=spec, spec_error=spec_error, families=families,
                       mask_knobs=knobs, has_optimal=has_optimal, views=views, epochs=epochs,
                       searched=searched_keys(spec, views, knobs), published=load_published(), oracle=oracle)


def _family(name: str) -> Family | None:
    """The registered family, or None for one that is no longer registered (an old study)."""
    try:
        return get_family(name)
    except KeyError:
        return None


def _stored_spec(row: StudyRow) -> tuple[Spec | None, str | None]:
    """The spec as launched, parsed by the same parser; (None, why) if it no longer validates
    (a family or parameter renamed since), so an old study still gets its page."""
    try:
        return parse_spec(row.spec_yaml or "", row.spec_path or "<stored spec>", row.budget), None
    except SpecError as exc:
        return None, str(exc)


def searched_keys(spec: Spec | None, views: list[TrialView], mask_knobs: dict[str, MaskKnobs]) -> list[str]:
    """Parameter names the leaderboard gives a column: what the spec searched, plus keys whose
    values differ between trials (a study resumed from an edited spec can mix values the spec
    no longer shows), without the mask knobs (they have columns of their own)."""
    keys = list(spec.searched()) if spec is not None else []
    if "variant" in keys or any("variant" in v.params for v in views):
        # A cross-family study: each family has its own parameters, so one column per
        # parameter would be mostly blank; the variant name says which configuration ran.
        return ["variant", *[k for k in keys if k.startswith("train.")]]
    seen: dict[str, set[str]] = {}
    for v in views:
        for k, val in v.params.items():
            seen.setdefault(k, set()).add(repr(val))
    keys += sorted(k for k, vals in seen.items() if len(vals) > 1 and k not in keys)
    own = {name for knobs in mask_knobs.values() for name in (knobs.mask, knobs.activation)}
    return [k for k in keys if k not in own]


def load_published(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    """The lecture's published WSJ0-2mix numbers: one row per table × system (× mask × activation);
    the ``table`` column names the family whose table a row comes from."""
    return pd.read_csv(path)


def oracle_for_study(oracle: pd.DataFrame | None, results: pd.DataFrame) -> pd.DataFrame | None:
    """The oracle rows scored on as many utterances as the study's trials (else the largest n),
    one per (condition, mask)."""
    if oracle is None or not len(oracle):
        return None
    counts = [int(n) for n in results["n_utterances"]] if len(results) else []
    picked = []
    for _, grp in oracle.groupby(["condition", "mask"]):
        same = grp[grp["n_utterances"].isin(counts)]
        picked.append((same if len(same) else grp).sort_values("n_utterances").iloc[-1])
    return pd.DataFrame(picked)


def dataset_items(report: StudyReport) -> list[tuple[str, Any]]:
    """The dataset as launched: its kind, the keys the spec set away from their defaults, and
    the resolved folder; empty when the stored spec no longer parses."""
    if report.spec is None:
        return []
    ds = report.spec.dataset
    items = [("kind", ds.kind)] + [(f.name, getattr(ds, f.name)) for f in fields(ds)
                                   if f.name != "kind" and getattr(ds, f.name) != f.default]
    return items + ([("data_root", report.data_root)] if report.data_root else [])
