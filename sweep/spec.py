"""Search-space YAML: parse and validate a study before anything runs.

A spec names a study, a dataset, a separator family, the parameter domains to search, the
training budget, the objective, the sampler, the scheduler and the number of trials. Every
error names the file, the line and the key path (``file:line: key.path: message``), so a
researcher can jump to it; nothing is written to any database before validation passes.

Domains (under ``params`` for the family's hyperparameters, and for any ``train`` key)::

    mask: PSM                         # fixed value
    mask: {choice: [AM, PSM, NPSM]}   # categorical
    num_layers: {int: [1, 4]}         # integer range, inclusive; optional step / log
    dropout: {float: [0.0, 0.5]}      # uniform float range
    lr: {log_float: [1.0e-4, 1.0e-2]} # log-uniform float range

What a spec may ask for (file size, nesting, aliases, trials, grid points, seeds, batch sizes,
resources...) is bounded in :mod:`sweep.spec_limits`, and checked before anything is expanded.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from sweep import spec_limits as lim
from sweep.data.spec import DATASET_KINDS, DatasetSpec, parse_dataset  # noqa: F401  (re-exported)
from sweep.objective import Objective
from sweep.plan import TrialPlan, resolve_trial
from sweep.spec_nodes import DOMAIN_KINDS, Domain, SpecError  # noqa: F401  (re-exported)
from sweep.spec_nodes import Reader as _Reader
from sweep.spec_nodes import join as _join
from sweep.spec_nodes import parse_domain as _domain
from sweep.spec_nodes import probe_nodes as _probe_nodes
from sweep.spec_nodes import tname as _tname
from sweep.spec_report import ReportSpec, parse_report
from sweep.spec_run import CheckpointPolicy, parse_checkpoints, parse_failure
from sweep.spec_search import Constraint, parse_constraints, parse_objectives
from sweep.store.tables import NAME_LENGTH

SAMPLERS = ("grid", "tpe", "random", "nsga2")
SCHEDULERS = ("none", "asha")
TOP_KEYS = {"study", "family", "n_src", "seed", "dataset", "params", "train", "objective", "sampler",
            "scheduler", "n_trials", "max_concurrent", "resources", "description", "budgets", "variants", "failure",
            "checkpoints", "constraints", "report"}


BOOL_TRAIN_KEYS = ("dynamic_mixing", "compile")
# String train keys and their values (sweep.worker.recipes builds them)
CHOICE_TRAIN_KEYS = {"optimizer": ("adam", "adamw"), "schedule": ("none", "plateau", "step", "cosine"),
                     "precision": ("auto", "fp32", "bf16")}
# Numeric train keys that may be 0 (the others must be > 0)
ZERO_TRAIN_KEYS = ("weight_decay", "min_lr", "warmup_steps", "plateau_start_epoch", "early_stop_patience")


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """The training budget; every key may also be a searched Domain (see ``Spec.space``)."""

    epochs: int = 4
    segment_s: float = 2.0
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    max_train_mixtures: int | None = None  # cap per epoch (None: the whole train split)
    max_eval_utterances: int | None = None  # cap per test condition (None: all)
    num_threads: int = 1  # torch threads inside one trial
    dynamic_mixing: bool | None = None  # new training pairs every epoch (None: the dataset kind's default)
    compile: bool = False  # torch.compile the model (pays on GPUs for long runs; see benchmarks/)
    # Autocast of training and validation forward passes: auto = bf16 on CUDA, fp32 on CPU;
    # bf16 on CPU pays where the CPU has native bf16 (sweep.worker.precision). Test scoring is fp32.
    precision: str = "auto"  # auto | fp32 | bf16
    # The recipe (sweep.worker.recipes; docs/families.md): the defaults are a fixed-rate Adam, no early stop.
    optimizer: str = "adam"  # adam (L2 weight decay) | adamw (decoupled weight decay)
    schedule: str = "none"  # none | plateau | step | cosine
    lr_factor: float = 0.5  # plateau / step: multiply the rate by this
    lr_patience: int = 3  # plateau: epochs in a row without a validation gain before the rate drops
    plateau_start_epoch: int = 0  # plateau: epochs up to this one are not counted
    lr_step_epochs: int = 2  # step: drop the rate after every this many epochs
    min_lr: float = 0.0  # floor of every schedule; cosine ends here
    warmup_steps: int = 0  # optimizer steps of linear warmup to lr, before any schedule
    early_stop_patience: int = 0  # stop after this many epochs in a row without a validation gain (0: off)


@dataclasses.dataclass(frozen=True)
class Spec:
    path: str
    study: str
    family: str
    n_src: int
    seed: int
    dataset: DatasetSpec
    space: dict[str, Domain]  # flat: model hyperparameters by name, training keys as "train.<key>"
    train: TrainSpec  # fixed training values (searched keys hold their defaults here)
    objective: Objective
    sampler: str
    scheduler: str
    asha_grace_period: int
    asha_reduction_factor: int
    n_trials: int
    max_concurrent: int | None  # None: what the resources allow
    cpus_per_trial: float
    gpus_per_trial: float
    text: str  # the YAML as written, stored with the study
    # Cross-family studies: variant name -> (family, complete model parameters); the searched
    # "variant" key picks one. Empty for a single-family spec.
    variants: dict[str, tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)
    budget: str | None = None  # the `budgets` entry laid over the top level, if the spec has any
    max_retries: int = 0  # `failure: {max_retries: N}`: a failed trial runs again up to N times
    checkpoints: CheckpointPolicy = CheckpointPolicy()  # which finished trials keep their model
    objectives: tuple[Objective, ...] = ()  # all of them (multi-objective); `objective` is the first
    constraints: tuple[Constraint, ...] = ()  # `constraints:`, checked before a trial trains
    report: ReportSpec = ReportSpec()  # `report:`, what the study's HTML page embeds

    def __post_init__(self) -> None:
        if not self.objectives:  # a Spec made in code with one objective
            object.__setattr__(self, "objectives", (self.objective,))

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def resolve_trial(self, params: dict[str, Any], data_root: str | None = None) -> TrialPlan:
        """The :class:`~sweep.plan.TrialPlan` of Optuna's flat ``params`` (see :mod:`sweep.plan`)."""
        return resolve_trial(self, params, data_root)

    def families(self) -> list[str]:
        """The families this study trains: one, or those of its variants."""
        return sorted({f for f, _ in self.variants.values()}) if self.variants else [self.family]

    def searched(self) -> dict[str, Domain]:
        return {k: d for k, d in self.space.items() if not d.is_fixed}

    def fixed(self) -> dict[str, Any]:
        return {k: d.fixed_value() for k, d in self.space.items() if d.is_fixed}

    def grid(self) -> dict[str, list[Any]]:
        return {k: d.grid_values() for k, d in self.searched().items()}

    def grid_size(self) -> int:
        """The number of grid points, by arithmetic (a spec's grid is bounded before it is listed)."""
        return math.prod(d.grid_size() for d in self.searched().values())


