"""The YAML layer of a spec: located errors, parameter domains, and a reader that walks composed
YAML nodes so that every error can name ``file:line: key.path``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import yaml

DOMAIN_KINDS = ("choice", "int", "float", "log_float")


class SpecError(ValueError):
    """A spec problem located at ``file:line`` and a dotted key path."""

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        # The CLI prints the error as one line: a key or message may quote text with line breaks.
        key, message = (s.replace("\r", "\\r").replace("\n", "\\n") for s in (key, message))
        self.file, self.line, self.key, self.message = file, line, key, message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@dataclasses.dataclass(frozen=True)
class Domain:
    """One searched (or fixed) parameter. ``kind`` is 'fixed' or one of DOMAIN_KINDS."""

    kind: str
    values: tuple[Any, ...] = ()  # the fixed value (1 item) or the choices
    low: float | None = None
    high: float | None = None
    step: int | None = None
    log: bool = False

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed" or (self.kind == "choice" and len(self.values) == 1)

    def fixed_value(self) -> Any:
        return self.values[0]

    def to_optuna(self):  # -> optuna.distributions.BaseDistribution
        import optuna.distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution(list(self.values))
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log, step=self.step or 1)
        return d.FloatDistribution(float(self.low), float(self.high), log=self.kind == "log_float")

    def grid_values(self) -> list[Any]:
        if self.kind in ("fixed", "choice"):
            return list(self.values)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, self.step or 1))
        raise ValueError(f"a {self.kind} range has no finite grid")

    def grid_size(self) -> int:
        """``len(self.grid_values())``, by arithmetic: a spec's grid is bounded before it is listed."""
        if self.kind in ("fixed", "choice"):
            return len(self.values)
        if self.kind == "int" and not self.log:
            return (int(self.high) - int(self.low)) // (self.step or 1) + 1
        raise ValueError(f"a {self.kind} range has no finite grid")


# ---------------------------------------------------------------------------------------------
# Parsing with line numbers: compose the YAML into nodes (which carry marks), then walk them.


class Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, node: yaml.Node | None, key: str, message: str) -> SpecError:
        line = node.start_mark.line + 1 if node is not None else None
        return SpecError(self.file, line, key, message)

    def mapping(self, node: yaml.Node, key: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, f"expected a mapping, got {describe(node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            name = str(k.value)
            if name in out:
                raise self.fail(k, join(key, name), "duplicate key")
            out[name] = (k, v)
        return out

    def check_keys(self, items: dict, allowed, key: str) -> None:
        for name, (knode, _) in items.items():
            if name not in allowed:
                raise self.fail(knode, join(key, name), f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def scalar(self, node: yaml.Node, key: str, typ: type | tuple, *, positive: bool = False) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"expected a {tname(typ)}, got {describe(node)}")
        value = self.value(node, key)
        types = typ if isinstance(typ, tuple) else (typ,)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 2**1023:  # float() raises OverflowError past ~1.8e308
                raise self.fail(node, key, f"must be a finite number, got an integer of {len(str(value))} digits")
            value = float(value)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise self.fail(node, key, f"expected a {tname(typ)}, got {value!r}")
        self.finite(node, key, value)
        if positive and value <= 0:
            raise self.fail(node, key, f"must be > 0, got {value!r}")
        return value

    def value(self, node: yaml.Node, key: str = "") -> Any:
        """The Python value of one node. Constructing can fail on text the resolver accepted
        (``2020-13-45`` as a date, an integer of 5,000 digits, ``!!int abc``): a located error."""
        try:
            return _construct(node)
        except _CONSTRUCT_ERRORS as exc:
            problem = str(getattr(exc, "problem", None) or exc).strip().splitlines() or [type(exc).__name__]
            raise self.fail(node, key, f"cannot read {_shown(node)}: {problem[0]}") from None

    def finite(self, node: yaml.Node, key: str, value: Any) -> None:
        """NaN and infinities pass ``<``/``>`` checks silently and crash (or poison) a trial later."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(node, key, f"must be a finite number, got {value!r}")


# What PyYAML's safe constructors raise on a scalar they cannot build (int(), date(), a dict lookup).
_CONSTRUCT_ERRORS = (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError)


def _construct(node: yaml.Node) -> Any:
    # Callers hand scalars, or collections already bounded by spec_limits.compose (so this never
    # builds an alias bomb).
    return yaml.safe_load(yaml.serialize(node))


def _shown(node: yaml.Node) -> str:
    text = node.value if isinstance(node, yaml.ScalarNode) else "this value"
    return repr(text if len(text) <= 40 else text[:40] + "...")


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    try:
        return repr(_construct(node))
    except _CONSTRUCT_ERRORS:
        return _shown(node)


def tname(typ: type | tuple) -> str:
    types = typ if isinstance(typ, tuple) else (typ,)
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def parse_domain(r: Reader, node: yaml.Node, key: str) -> Domain:
    if isinstance(node, yaml.ScalarNode):
        value = r.value(node, key)
        r.finite(node, key, value)
        return Domain("fixed", (value,))
    if isinstance(node, yaml.SequenceNode):
        raise r.fail(node, key, "a list is ambiguous; write {choice: [...]} for a categorical domain")
    items = r.mapping(node, key)
    kinds = [k for k in items if k in DOMAIN_KINDS]
    if len(kinds) != 1:
        raise r.fail(node, key, f"a domain needs exactly one of {', '.join(DOMAIN_KINDS)}")
    kind = kinds[0]
    r.check_keys(items, {kind, "step", "log"} if kind == "int" else {kind}, key)
    knode, vnode = items[kind]
    vkey = join(key, kind)
    if not isinstance(vnode, yaml.SequenceNode):
        raise r.fail(vnode, vkey, f"expected a list, got {describe(vnode)}")
    values = [r.value(v, vkey) for v in vnode.value]
    if kind == "choice":
        if not values:
            raise r.fail(vnode, vkey, "empty domain: give at least one choice")
        if len(set(map(repr, values))) != len(values):
            raise r.fail(vnode, vkey, "choices repeat a value")
        for v, vn in zip(values, vnode.value):
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise r.fail(vn, vkey, f"choices must be scalars, got {describe(vn)}")
            r.finite(vn, vkey, v)
        return Domain("choice", tuple(values))
    if len(values) != 2:
        raise r.fail(vnode, vkey, f"a range is [low, high], got {len(values)} values")
    typ = int if kind == "int" else (int, float)
    low, high = (r.scalar(v, vkey, typ) for v in vnode.value)
    if low > high:
        raise r.fail(vnode, vkey, f"empty domain: low {low} > high {high}")
    if kind == "log_float" and low <= 0:
        raise r.fail(vnode, vkey, f"a log range needs low > 0, got {low}")
    step = r.scalar(items["step"][1], join(key, "step"), int, positive=True) if "step" in items else None
    log = r.scalar(items["log"][1], join(key, "log"), bool) if "log" in items else False
    if log and (low < 1 or (step or 1) != 1):  # what Optuna's IntDistribution accepts, checked now
        raise r.fail(node, key, f"a log int range needs low >= 1 and no step, got low {low}, step {step}")
    return Domain(kind, (), float(low) if kind != "int" else low, float(high) if kind != "int" else high, step, log)


def probe_nodes(vnode: yaml.Node, dom: Domain) -> list[tuple[Any, yaml.Node]]:
    if dom.kind in ("fixed",):
        return [(dom.values[0], vnode)]
    if dom.kind == "choice":
        return [(v, vnode) for v in dom.values]
    return [(dom.low, vnode), (dom.high, vnode)]
