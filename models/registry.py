"""Registry of separator families: what each family is, which knobs it has, how to build it.

A family module (e.g. :mod:`models.upit`) describes itself with a :class:`Family` and calls
:func:`register` at import time; :mod:`models` imports every family module, so
``models.FAMILIES`` is complete as soon as ``models`` is imported.

The spec validator and the sweep driver only need three things from here:

* ``get_family(name).hyperparameters`` to check a search space (names, kinds, ranges),
* :meth:`Family.resolve` to turn a sampled/partial parameter dict into a complete, valid one,
* :func:`build` to get the ``nn.Module``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.base import Separator

KINDS = ("choice", "int", "float", "bool")


@dataclass(frozen=True)
class HParam:
    """One hyperparameter of a family.

    Attributes:
        name: keyword argument of the family's builder.
        kind: ``'choice'`` (one of ``choices``), ``'int'``, ``'float'`` or ``'bool'``.
        default: value used when a spec does not set it; must itself validate.
        choices: allowed values for ``kind='choice'``.
        low, high: inclusive bounds for ``'int'``/``'float'`` (``None`` = unbounded).
        log: the natural search scale is logarithmic (a hint for search spaces).
        doc: one line for reports and error messages.
    """

    name: str
    kind: str
    default: Any
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"HParam {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "choice":
            if not self.choices:
                raise ValueError(f"HParam {self.name!r}: kind 'choice' needs non-empty choices")
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.log and self.kind in ("int", "float") and (self.low is None or self.low <= 0):
            raise ValueError(f"HParam {self.name!r}: log scale needs a positive lower bound")
        self.validate(self.default)  # a default that fails its own check is a family bug

    def validate(self, value: Any) -> Any:
        """Check ``value`` and return it in canonical form (ints as ``int``, floats as ``float``).

        Raises:
            ValueError: wrong type, not one of the choices, or out of ``[low, high]``.
        """
        where = f"hyperparameter {self.name!r}"
        if self.kind == "choice":
            # bool is an int in Python (True == 1): keep the two from matching each other.
            if not any(c == value and isinstance(c, bool) == isinstance(value, bool) for c in self.choices):
                raise ValueError(f"{where}: {value!r} is not one of {list(self.choices)}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where}: expected true/false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where}: expected {self.kind}, got {value!r} ({type(value).__name__})")
        if self.kind == "int":
            # Optuna/YAML may hand over 3.0 for 3; anything with a fraction is a spec error.
            if not isinstance(value, numbers.Integral) and not float(value).is_integer():
                raise ValueError(f"{where}: expected an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{where}: expected a finite number, got {value!r}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{where}: {value!r} is outside the allowed range [{self.low}, {self.high}]")
        return value


@dataclass
class Family:
    """A separator family and everything a sweep needs to know about it.

    Attributes:
        name: registry key, as written in search-space YAML (e.g. ``'upit'``).
        description: one paragraph for reports (paper, what is being learned).
        blocks: human-readable Encoder / Separator / Mask head / Decoder description.
        hyperparameters: name -> :class:`HParam`, the only keys ``build`` accepts.
        presets: name -> (partial) parameter dict; at least ``'paper'`` and ``'cpu'``.
        builder: ``builder(n_src=..., sample_rate=..., **params) -> Separator``.
        published_params: preset name -> the parameter count its paper reports (the lecture's
            tables), for ``sweep families`` and the preset tests; ``None`` where unknown.
    """

    name: str
    description: str
    blocks: dict[str, str]
    hyperparameters: dict[str, HParam]
    presets: dict[str, dict]
    builder: Callable[..., Separator]
    published_params: dict[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, hp in self.hyperparameters.items():
            if key != hp.name:
                raise ValueError(f"family {self.name!r}: hyperparameter key {key!r} != its name {hp.name!r}")
        for required in ("paper", "cpu"):
            if required not in self.presets:
                raise ValueError(f"family {self.name!r}: missing the {required!r} preset")
        for preset_name, preset in self.presets.items():
            try:
                self.resolve(preset)
            except ValueError as err:
                raise ValueError(f"family {self.name!r}, preset {preset_name!r}: {err}") from None

    def defaults(self) -> dict[str, Any]:
        """Every hyperparameter at its default value."""
        return {name: hp.default for name, hp in self.hyperparameters.items()}

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Fill defaults for missing keys and validate every value.

        Raises:
            ValueError: an unknown key (naming it and the known ones) or an invalid value.
        """
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.hyperparameters))
        if unknown:
            raise ValueError(
                f"family {self.name!r} has no hyperparameter(s) {unknown}; "
                f"known: {sorted(self.hyperparameters)}"
            )
        resolved = self.defaults()
        for key, value in params.items():
            resolved[key] = self.hyperparameters[key].validate(value)
        return resolved

    def preset(self, name: str) -> dict[str, Any]:
        """A preset resolved against the defaults (a complete parameter dict)."""
        if name not in self.presets:
            raise KeyError(f"family {self.name!r} has no preset {name!r}; known: {sorted(self.presets)}")
        return self.resolve(self.presets[name])


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (import-time call from the family's module)."""
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        raise ValueError(f"family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """Look a family up by name.

    Raises:
        KeyError: unknown name; the message lists the known families.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown separator family {name!r}; known: {sorted(FAMILIES)}") from None


def build(
    family: str,
    params: Mapping[str, Any] | None = None,
    n_src: int = 2,
    sample_rate: int = 8000,
) -> Separator:
    """Build a separator of ``family`` with ``params`` (missing keys take their defaults).

    Args:
        family: registry name, e.g. ``'upit'``.
        params: hyperparameters; unknown keys and invalid values raise ``ValueError``.
        n_src: number of sources ``S``.
        sample_rate: waveform sampling rate in Hz.
    """
    fam = get_family(family)
    return fam.builder(n_src=n_src, sample_rate=sample_rate, **fam.resolve(params))