def _check_against_hparam(r: _Reader, node: yaml.Node, key: str, dom: Domain, hparam) -> None:
    """Each fixed value / choice / range end must be a legal value of the family's parameter."""
    probes = list(dom.values) if dom.kind in ("fixed", "choice") else [dom.low, dom.high]
    if dom.kind == "int" or (dom.kind in ("float", "log_float") and hparam.kind == "int"):
        if hparam.kind != "int":
            raise r.fail(node, key, f"{dom.kind} range given for a {hparam.kind} parameter")
        probes = [int(p) for p in probes]
    if dom.kind in ("float", "log_float") and hparam.kind not in ("float",):
        raise r.fail(node, key, f"{dom.kind} range given for a {hparam.kind} parameter")
    for p in probes:
        try:
            hparam.validate(p)
        except ValueError as exc:
            raise r.fail(node, key, str(exc)) from None


def load_spec(path: str | Path, budget: str | None = None) -> Spec:
    """Read and validate a search-space YAML file; raises SpecError on any problem.

    ``budget`` picks one entry of the spec's ``budgets`` mapping (default: the first), whose
    sections are laid over the top level (see :func:`parse_spec`)."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise SpecError(file, None, "", "no such file")
    with path.open("rb") as f:  # one byte past the bound: a huge file is never read whole
        data = f.read(lim.MAX_SPEC_BYTES + 1)
    return parse_spec(lim.decode(file, data), file, budget)


def parse_spec(text: str, file: str = "<spec>", budget: str | None = None) -> Spec:
    """Validate spec text. With a ``budgets`` mapping (e.g. ``cpu`` and ``paper``), the chosen
    budget's ``params``/``train``/``dataset``/``resources`` keys override the top level's and
    its other keys replace them; a budget other than the first runs as study ``NAME-BUDGET``.

    One parser per section; each raises :class:`SpecError` naming the file, line and key."""
    r = _Reader(file)
    top = _compose(r, text)
    top, budget, suffix = _apply_budget(r, top, budget)
    study, n_src, seed = _header(r, top)
    lim.check_study_name(r, top["study"][1], study + suffix, NAME_LENGTH)
    dataset = parse_dataset(r, top["dataset"][1]) if "dataset" in top else DatasetSpec()
    family, space, nodes, variants = _family_space(r, top)
    train = _train(r, top, space, nodes)
    objectives, sampler = parse_objectives(r, top), _sampler(r, top)
    objective = objectives[0]
    scheduler, grace, rf = _scheduler(r, top)
    n_trials_node = top.get("n_trials", (None, None))[1]
    n_trials = _bounded_int(r, top, "n_trials", None, lim.MAX_TRIALS, "rows in the database, one trial at a time")
    # None: as many as the resources allow (sweep.driver.cluster.trials_that_fit), found at launch
    max_conc = _bounded_int(r, top, "max_concurrent", None, lim.MAX_CONCURRENT, "concurrent Ray trials")
    cpus, gpus = _resources(r, top)
    spec = Spec(file, study + suffix, family, n_src, seed, dataset, space, train, objective, sampler, scheduler,
                grace, rf, n_trials or 0, max_conc, cpus, gpus, text, variants, budget)
    spec = dataclasses.replace(spec, max_retries=parse_failure(r, top), checkpoints=parse_checkpoints(r, top),
                               objectives=objectives, constraints=parse_constraints(r, top),
                               report=parse_report(r, top))
    spec = _count_trials(r, spec, nodes, n_trials, n_trials_node)
    lim.check_seed(r, top["seed"][1] if "seed" in top else None, "seed", spec.seed, spec.n_trials)
    return spec


def _bounded_int(r: _Reader, top: dict, key: str, default: int | None, high: int, why: str) -> int | None:
    """A positive integer top-level key, at most ``high``; ``default`` when absent."""
    if key not in top:
        return default
    value = r.scalar(top[key][1], key, int, positive=True)
    lim.at_most(r, top[key][1], key, value, high, why)
    return value


def _compose(r: _Reader, text: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    root = lim.compose(r, text)  # nodes only, within the document bounds: nothing is constructed here
    if root is None:
        raise SpecError(r.file, None, "", "the file is empty")
    top = r.mapping(root, "")
    r.check_keys(top, TOP_KEYS, "")
    return top


def _header(r: _Reader, top: dict) -> tuple[str, int, int]:
    """``study``, ``n_src``, ``seed``; and which of ``family``/``params``/``variants`` must be there."""
    if "variants" in top:
        for clash in ("family", "params"):
            if clash in top:
                raise r.fail(top[clash][0], clash, "give either `variants` or `family` + `params`, not both")
    for required in ("study",) if "variants" in top else ("study", "family", "params"):
        if required not in top:
            raise SpecError(r.file, 1, required, "missing required key")
    study = r.scalar(top["study"][1], "study", str)
    if not study.replace("-", "").replace("_", "").isalnum():
        raise r.fail(top["study"][1], "study", "use letters, digits, '-' and '_' only")
    n_src = _bounded_int(r, top, "n_src", 2, lim.MAX_N_SRC, "sources per mixture")
    seed = r.scalar(top["seed"][1], "seed", int) if "seed" in top else 0  # bounded with n_trials, at the end
    return study, n_src, seed


def _family_space(r: _Reader, top: dict) -> tuple[str, dict[str, Domain], dict[str, yaml.Node], dict]:
    """The family (or the variants of a cross-family study) and the model parameters' domains."""
    from sweep.models import FAMILIES  # the family registry decides which parameters exist

    space: dict[str, Domain] = {}
    nodes: dict[str, yaml.Node] = {}  # where each domain was written, for later errors
    if "variants" in top:
        variants = _variants(r, top["variants"][1], FAMILIES)
        space["variant"], nodes["variant"] = Domain("choice", tuple(variants)), top["variants"][1]
        return "+".join(sorted({f for f, _ in variants.values()})), space, nodes, variants
    fnode = top["family"][1]
    family = r.scalar(fnode, "family", str)
    if family not in FAMILIES:
        raise r.fail(fnode, "family", f"unknown family {family!r} (known: {', '.join(sorted(FAMILIES))})")
    fam = FAMILIES[family]
    for name, (knode, vnode) in r.mapping(top["params"][1], "params").items():
        key = _join("params", name)
        if name not in fam.hyperparameters:
            raise r.fail(knode, key, f"unknown parameter for family {family!r} "
                                     f"(known: {', '.join(sorted(fam.hyperparameters))})")
        dom = _domain(r, vnode, key)
        _check_against_hparam(r, vnode, key, dom, fam.hyperparameters[name])
        space[name], nodes[name] = dom, vnode
    return family, space, nodes, {}


