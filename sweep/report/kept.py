"""The best trial's training recipe and the study's kept checkpoints, as HTML.

The recipe is rebuilt the way the trial was planned: the stored spec (``StudyRow.spec_yaml``,
parsed by :mod:`sweep.spec`) resolves the trial's stored parameters into a
:class:`~sweep.plan.TrialPlan`, whose ``train`` holds every training value the trial ran with
(the spec's fixed ones with its searched ``train.*`` values laid over them). The checkpoints
are the ``sweep_trial`` columns the driver's keeper writes (:mod:`sweep.driver.keeper`):
``checkpoint_uri``, ``checkpoint_bytes``, ``checkpoint_epoch`` and ``best_epoch``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.report.tables import esc, fmt_params, fmt_value
from sweep.report.views import TrialView, leaderboard_order, num

if TYPE_CHECKING:
    from sweep.plan import TrialPlan
    from sweep.spec import TrainSpec
    from sweep.report.study import StudyReport

__all__ = ["checkpoint_link", "checkpoint_uri", "checkpoints_html", "recipe_html", "recipe_items", "trial_plan"]


def checkpoint_uri(v: TrialView) -> str | None:
    """The trial's checkpoint folder or URI; None when it has none (pandas reads SQL NULL as None or NaN)."""
    uri = v.row.get("checkpoint_uri")
    return uri if isinstance(uri, str) and uri else None


def trial_plan(r: StudyReport, v: TrialView) -> tuple[TrialPlan | None, str | None]:
    """(the trial's plan rebuilt from the stored spec, None) or (None, why it cannot be)."""
    if r.spec is None:
        return None, "the stored spec no longer parses"
    searched = set(r.spec.searched())
    try:  # the sampled values: the row also stores fixed and resolved model values
        return r.spec.resolve_trial({k: val for k, val in v.params.items() if k in searched}), None
    except (KeyError, TypeError, ValueError) as exc:
        return None, f"its parameters no longer resolve ({type(exc).__name__}: {exc})"


def _schedule(t: TrainSpec) -> str:
    floor = f", floor {t.min_lr:g}" if t.min_lr else ""
    if t.schedule == "plateau":
        start = f", counted after epoch {t.plateau_start_epoch}" if t.plateau_start_epoch else ""
        return (f"plateau: × {t.lr_factor:g} after {t.lr_patience} epochs in a row without a validation "
                f"gain{start}{floor}")
    if t.schedule == "step":
        return f"step: × {t.lr_factor:g} every {t.lr_step_epochs} epochs{floor}"
    if t.schedule == "cosine":
        return f"cosine: down to {t.min_lr:g} over the epochs after the warmup"
    return "none (constant rate)"


