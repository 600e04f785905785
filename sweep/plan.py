"""One trial plan: what a sampled configuration means, resolved once.

The driver turns Optuna's flat parameters (``mask_type``, ``train.lr``, ``variant``,
``replicate``) into a :class:`TrialPlan`; the ``sweep_trial`` row is written from it and the Ray
worker runs exactly it. Nothing downstream re-derives a family, a seed or a budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sweep.spec import Spec, TrainSpec


@dataclass(frozen=True, repr=False)
class TrialPlan:
    """Everything one trial needs, typed.

    Attributes:
        family: registry name of the separator family.
        model_params: complete hyperparameters (every key of the family, validated).
        train: the training budget with this trial's searched ``train.*`` values laid over it.
        seed: the study's seed plus ``replicate`` (replicates of one configuration differ only here).
        n_src: sources per mixture.
        sample_rate: Hz, what the model sees.
        data_root: the prepared corpus folder (wsj0-2mix layout), set by the driver.
        params: the flat parameters as Optuna sampled them (how progress lines name the trial).
        fixed: the spec's fixed flat parameters (with ``params``, everything the row records).
    """

    family: str
    model_params: dict[str, Any]
    train: "TrainSpec"
    seed: int
    n_src: int
    sample_rate: int
    data_root: str | None
    params: dict[str, Any]
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:  # Tune puts str(config) into trial names: keep it short
        return f"TrialPlan({self.label()})"

    def label(self) -> str:
        """``k=v`` of the sampled parameters that shape this trial, sorted: how progress lines name it."""
        return " ".join(f"{k}={v}" for k, v in sorted(self._used(self.params).items()))

    def _used(self, flat: dict[str, Any]) -> dict[str, Any]:
        """``flat`` without the model knobs the family dropped (a composable family's knobs of
        blocks it did not choose): training keys, ``variant`` and ``replicate`` always stay."""
        return {k: v for k, v in flat.items()
                if k.startswith("train.") or k in ("variant", "replicate") or k in self.model_params}

    def mask_and_activation(self) -> tuple[str | None, str | None]:
        """The family's mask-type and activation values, for families that declare mask knobs."""
        from sweep.models import get_family

        mask, act = get_family(self.family).mask_and_activation(self.model_params)
        return (None if mask is None else str(mask)), (None if act is None else str(act))

    def param_count(self) -> int:
        """The model's parameter count, without allocating it (built on PyTorch's meta device:
        milliseconds even for the papers' sizes), so constraints are checked before training."""
        import torch

        from sweep import models

        with torch.device("meta"):
            model = models.build(self.family, self.model_params, n_src=self.n_src, sample_rate=self.sample_rate)
        return model.param_count()

    def record(self) -> dict[str, Any]:
        """The parameter dict a ``sweep_trial`` row stores: sampled, fixed and every model value."""
        return {**self._used(self.fixed), **self._used(self.params), **self.model_params}


def resolve_trial(spec: "Spec", params: dict[str, Any], data_root: str | None = None) -> TrialPlan:
    """Resolve Optuna's flat ``params`` (searched keys; fixed ones are filled from the spec)."""
    from sweep.models import get_family

    fixed = spec.fixed()
    flat = {**fixed, **params}
    model = {k: v for k, v in flat.items() if not k.startswith("train.") and k not in ("variant", "replicate")}
    family = spec.family
    if "variant" in flat:
        family, base = spec.variants[flat["variant"]]
        model = {**base, **model}
    overrides = {k[len("train."):]: _typed(spec.train, k[len("train."):], v) for k, v in flat.items()
                 if k.startswith("train.")}
    train = dataclasses.replace(spec.train, **overrides) if overrides else spec.train
    return TrialPlan(family=family, model_params=get_family(family).resolve(model), train=train,
                     seed=spec.seed + int(flat.get("replicate", 0)), n_src=spec.n_src,
                     sample_rate=spec.dataset.sample_rate, data_root=data_root, params=dict(params), fixed=fixed)


def _typed(train: "TrainSpec", key: str, value: Any) -> Any:
    """A sampled training value in its field's type (Optuna may hand 3.0 for an int field)."""
    default = getattr(train, key)
    if value is None or isinstance(default, (bool, str)) or default is None:
        return value  # booleans and names (train.schedule) as sampled
    return int(value) if isinstance(default, int) else float(value)