def _train(r: _Reader, top: dict, space: dict[str, Domain], nodes: dict[str, yaml.Node]) -> TrainSpec:
    """The ``train`` section: fixed values go into TrainSpec, every key also into ``space``."""
    if "train" not in top:
        return TrainSpec()
    fixed: dict[str, Any] = {}
    titems = r.mapping(top["train"][1], "train")
    r.check_keys(titems, {f.name for f in dataclasses.fields(TrainSpec)}, "train")
    for name, (_, vnode) in titems.items():
        key = _join("train", name)
        dom = _domain(r, vnode, key)
        for v, vn in _probe_nodes(vnode, dom):
            _check_train_value(r, vn, key, name, v)
        if dom.is_fixed:
            fixed[name] = dom.fixed_value()
        space[f"train.{name}"], nodes[f"train.{name}"] = dom, vnode
    if "min_lr" in titems:
        _check_min_lr(r, titems["min_lr"][1], space)
    return TrainSpec(**fixed)


def _check_min_lr(r: _Reader, node: yaml.Node, space: dict[str, Domain]) -> None:
    """``min_lr`` may not exceed ``lr`` in any combination the spec can sample."""
    def values(key: str) -> list[float]:
        dom = space.get(key, Domain("fixed", (getattr(TrainSpec(), key[len("train."):]),)))
        return [v for v, _ in _probe_nodes(node, dom)]

    if max(values("train.min_lr")) > min(values("train.lr")):
        raise r.fail(node, "train.min_lr", f"must be at most train.lr ({min(values('train.lr'))!r}), "
                                           f"got {max(values('train.min_lr'))!r}")


