"""Registry of dataset kinds: what a ``dataset.kind`` is, which keys it takes, how it is read.

A kind module (e.g. :mod:`sweep.data.kind_librimix`) describes itself with a
:class:`DatasetKind` and calls :func:`register` at import time; :mod:`sweep.data.kinds`
imports every kind module, and :func:`get_kind` / :func:`kinds` import it on first use.

Every kind ends up as a root in the wsj0-2mix layout plus ``dataset.json`` (see
:mod:`sweep.data.prepare`), so evaluation never asks which kind it reads. What differs:

* **read** kinds (``check`` is set) validate every file header into a
  :class:`~sweep.data.check.DataPlan` and ``prepare`` that plan into a root;
* **generated** kinds (``generate`` is set) build their corpus themselves, after ``verify``
  has refused what cannot be built (a root holding something else, an ``n_src`` it lacks);
* ``train_set`` builds the training set from the prepared root when the layout's ``tr``
  (fixed mixtures, or dynamic mixing of their sources) is not what the kind wants.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweep.data.constants import ProgressFn
from sweep.spec_nodes import Reader

if TYPE_CHECKING:  # pragma: no cover
    from sweep.data.check import DataPlan

__all__ = ["Option", "DatasetKind", "KINDS", "register", "get_kind", "kinds", "freeze_options"]


@dataclasses.dataclass(frozen=True)
class Option:
    """One key of the spec's ``dataset:`` section.

    Attributes:
        name: the YAML key, and the field of ``DatasetSpec``.
        type: ``str``, ``int``, ``float``, ``bool``, or ``tuple`` for a ``[low, high]`` range in dB.
        default: the value when the spec does not set the key.
        doc: one line for docs and error messages.
        choices: the allowed values, if only some are.
        positive: numbers must be > 0.
        rule: a further check of a parsed value: returns an error message, or None when fine.
    """

    name: str
    type: type
    default: Any
    doc: str = ""
    choices: tuple = ()
    positive: bool = False
    rule: Callable[[Any], str | None] | None = None

    def parse(self, r: Reader, node: yaml.Node, key: str) -> Any:
        """The value written at ``node``; a located error (``file:line: key: message``) if bad."""
        if self.type is tuple:
            if not isinstance(node, yaml.SequenceNode) or len(node.value) != 2:
                raise r.fail(node, key, "expected [low, high] in dB")
            low, high = (r.scalar(v, key, float) for v in node.value)
            if low > high:
                raise r.fail(node, key, f"empty range: low {low} > high {high}")
            return (low, high)
        value = r.scalar(node, key, self.type, positive=self.positive)
        if self.choices and value not in self.choices:
            raise r.fail(node, key, f"unknown value {value!r} (known: {', '.join(map(str, self.choices))})")
        problem = self.rule(value) if self.rule else None
        if problem:
            raise r.fail(node, key, problem)
        return value

    @property
    def annotation(self) -> Any:
        base = tuple[float, float] if self.type is tuple else self.type
        return base | None if self.default is None else base


@dataclasses.dataclass(frozen=True)
class DatasetKind:
    """One dataset kind. Either ``check`` and ``prepare`` (a corpus read from ``dataset.root``)
    or ``generate`` (a corpus made here) is set.

    Attributes:
        name: the ``dataset.kind`` value.
        doc: one line: what ``dataset.root`` is for this kind.
        options: the ``dataset`` keys only this kind reads. Every kind's keys are accepted (and
            validated) for every kind, so a spec can switch kinds; the others ignore them.
        check: ``(ds, root, n_src) -> DataPlan``: read every file header under ``root`` (which
            exists), raising ``DataError`` (or ValueError) that starts with the offending path.
        prepare: ``(plan, cache_dir, progress) -> root`` that trials read (wsj0-2mix layout);
            usually :func:`sweep.data.prepare.cached_root` with the kind's own filler.
        generate: ``(ds, cache_dir, progress) -> root`` of a generated corpus.
        verify: ``(ds, n_src, cache_dir) -> None`` for a generated corpus: what ``sweep data check``
            and a launch check before anything is written; raises ``DataError`` starting with a path.
        describe: ``(ds) -> str``: what ``sweep data check`` prints for a generated corpus.
        train_set: ``(root, meta, *, n_src, segment, sample_rate, seed, dynamic, recipe) ->
            Dataset`` when the training set is not the layout's ``tr`` (see make_datasets).
        dynamic_default: ``train.dynamic_mixing`` when the spec leaves it unset.
    """

    name: str
    doc: str
    options: tuple[Option, ...] = ()
    check: Callable[[Any, Path, int], DataPlan] | None = None
    prepare: Callable[[DataPlan, Path, ProgressFn | None], Path] | None = None
    generate: Callable[[Any, Path, ProgressFn | None], Path] | None = None
    verify: Callable[[Any, int, Path], None] | None = None
    describe: Callable[[Any], str] | None = None
    train_set: Callable[..., Any] | None = None
    dynamic_default: bool = False

    def __post_init__(self) -> None:
        if (self.check is None) == (self.generate is None):
            raise ValueError(f"dataset kind {self.name!r}: set either check (and prepare) or generate")
        if self.check is not None and self.prepare is None:
            raise ValueError(f"dataset kind {self.name!r}: a kind with check needs prepare")

    @property
    def generated(self) -> bool:
        """Made here rather than read: no ``dataset.root`` needed, nothing to check."""
        return self.generate is not None


KINDS: dict[str, DatasetKind] = {}
_options_frozen = False  # set once DatasetSpec has been built from the registered options


def register(kind: DatasetKind) -> DatasetKind:
    """Add ``kind`` to :data:`KINDS` (an import-time call from the kind's module)."""
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise ValueError(f"dataset kind {kind.name!r} is already registered")
    if kind.options and _options_frozen:
        raise ValueError(f"dataset kind {kind.name!r}: DatasetSpec has been built already; import the "
                         "module from sweep/data/kinds.py so that its options become dataset keys")
    KINDS[kind.name] = kind
    return kind


def kinds() -> dict[str, DatasetKind]:
    """Every registered kind, by name, in registration order."""
    import sweep.data.kinds  # noqa: F401  (each kind module registers itself when imported)

    return KINDS


def get_kind(name: str) -> DatasetKind:
    """Look a kind up by name.

    Raises:
        KeyError: unknown name; the message lists the known kinds.
    """
    known = kinds()
    if name not in known:
        raise KeyError(f"unknown dataset kind {name!r}; known: {', '.join(known)}")
    return known[name]


def freeze_options() -> tuple[Option, ...]:
    """Every kind's options, once: from now on a kind with options cannot register."""
    global _options_frozen
    options = tuple(o for k in kinds().values() for o in k.options)
    _options_frozen = True
    return options
