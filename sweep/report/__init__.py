"""``sweep report``: one self-contained HTML page per study, and the ``sweep families`` printer.

Modules, by job:

* :mod:`~sweep.report.page`: :func:`render_report`, :func:`write_report` and the page's
  sections (one list: nav links and section ids come from it);
* :mod:`~sweep.report.study`: :func:`load_study`, everything the page knows about a study
  (objective, families' capabilities, searched keys, reference rows);
* :mod:`~sweep.report.views`: :class:`TrialView` per trial, with CIs, the objective's best and ties;
* :mod:`~sweep.report.tables`: the HTML tables and cell formatting;
* :mod:`~sweep.report.figures`: the plotly figures;
* :mod:`~sweep.report.kept`: the best trial's training recipe and the kept checkpoints;
* :mod:`~sweep.report.listen` and :mod:`~sweep.report.clips`: test utterances separated by the
  kept models, as embedded audio players under the spec's ``report.audio_max_mb``;
* :mod:`~sweep.report.families`: ``sweep families``.

Names are imported lazily, so ``sweep families`` does not load plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["StudyReport", "TrialView", "load_study", "render_report", "write_report"]

_HOME = {"render_report": "page", "write_report": "page", "load_study": "study", "StudyReport": "study",
         "TrialView": "views"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