def _check_train_value(r: _Reader, node: yaml.Node, key: str, name: str, v: Any) -> None:
    default = getattr(TrainSpec(), name)
    if v is None and default is None:
        return
    if name in BOOL_TRAIN_KEYS:
        if not isinstance(v, bool):
            raise r.fail(node, key, f"expected a boolean, got {v!r}")
        return
    if name in CHOICE_TRAIN_KEYS:
        if not isinstance(v, str) or v not in CHOICE_TRAIN_KEYS[name]:
            raise r.fail(node, key, f"unknown {name} {v!r} (known: {', '.join(CHOICE_TRAIN_KEYS[name])})")
        return
    typ = float if isinstance(default, float) else int
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (typ is int and not isinstance(v, int)):
        raise r.fail(node, key, f"expected a {_tname(typ)}, got {v!r}")
    r.finite(node, key, v)
    if v <= 0 and name not in ZERO_TRAIN_KEYS:
        raise r.fail(node, key, f"must be > 0, got {v!r}")
    if v < 0:
        raise r.fail(node, key, f"must be >= 0, got {v!r}")
    if name in lim.TRAIN_MAX:
        lim.at_most(r, node, key, v, *lim.TRAIN_MAX[name])


def _sampler(r: _Reader, top: dict) -> str:
    if "sampler" not in top:
        return "tpe"
    sampler = r.scalar(top["sampler"][1], "sampler", str)
    if sampler not in SAMPLERS:
        raise r.fail(top["sampler"][1], "sampler", f"unknown sampler {sampler!r} (known: {', '.join(SAMPLERS)})")
    return sampler


