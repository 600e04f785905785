"""What a spec may ask for: the bounds checked before anything is expanded, built or run.

A spec is user input, and a few lines of YAML can ask for more than any machine has: an alias
"bomb" that expands to a billion nodes, a grid of 10**9 points, 10**12 trials, a batch of 10**9
mixtures. Each bound below is refused with a located :class:`~sweep.spec_nodes.SpecError`, and
each is checked from counts and arithmetic, never by materialising what the spec asks for.

YAML is composed (not constructed) by :func:`compose`, which enforces the document-level bounds
while the node graph is built: nesting depth, the node count with every alias expanded (without
expanding it: each anchor's expanded size is remembered and an alias adds it), and tags.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer

from sweep.spec_nodes import Reader, SpecError

# -- the document -------------------------------------------------------------------------------
# The shipped specs are under 4 KiB; 64 KiB leaves room for long variant lists while keeping
# parsing (even without libyaml) well under a second.
MAX_SPEC_BYTES = 64 * 1024
# A spec nests about 8 levels (budgets.paper.params.NAME.int.[...]); 32 is ample, and keeps the
# recursive composer (4 Python frames a level) far from Python's recursion limit.
MAX_DEPTH = 32
# Nodes with every alias expanded. Shipped specs have a few hundred; 10,000 allows aliases that
# share blocks between budgets but refuses "billion laughs" (nested aliases that double or
# decuple at each level) as soon as the expanded count passes the bound.
MAX_NODES = 10_000
# Tags a spec may write explicitly: the YAML core schema. Anything else (``!!python/object``,
# ``!!binary``, ``!!set``, custom ``!foo``) is refused by name rather than constructed.
CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}

# -- the study ----------------------------------------------------------------------------------
# Optuna asks one trial at a time and the database holds a row per trial; 100,000 is far past any
# study this harness runs and still a few MB of rows. A grid needs n_trials = its size, so the
# same bound caps the grid (computed as a product of counts, never listed).
MAX_TRIALS = 100_000
MAX_GRID_POINTS = MAX_TRIALS
# Ray's concurrent trials; more than any cluster this runs on, and bounds the searcher's queue.
MAX_CONCURRENT = 1_024
# A trial's seed is seed + replicate (< n_trials); numpy's legacy seeding and Optuna's samplers
# take 32-bit unsigned seeds, and 2**31 keeps clear of signed-int conversions too.
SEED_LIMIT = 2**31
# Sources per mixture: the corpora have 2 or 3 (LibriMix up to 5); 16 leaves room, while 10**6
# output masks would exhaust memory when the model is built.
MAX_N_SRC = 16
# One trial's Ray resources: no single node has more CPUs or GPUs than this.
MAX_CPUS = 1_024
MAX_GPUS = 64

# -- training -----------------------------------------------------------------------------------
# Upper bounds of the `train` keys (inclusive), with why; lower bounds are > 0 (>= 0 for
# sweep.spec.ZERO_TRAIN_KEYS), and every number must be finite.
TRAIN_MAX: dict[str, tuple[float, str]] = {
    "epochs": (10_000, "a longer run is a mistake at these model sizes"),
    "batch_size": (4_096, "larger batches of these models fit no accelerator"),
    "segment_s": (60.0, "training segments are seconds; a minute per example already fills memory"),
    "num_threads": (256, "torch threads inside one trial; no machine has more cores"),
    "lr_factor": (1.0, "a schedule lowers the learning rate; a factor above 1 would raise it"),
    "lr_patience": (10_000, "epochs, like `epochs`"),
    "plateau_start_epoch": (10_000, "epochs, like `epochs`"),
    "lr_step_epochs": (10_000, "epochs, like `epochs`"),
    "early_stop_patience": (10_000, "epochs, like `epochs`"),
    "warmup_steps": (100_000_000, "optimizer steps; 10,000 epochs of 10,000 batches"),
}
# ASHA's reduction factor must exceed 1 (Ray asserts it when the scheduler is built).
MIN_REDUCTION_FACTOR = 2


# Events come from libyaml when PyYAML was built with it: the pure-Python scanner looks ahead up
# to 1024 characters per flow level, so 10,000 nested `[` take about a second to refuse there.
_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BoundedLoader(_EVENTS, Composer):  # type: ignore[misc, valid-type]
    """PyYAML's (Python) composer, over libyaml's events where available, with the document bounds
    checked node by node, so that nothing past a bound is ever composed. Errors carry the key path
    being composed."""

    get_single_node = Composer.get_single_node  # not CParser's: it would bypass compose_node below

    def __init__(self, text: str, reader: Reader) -> None:
        _EVENTS.__init__(self, text)
        Composer.__init__(self)
        self._reader = reader
        self._path: list[str] = []  # key path of the node being composed
        self._depth = 0
        self._total = 0  # nodes so far, aliases expanded
        self._sizes: dict[int, int] = {}  # id(node) -> its expanded size, once complete

    def _fail(self, mark: yaml.Mark, message: str) -> SpecError:
        return SpecError(self._reader.file, mark.line + 1, ".".join(self._path), message)

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self._total += n
        if self._total > MAX_NODES:
            raise self._fail(mark, f"with its aliases expanded the spec has more than {MAX_NODES} YAML nodes "
                                   "(nested aliases?); at most that many are allowed")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.ScalarNode):
            self._path.append(str(index.value))  # a mapping's value: one more key in the path
            try:
                return self._compose(parent, index)
            finally:
                self._path.pop()
        return self._compose(parent, index)

    def _compose(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is left to PyYAML's own error
                size = self._sizes.get(id(target))
                if size is None:  # the anchored collection is still open: the alias is inside it
                    raise self._fail(event.start_mark, f"alias *{event.anchor} refers to a collection that contains it")
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)
        if event.tag not in (None, "!") and event.tag not in CORE_TAGS:
            shown = event.tag.replace("tag:yaml.org,2002:", "!!")
            raise self._fail(event.start_mark, f"YAML tag {shown} is not allowed (a spec holds plain strings, "
                                                "numbers, booleans, lists and mappings)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._fail(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        start = self._total
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = self._total - start
        self._depth -= 1
        return node


def compose(r: Reader, text: str) -> yaml.Node | None:
    """The spec's root node, composed within the document bounds; None for an empty document.

    Composing is cheap even for an alias bomb (aliases share nodes); constructing Python values
    from it is what explodes, so the whole file is never constructed: values are read one scalar
    at a time by :class:`~sweep.spec_nodes.Reader`."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(r.file, None, "", f"the spec is {len(text)} characters; at most {MAX_SPEC_BYTES} are allowed")
    loader = None
    try:
        loader = _BoundedLoader(text, r)  # PyYAML's reader refuses unprintable characters right here
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise SpecError(r.file, _line_of(exc, text), "", f"not valid YAML: {first_line(exc)}") from None
    except RecursionError:  # a backstop: MAX_DEPTH should refuse any nesting deep enough for this
        raise SpecError(r.file, None, "", "not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _line_of(exc: yaml.YAMLError, text: str) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)  # a ReaderError (an unprintable character) has no mark
    return text[:position].count("\n") + 1 if isinstance(position, int) else None


def first_line(exc: Exception) -> str:
    """What went wrong, on one line: the CLI prints a SpecError as exactly one line."""
    text = str(getattr(exc, "problem", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def decode(file: str, data: bytes) -> str:
    """The spec file's bytes as text: a located error for a binary or oversized file."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(file, None, "", f"the file is larger than {MAX_SPEC_BYTES} bytes; is it a spec?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(file, line, "", f"not a UTF-8 text file (byte 0x{data[exc.start]:02x} "
                                        f"at offset {exc.start})") from None


def at_most(r: Reader, node: yaml.Node, key: str, value: float, high: float, why: str = "") -> None:
    """Refuse ``value`` above ``high`` (the reason in the message, when given)."""
    if value > high:
        raise r.fail(node, key, f"must be at most {high}, got {value!r}" + (f" ({why})" if why else ""))


def check_seed(r: Reader, node: yaml.Node | None, key: str, seed: int, n_trials: int) -> None:
    """``seed`` and every trial's ``seed + replicate`` must be a valid 31-bit seed."""
    if seed < 0:
        raise r.fail(node, key, f"must be >= 0, got {seed}")
    if seed + max(n_trials, 1) > SEED_LIMIT:
        raise r.fail(node, key, f"seed + n_trials must be at most 2**31 = {SEED_LIMIT} (trial seeds are seed + "
                                f"replicate and numpy/torch take 32-bit seeds), got {seed} + {n_trials}")


def check_study_name(r: Reader, node: yaml.Node, name: str, limit: int) -> None:
    """The final study name (budget suffix included) must fit the database column."""
    if len(name) > limit:
        raise r.fail(node, "study", f"the study name {name[:20]}... is {len(name)} characters (budget suffix "
                                    f"included); the database holds at most {limit}")