def recipe_items(plan: TrialPlan, row: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(label, value text, the ``train`` keys behind it) per line of the recipe, unescaped."""
    t = plan.train
    done, best = num(row.get("epochs_done")), num(row.get("best_epoch"))
    epochs = f"{t.epochs} planned, {int(done or 0)} run"
    epochs += f"; the tested weights are epoch {int(best)}'s" if best else ""
    mixing = {None: "the dataset's default", True: "on", False: "off"}[t.dynamic_mixing]
    return [
        ("Optimizer", f"{t.optimizer}, weight decay {t.weight_decay:g}", ("optimizer", "weight_decay")),
        ("Learning rate", f"{t.lr:g}", ("lr",)),
        ("Schedule", _schedule(t), ("schedule", "lr_factor", "lr_patience", "plateau_start_epoch",
                                    "lr_step_epochs", "min_lr")),
        ("Warmup", f"{t.warmup_steps} optimizer steps" if t.warmup_steps else "none", ("warmup_steps",)),
        ("Epochs", epochs, ("epochs",)),
        ("Batch", f"{t.batch_size} segments of {t.segment_s:g} s", ("batch_size", "segment_s")),
        ("Training data", (f"{t.max_train_mixtures} mixtures" if t.max_train_mixtures else "every mixture")
         + f" per epoch; dynamic mixing {mixing}", ("max_train_mixtures", "dynamic_mixing")),
        ("Gradient clip", f"L2 norm {t.grad_clip:g}", ("grad_clip",)),  # the spec keeps it > 0
        ("Early stop", f"after {t.early_stop_patience} epochs in a row without a validation gain"
         if t.early_stop_patience else "off", ("early_stop_patience",)),
    ]


def recipe_html(r: StudyReport) -> str:
    """The best trial's model and training recipe as a definition list (searched values marked)."""
    v = r.best
    if v is None:
        return '<p class="caption dim" id="recipe-note">No complete trial yet: no recipe to show.</p>'
    plan, why = trial_plan(r, v)
    if plan is None:
        return f'<p class="note" id="recipe-note">Trial #{v.number}\'s recipe cannot be shown: {esc(why)}.</p>'
    searched = {k.removeprefix("train.") for k in r.spec.searched() if k.startswith("train.")}
    items = []
    for label, text, keys in recipe_items(plan, v.row):
        mark = ' <span class="dim">(searched)</span>' if searched & set(keys) else ""
        items.append(f'<dt>{esc(label)}</dt><dd data-recipe="{esc(keys[0])}">{esc(text)}{mark}</dd>')
    model = ", ".join(f"{esc(k)}={esc(fmt_value(val))}" for k, val in sorted(plan.model_params.items()))
    size = fmt_params(v.row.get("param_count"))
    head = (f"<dt>Model</dt><dd data-recipe=\"model\">{esc(plan.family)}{', ' + size + ' parameters' if size else ''}"
            f"<details><summary>its {len(plan.model_params)} hyperparameters</summary>"
            f'<span class="caption">{model}</span></details></dd>')
    return f'<dl class="meta recipe" id="recipe">{head}{"".join(items)}</dl>'


def checkpoint_link(uri: str) -> str:
    """A local checkpoint as a ``file://`` link (marked when the folder is gone), a remote URI as text."""
    if "://" in uri and not uri.startswith("file://"):
        return f"<code>{esc(uri)}</code>"
    path = Path(uri.removeprefix("file://")).absolute()
    gone = "" if path.is_dir() else ' <span class="dim">(gone)</span>'
    return f'<a href="{esc(path.as_uri())}"><code>{esc(str(path))}</code></a>{gone}'


def _mb(value: Any) -> str:
    b = num(value)
    return "" if b is None else f"{b / 1e6:.2f}"


def checkpoints_html(r: StudyReport) -> str:
    """One row per trial with a checkpoint (leaderboard order): where, how big, which epochs."""
    kept = [v for v in leaderboard_order(r.views, r.objective) if checkpoint_uri(v)]
    policy = r.spec.checkpoints if r.spec is not None else None
    said = f" (the spec keeps <code>{esc(policy.keep)}</code>, top {policy.top_k})" if policy else ""
    if not kept:
        return f'<p class="caption dim" id="checkpoints-note">No trial has a kept checkpoint{said}.</p>'
    rows = []
    for v in kept:
        row = v.row
        best, last = num(row.get("best_epoch")), num(row.get("checkpoint_epoch"))
        rows.append(f'<tr data-trial="{v.number}"><td class="num">#{v.number}</td><td>{esc(v.status)}</td>'
                    f'<td class="num">{esc(r.objective.fmt(v.objective_value))}</td>'
                    f'<td class="loc">{checkpoint_link(checkpoint_uri(v))}</td>'
                    f'<td class="num" data-mb>{_mb(row.get("checkpoint_bytes"))}</td>'
                    f'<td class="num">{"" if best is None else int(best)}</td>'
                    f'<td class="num">{"" if last is None else int(last)}</td></tr>')
    head = (f"<tr><th>Trial</th><th>Status</th><th>{esc(r.objective.label)}</th><th>Location</th>"
            "<th>Size (MB)</th><th>Weights of epoch</th><th>Epochs trained</th></tr>")
    return (f'<p class="caption">Trials whose checkpoint is kept{said}: the weights of the epoch with the best '
            "validation SI-SNRi (those the test columns scored), for <code>sweep separate</code> and "
            "<code>sweep export</code>. A running trial's is its latest.</p>"
            f'<table class="kept" id="checkpoints-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')