def _scheduler(r: _Reader, top: dict) -> tuple[str, int, int]:
    """``scheduler: asha`` or ``{kind, grace_period, reduction_factor}``."""
    scheduler, grace, rf = "none", 1, 2
    if "scheduler" not in top:
        return scheduler, grace, rf
    snode = top["scheduler"][1]
    if isinstance(snode, yaml.ScalarNode):
        scheduler = str(r.value(snode, "scheduler")).lower() if r.value(snode, "scheduler") is not None else "none"
    else:
        sitems = r.mapping(snode, "scheduler")
        r.check_keys(sitems, {"kind", "grace_period", "reduction_factor"}, "scheduler")
        if "kind" not in sitems:
            raise r.fail(snode, "scheduler.kind", "missing required key")
        scheduler = r.scalar(sitems["kind"][1], "scheduler.kind", str)
        if "grace_period" in sitems:
            gnode = sitems["grace_period"][1]
            grace = r.scalar(gnode, "scheduler.grace_period", int, positive=True)
            lim.at_most(r, gnode, "scheduler.grace_period", grace, lim.TRAIN_MAX["epochs"][0], "as train.epochs")
        if "reduction_factor" in sitems:
            rnode = sitems["reduction_factor"][1]
            rf = r.scalar(rnode, "scheduler.reduction_factor", int, positive=True)
            if rf < lim.MIN_REDUCTION_FACTOR:  # Ray's ASHAScheduler asserts it, after the study row exists
                raise r.fail(rnode, "scheduler.reduction_factor", f"must be >= {lim.MIN_REDUCTION_FACTOR}, got {rf}")
    if scheduler not in SCHEDULERS:
        raise r.fail(snode, "scheduler", f"unknown scheduler {scheduler!r} (known: {', '.join(SCHEDULERS)})")
    return scheduler, grace, rf


def _resources(r: _Reader, top: dict) -> tuple[float, float]:
    cpus, gpus = 1.0, 0.0
    if "resources" in top:
        ritems = r.mapping(top["resources"][1], "resources")
        r.check_keys(ritems, {"cpu", "gpu"}, "resources")
        if "cpu" in ritems:
            cpus = r.scalar(ritems["cpu"][1], "resources.cpu", float, positive=True)
            lim.at_most(r, ritems["cpu"][1], "resources.cpu", cpus, lim.MAX_CPUS, "CPUs of one node")
        if "gpu" in ritems:
            gpus = r.scalar(ritems["gpu"][1], "resources.gpu", float)
            if gpus < 0:
                raise r.fail(ritems["gpu"][1], "resources.gpu", f"must be >= 0, got {gpus!r}")
            lim.at_most(r, ritems["gpu"][1], "resources.gpu", gpus, lim.MAX_GPUS, "GPUs of one node")
    return cpus, gpus


def _count_trials(r: _Reader, spec: Spec, nodes: dict[str, yaml.Node], n_trials: int | None,
                  n_trials_node: yaml.Node | None) -> Spec:
    """Fill ``n_trials`` for a grid (or check it), and turn a spec with nothing searched into
    replicates of one configuration, each with its own seed (seed + replicate), so Optuna
    still has one parameter to ask for."""
    if not spec.searched():
        space = {**spec.space, "replicate": Domain("int", (), 0, (n_trials or 1) - 1)}
        spec = dataclasses.replace(spec, space=space, sampler="grid")
    if spec.sampler != "grid":
        if n_trials is None:
            raise SpecError(r.file, 1, "n_trials", f"missing required key (needed by the {spec.sampler} sampler)")
        return spec
    for name, dom in spec.searched().items():
        if dom.kind not in ("choice",) and not (dom.kind == "int" and not dom.log):
            raise r.fail(nodes[name], _key_of(name), f"the grid sampler needs choice or int domains, got {dom.kind}")
    size = spec.grid_size()  # arithmetic: nothing is listed before the bound
    if size > lim.MAX_GRID_POINTS:  # named at the widest domain, the one to narrow first
        widest = max(spec.searched().items(), key=lambda kv: kv[1].grid_size())[0]
        raise r.fail(nodes[widest], _key_of(widest), f"the grid has {size} points; at most "
                     f"{lim.MAX_GRID_POINTS} are allowed (narrow the ranges, or use the tpe or random sampler)")
    if n_trials is None:
        return dataclasses.replace(spec, n_trials=size)
    if n_trials != size:
        raise r.fail(n_trials_node, "n_trials", f"a grid of {size} points needs n_trials: {size} (or leave it out)")
    return spec


