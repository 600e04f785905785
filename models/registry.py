"""Registry of separator families: what each family is, which knobs it has, how to build it.

A family module (e.g. :mod:`models.upit`) describes itself with a :class:`Family` and calls
:func:`register` at import time; :mod:`models` imports every family module, so
``models.FAMILIES`` is complete as soon as ``models`` is imported.

The spec validator and the sweep driver need three things from here:

* ``get_family(name).hyperparameters`` to check a search space (names, kinds, ranges),
* :meth:`Family.resolve` to turn a sampled/partial parameter dict into a complete, valid one,
* :func:`build` to get the ``nn.Module``.

Everything else code outside ``models`` may want to know about a family is a declared
capability, never a test of its name:

* :attr:`Family.mask_knobs` (:class:`MaskKnobs`): which hyperparameters are the spectral mask
  type and the mask activation, for mask x activation tables (:meth:`Family.mask_and_activation`);
* :attr:`Family.oracle_stft`: the STFT that oracle masks must use to bound this family's masks;
* :attr:`Family.has_oracle_assignment`: whether the family's models implement
  :meth:`~models.base.Separator.oracle_assignment` (the "opt. assign." rows), known without
  building a model;
* :attr:`Family.causal_params`: the parameters that make a causal variant, if there is one;
* :attr:`Family.published_systems`: the rows of the lecture's reference table this family
  reproduces (the report's per-family table puts them beside our best trial);
* :attr:`Family.inference`: ``'direct'`` or ``'clustering'``, how its models turn their network
  output into sources (:data:`INFERENCE_KINDS`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .base import Separator

KINDS = ("choice", "int", "float", "bool")

INFERENCE_KINDS = ("direct", "clustering")
"""How a family's :meth:`~models.base.Separator.forward` gets its sources: ``'direct'``, the
network emits masks or waveforms; ``'clustering'``, the network emits embeddings (or speaker
vectors) that inference clusters (k-means, attractors, anchors) into masks. Evaluation only ever
calls ``forward`` and ``oracle_assignment``, so it stays family-agnostic; the report says which
kind a family is."""

BLOCK_KEYS = ("encoder", "separator", "mask head", "decoder")
"""The keys of :attr:`Family.blocks`, in the order reports print them."""


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


@dataclass(frozen=True)
class MaskKnobs:
    """Names of the hyperparameters that choose a family's spectral mask and its activation.

    A family that declares them gets the mask x activation tables of the uPIT paper (the
    driver stores each trial's values in the ``mask`` / ``activation`` columns).

    Attributes:
        mask: the hyperparameter naming the mask type / training target (uPIT: ``'mask_type'``).
        activation: the hyperparameter naming the mask activation (uPIT: ``'activation'``).
    """

    mask: str
    activation: str


OracleSTFT = Callable[[int], tuple[nn.Module, nn.Module, str]]
"""``sample_rate -> (encoder, decoder, label)``: see :attr:`Family.oracle_stft`."""


@dataclass
class Family:
    """A separator family and everything a sweep needs to know about it.

    Attributes:
        name: registry key, as written in search-space YAML (e.g. ``'upit'``).
        description: one paragraph for reports (paper, what is being learned).
        blocks: one human-readable line per key of :data:`BLOCK_KEYS` (encoder, separator,
            mask head, decoder).
        hyperparameters: name -> :class:`HParam`, the only keys ``build`` accepts.
        presets: name -> (partial) parameter dict; at least ``'paper'`` and ``'cpu'``.
        builder: ``builder(n_src=..., sample_rate=..., **params) -> Separator``.
        published_params: preset name -> the parameter count its paper reports (the lecture's
            tables), for ``sweep families`` and the preset tests; ``None`` where unknown.
        mask_knobs: for spectral-mask families, which hyperparameters are the mask type and
            the mask activation (:class:`MaskKnobs`); ``None`` otherwise.
        oracle_stft: for STFT-mask families, ``oracle_stft(sample_rate) -> (encoder, decoder,
            label)``: the STFT pair the family's models use (encoder ``[..., T] -> [..., F, N]``
            complex, decoder ``([..., F, N], length) -> [..., length]``) and a label such as
            ``'256/64/256 sqrt-hann'`` (n_fft/hop/win), so that oracle masks bound exactly what
            this family's masks can reach; ``None`` for families without one.
        has_oracle_assignment: the family's models return a tensor from
            :meth:`~models.base.Separator.oracle_assignment` (the "optimal assignment" rows);
            declared here so the driver and the report know without building a model.
        causal_params: for families with a causal variant, the parameter overrides that make
            one (e.g. ``{'causal': True, 'norm': 'cLN'}``): any preset updated with them builds
            a model whose :meth:`~models.base.Separator.lookahead` is not ``None``.
        published_systems: the ``system`` names in ``sweep/reference/published_wsj0_2mix.csv``
            this family reproduces (e.g. ``('Chimera++', 'WA-MISI-5')``); the report's
            per-family table lists those rows, from whichever of the lecture's tables has them,
            beside our best trial. Rows whose ``table`` column is the family's name are listed too.
        inference: one of :data:`INFERENCE_KINDS`.
    """

    name: str
    description: str
    blocks: dict[str, str]
    hyperparameters: dict[str, HParam]
    presets: dict[str, dict]
    builder: Callable[..., Separator]
    published_params: dict[str, int | None] = field(default_factory=dict)
    mask_knobs: MaskKnobs | None = None
    oracle_stft: OracleSTFT | None = None
    has_oracle_assignment: bool = False
    causal_params: dict[str, Any] | None = None
    published_systems: tuple[str, ...] = ()
    inference: str = "direct"

    def __post_init__(self) -> None:
        if self.inference not in INFERENCE_KINDS:
            raise ValueError(f"family {self.name!r}: inference must be one of {INFERENCE_KINDS}, "
                             f"got {self.inference!r}")
        self.published_systems = tuple(self.published_systems)
        for key, hp in self.hyperparameters.items():
            if key != hp.name:
                raise ValueError(f"family {self.name!r}: hyperparameter key {key!r} != its name {hp.name!r}")
        if set(self.blocks) != set(BLOCK_KEYS):
            raise ValueError(f"family {self.name!r}: blocks must describe exactly {list(BLOCK_KEYS)}, "
                             f"got {sorted(self.blocks)}")
        if self.mask_knobs is not None:
            for knob in (self.mask_knobs.mask, self.mask_knobs.activation):
                if knob not in self.hyperparameters:
                    raise ValueError(f"family {self.name!r}: mask knob {knob!r} is not one of its "
                                     f"hyperparameters {sorted(self.hyperparameters)}")
        for required in ("paper", "cpu"):
            if required not in self.presets:
                raise ValueError(f"family {self.name!r}: missing the {required!r} preset")
        if self.causal_params is not None:
            try:
                self.resolve(self.causal_params)
            except ValueError as err:
                raise ValueError(f"family {self.name!r}, causal_params: {err}") from None
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

    def mask_and_activation(self, params: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """The mask type and mask activation of ``params`` (defaults for missing keys).

        Returns:
            ``(mask, activation)``, or ``(None, None)`` for a family without :attr:`mask_knobs`.
        """
        if self.mask_knobs is None:
            return None, None
        knobs = (self.mask_knobs.mask, self.mask_knobs.activation)
        mask, activation = (params.get(k, self.hyperparameters[k].default) for k in knobs)
        return mask, activation

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
