"""The report's *Listen* section: test utterances separated by the kept models, as audio players.

Whose: the best trial, and in a study of several families the trials on the Pareto front too
(:func:`listen_trials`). What: the first ``report.audio_utterances`` test utterances of each
condition (:class:`sweep.spec_report.ReportSpec`), separated at report time on the CPU by the
trial's kept checkpoint (:func:`sweep.checkpoints.load_separator`, the best-validation weights)
into mixture, estimates and references, each estimate beside its reference with its SI-SNRi
(:mod:`sweep.report.clips`).

The embedded audio stays under ``report.audio_max_mb``: clips are taken in rounds (every
trial's and condition's first utterance, then the second ones, ...) until the next would pass
the cap; the rest are left out and the section says how many. Which clips fit is decided from
their lengths before any model runs, so a cap costs no separation time. A trial without a kept
checkpoint, a checkpoint that does not load or a corpus folder that is gone gets one line
saying so instead of players; the page never fails on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.report.clips import Clip, Utterance, data_uri, read_utterances, separate
from sweep.report.kept import checkpoint_uri
from sweep.report.pareto import front_views
from sweep.report.tables import configuration, esc, several_families
from sweep.report.views import TrialView
from sweep.spec_report import ReportSpec

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["Listening", "listen_html", "listen_trials", "plan_listening", "report_settings"]

_CONDITION = {"closed": "closed condition", "open": "open condition"}


@dataclass
class Listening:
    """One trial's part of the section: its model and chosen utterances, or why it has none."""

    view: TrialView
    role: str  # "best" or "Pareto front"
    model: Any = None
    note: str | None = None  # one line: why nothing plays
    utterances: list[Utterance] = field(default_factory=list)  # within the cap, in page order


def report_settings(r: StudyReport) -> ReportSpec:
    """The stored spec's ``report:`` section; the defaults when the spec no longer parses."""
    return r.spec.report if r.spec is not None else ReportSpec()


def listen_trials(r: StudyReport) -> list[tuple[TrialView, str]]:
    """(trial, role): the best trial, then, for a study of several families, the Pareto front's others."""
    best = r.best
    out = [(best, "best")] if best is not None else []
    if several_families(r):
        out += [(v, "Pareto front") for v in front_views(r) if best is None or v.number != best.number]
    return out


def _conditions(r: StudyReport) -> tuple[dict[str, Path] | None, str | None]:
    """The corpus's test folders, or (None, one line why not)."""
    from sweep.data.wsj0mix import test_conditions

    root = r.data_root
    if not root:
        return None, "The study recorded no corpus folder, so there is nothing to play."
    if not Path(root).is_dir():
        return None, f"The corpus folder this study used, {root}, is gone, so there is nothing to play."
    try:
        return test_conditions(root), None
    except ValueError as exc:
        return None, f"The corpus folder {root} has no test set ({exc}), so there is nothing to play."


def _load(item: Listening, conditions: dict[str, Path], n: int) -> list[Utterance]:
    """Load the trial's kept model into ``item`` and read its candidate utterances (or set its note)."""
    from sweep.checkpoints import load_separator

    uri = checkpoint_uri(item.view)
    if not uri:
        item.note = f"Trial #{item.view.number} ({item.role}) has no kept checkpoint, so there is nothing to play."
        return []
    try:
        item.model, card = load_separator(uri, "cpu")
        return read_utterances(conditions, n, card.n_src, card.sample_rate)
    except Exception as exc:  # noqa: BLE001  (a report must render; the line names the cause)
        _failed(item, uri, exc)
        return []


def _failed(item: Listening, uri: str, exc: Exception) -> None:
    """Give ``item`` no players and a note naming the exception."""
    first = (str(exc).strip().splitlines() or [""])[0]
    item.model, item.utterances = None, []
    item.note = (f"Trial #{item.view.number}'s checkpoint at {uri} did not load or run "
                 f"({type(exc).__name__}: {first}), so there is nothing to play.")


def _separate(items: list[Listening]) -> dict[int, Clip]:
    """Every chosen utterance separated by its trial's model, by ``id`` of the utterance; a trial
    whose model fails on one gets a note instead of players."""
    clips: dict[int, Clip] = {}
    for item in items:
        try:
            clips.update({id(u): separate(item.model, u) for u in item.utterances})
        except Exception as exc:  # noqa: BLE001  (e.g. out of memory on a long utterance)
            _failed(item, checkpoint_uri(item.view) or "", exc)
    return clips