def _key_of(name: str) -> str:
    """The spec key that wrote the searched parameter ``name`` of ``Spec.space``."""
    return "variants" if name == "variant" else name if name.startswith("train.") else f"params.{name}"


def _variants(r: _Reader, node: yaml.Node, families: dict) -> dict[str, tuple[str, dict[str, Any]]]:
    """``variants: {NAME: {family: F, preset: P, params: {...}}}``, each resolved and validated."""
    items = r.mapping(node, "variants")
    if not items:
        raise r.fail(node, "variants", "empty domain: name at least one variant")
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, (knode, vnode) in items.items():
        key = _join("variants", name)
        v = r.mapping(vnode, key)
        r.check_keys(v, {"family", "preset", "params"}, key)
        if "family" not in v:
            raise r.fail(vnode, _join(key, "family"), "missing required key")
        family = r.scalar(v["family"][1], _join(key, "family"), str)
        if family not in families:
            raise r.fail(v["family"][1], _join(key, "family"),
                         f"unknown family {family!r} (known: {', '.join(sorted(families))})")
        fam = families[family]
        base: dict[str, Any] = {}
        if "preset" in v:
            preset = r.scalar(v["preset"][1], _join(key, "preset"), str)
            if preset not in fam.presets:
                raise r.fail(v["preset"][1], _join(key, "preset"),
                             f"family {family!r} has no preset {preset!r} (known: {', '.join(fam.presets)})")
            base = dict(fam.presets[preset])
        for pname, (pk, pv) in (r.mapping(v["params"][1], _join(key, "params")).items() if "params" in v else []):
            pkey = _join(key, f"params.{pname}")
            if pname not in fam.hyperparameters:
                raise r.fail(pk, pkey, f"unknown parameter for family {family!r} "
                                       f"(known: {', '.join(sorted(fam.hyperparameters))})")
            if not isinstance(pv, yaml.ScalarNode):
                raise r.fail(pv, pkey, "variant parameters are fixed values")
            try:
                base[pname] = fam.hyperparameters[pname].validate(r.value(pv, pkey))
            except ValueError as exc:
                raise r.fail(pv, pkey, str(exc)) from None
        try:
            out[name] = (family, fam.resolve(base))
        except ValueError as exc:
            raise r.fail(vnode, key, str(exc)) from None
    return out


_MERGED = ("params", "train", "dataset", "resources", "report")  # budget `variants` replace the top level's


def _apply_budget(r: _Reader, top: dict, budget: str | None) -> tuple[dict, str | None, str]:
    """Lay the chosen budget over the top level; returns (top, budget name, study suffix)."""
    if "budgets" not in top:
        if budget is not None:
            raise SpecError(r.file, None, "budgets", f"--budget {budget} given but the spec has no budgets")
        return top, None, ""
    bnode = top["budgets"][1]
    budgets = r.mapping(bnode, "budgets")
    if not budgets:
        raise r.fail(bnode, "budgets", "empty: name at least one budget (e.g. cpu)")
    names = list(budgets)
    chosen = budget or names[0]
    if chosen not in budgets:
        raise r.fail(bnode, "budgets", f"no budget {chosen!r} (known: {', '.join(names)})")
    key = f"budgets.{chosen}"
    items = r.mapping(budgets[chosen][1], key)
    r.check_keys(items, set(_MERGED) | {"n_trials", "max_concurrent", "scheduler", "sampler", "variants",
                                        "checkpoints", "constraints"}, key)
    merged = {k: v for k, v in top.items() if k != "budgets"}
    for name, (knode, vnode) in items.items():
        if name in _MERGED and name in merged:
            base = r.mapping(merged[name][1], name)
            over = r.mapping(vnode, f"{key}.{name}")
            pairs = [(kn, vn) for k, (kn, vn) in base.items() if k not in over] + list(over.values())
            vnode = yaml.MappingNode("tag:yaml.org,2002:map", pairs, vnode.start_mark, vnode.end_mark)
        merged[name] = (knode, vnode)
    return merged, chosen, "" if chosen == names[0] else f"-{chosen}"
