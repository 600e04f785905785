"""Where the trials run: a private local Ray instance, or the cluster at ``--ray-address``, and
whether it can give each trial what the spec asks for (checked before anything is written)."""

from __future__ import annotations

import logging
import os

from sweep.spec import Spec


class ResourceError(RuntimeError):
    """The trials ask for resources this machine (or cluster) cannot give."""


def init_ray(ray_address: str | None) -> None:
    """Connect to ``ray_address``, or start a private local instance: without an address Ray
    would attach to any cluster already started on this machine (``ray start``) and then
    refuse our ``num_cpus``."""
    import ray

    if ray.is_initialized():
        return
    # Ray 2.60 turns token authentication on for a new local instance and says so on every
    # launch; it stays on, the banner goes.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    options = {} if ray_address else {"num_cpus": os.cpu_count()}
    if ray_address and os.environ.get("SWEEP_PLUGINS"):  # sweep.models: plugins. A cluster's workers
        # do not inherit the driver's environment: hand them the plugins and where they are found.
        options["runtime_env"] = {"env_vars": {k: os.environ[k] for k in ("SWEEP_PLUGINS", "PYTHONPATH")
                                               if os.environ.get(k)}}
    ray.init(address=ray_address or "local", include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, configure_logging=False, **options)


def node_resources(ray_address: str | None) -> list[tuple[float, float]]:
    """(CPUs, GPUs) of every live node: this machine's counts for a local run, the cluster's
    nodes (connecting to it) with ``--ray-address``."""
    if not ray_address:
        import torch

        return [(float(os.cpu_count() or 1), float(torch.cuda.device_count()))]
    import ray

    init_ray(ray_address)
    return [(float(n["Resources"].get("CPU", 0)), float(n["Resources"].get("GPU", 0)))
            for n in ray.nodes() if n.get("Alive")]


def trials_that_fit(nodes: list[tuple[float, float]], cpu: float, gpu: float) -> int:
    """How many trials of ``cpu`` CPUs and ``gpu`` GPUs (fractions pack: 0.25 is four per GPU)
    the ``nodes`` (CPUs, GPUs) run at once; a trial never spans nodes."""
    total = 0
    for c, g in nodes:
        per_node = int(c // cpu + 1e-9)  # resources.cpu > 0: the spec checks it
        if gpu > 0:
            per_node = min(per_node, int(g / gpu + 1e-9))
        total += per_node
    return total


def check_resources(spec: Spec, ray_address: str | None) -> int:
    """How many trials the machine (or cluster) runs at once with the spec's resources; raises
    ResourceError, with the numbers, when no node can run one: Tune would queue such trials forever."""
    cpu, gpu = spec.cpus_per_trial, spec.gpus_per_trial
    nodes = node_resources(ray_address)
    if any(c >= cpu and g >= gpu for c, g in nodes):
        return max(1, trials_that_fit(nodes, cpu, gpu))
    where = f"the cluster at {ray_address}" if ray_address else "this machine"
    largest = max(nodes, default=(0.0, 0.0))
    hint = "; use the cpu budget or --ray-address" if gpu > 0 and not ray_address else ""
    raise ResourceError(f"each trial asks for {cpu:g} CPU and {gpu:g} GPU (resources.cpu, resources.gpu) but "
                        f"{where} has at most {largest[0]:g} CPU and {max(g for _, g in nodes) if nodes else 0:g} "
                        f"GPU per node{hint}")