def plan_listening(r: StudyReport, settings: ReportSpec) -> tuple[list[Listening], int, int]:
    """(one :class:`Listening` per trial of :func:`listen_trials`, clips left out by the cap, their bytes).

    Clips are taken in rounds (utterance index, then trial, then condition) while the embedded
    bytes stay within ``settings.audio_max_bytes``; the first that does not fit ends the taking."""
    items = [Listening(v, role) for v, role in listen_trials(r)]
    conditions, _ = _conditions(r)
    candidates = []
    for t, item in enumerate(items):
        for u in _load(item, conditions or {}, settings.audio_utterances):
            candidates.append(((u.index, t, u.condition != "closed"), item, u))
    used, dropped, dropped_bytes = 0, 0, 0
    for _, item, u in sorted(candidates, key=lambda c: c[0]):
        if dropped or used + u.embedded_bytes > settings.audio_max_bytes:
            dropped, dropped_bytes = dropped + 1, dropped_bytes + u.embedded_bytes
            continue
        used += u.embedded_bytes
        item.utterances.append(u)
    for item in items:
        item.utterances.sort(key=lambda u: (u.condition != "closed", u.index))
    return items, dropped, dropped_bytes


def listen_html(r: StudyReport) -> str:
    """The section's body: a caption, then per trial its players or its one-line note."""
    settings = report_settings(r)
    if settings.audio_utterances == 0:
        return ('<p class="caption dim" id="listen-note">No players: the spec sets '
                "<code>report.audio_utterances: 0</code>.</p>")
    if r.best is None:
        return '<p class="caption dim" id="listen-note">No complete trial yet: nothing to play.</p>'
    _, why = _conditions(r)
    if why is not None:
        return f'<p class="note" id="listen-note">{esc(why)}</p>'
    items, dropped, dropped_bytes = plan_listening(r, settings)
    clips = _separate(items)
    shown = sum(len(i.utterances) for i in items)
    used = sum(u.embedded_bytes for i in items for u in i.utterances)
    caption = (f'<p class="caption">The first {settings.audio_utterances} test utterance(s) of each condition, '
               "separated now by the trial's kept checkpoint (the best-validation weights the test columns scored), "
               "as the model emits them: each estimate is put beside the reference it matches best (the permutation "
               "with the best total SI-SNR) and played at that reference's level. SI-SNRi in dB against the "
               f"mixture. {shown} clip(s), {used / 1e6:.2f} MB of 16-bit WAV in the page (cap "
               f"<code>report.audio_max_mb</code> = {settings.audio_max_mb:g} MB).</p>")
    cap = (f'<p class="note" id="listen-cap">{dropped} clip(s) left out ({dropped_bytes / 1e6:.2f} MB more) to '
           f"stay under report.audio_max_mb = {settings.audio_max_mb:g} MB; raise it in the spec's "
           "<code>report:</code> section to embed them.</p>") if dropped else ""
    return caption + cap + "".join(_trial_html(r, i, clips) for i in items)


def _trial_html(r: StudyReport, item: Listening, clips: dict[int, Clip]) -> str:
    v = item.view
    config = configuration(r, v) or esc(v.family)
    head = f'<h3>Trial #{v.number} ({esc(item.role)}) <span class="dim">{config}</span></h3>'
    if item.note is not None:
        return f'{head}<p class="note listen-note" data-trial="{v.number}">{esc(item.note)}</p>'
    if not item.utterances:
        return f'{head}<p class="caption dim" data-trial="{v.number}">No clip of this trial fits the cap.</p>'
    return head + '<div class="clips">' + "".join(_clip_html(v, clips[id(u)]) for u in item.utterances) + "</div>"


def _player(x, sample_rate: int, label: str) -> str:
    return f'<audio controls preload="metadata" aria-label="{esc(label)}" src="{data_uri(x, sample_rate)}"></audio>'


def _clip_html(v: TrialView, clip: Clip) -> str:
    """One utterance: the mixture, then per source its estimate, SI-SNRi and reference."""
    u, rate = clip.utterance, clip.utterance.sample_rate
    rows = [f'<tr><th>mixture</th><td>{_player(u.mixture, rate, f"mixture {u.name}")}</td><td></td><td></td></tr>',
            "<tr><th></th><th>estimate</th><th>SI-SNRi (dB)</th><th>reference</th></tr>"]
    for k in range(u.n_src):
        rows.append(f'<tr data-source="{k + 1}"><th>source {k + 1}</th>'
                    f"<td>{_player(clip.estimates[k], rate, f'estimate {k + 1}')}</td>"
                    f'<td class="num" data-si-snri="{clip.si_snri[k]:.4f}">{clip.si_snri[k]:.2f}</td>'
                    f"<td>{_player(u.references[k], rate, f'reference {k + 1}')}</td></tr>")
    caption = (f"{esc(_CONDITION.get(u.condition, u.condition))} · <code>{esc(u.name)}</code> · "
               f"{u.seconds:.1f} s · SI-SNRi {clip.mean_si_snri:.2f} dB")
    return (f'<table class="clip" data-trial="{v.number}" data-condition="{esc(u.condition)}" '
            f'data-utterance="{esc(u.name)}" data-si-snri="{clip.mean_si_snri:.4f}"><caption>{caption}</caption>'
            f'{"".join(rows)}</table>')
