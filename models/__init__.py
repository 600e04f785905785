"""Registry of separator families and their building blocks.

Every family module registers itself on import; importing :mod:`sweep.models` imports them all.

    from sweep import models
    net = models.build("upit", models.get_family("upit").presets["cpu"], n_src=2, sample_rate=8000)
    estimates = net(mixture)                   # [B, T] -> [B, S, T]
    loss = net.training_loss(mixture, sources) # what the trainer minimises

Adding a family is one new module here plus its name in the import line below; see
docs/families.md, "Adding a family".

**Plugins.** A family that lives outside this package (a benchmark's stub, a private model) is
named in the environment variable ``SWEEP_PLUGINS``, comma-separated importable module names
(``SWEEP_PLUGINS=stub_family,mylab.models``). They are imported after the built-in families, in
every process that imports ``sweep.models``: the driver, and the Ray workers, which inherit the
driver's environment (with ``--ray-address``, ``sweep.driver.cluster`` hands ``SWEEP_PLUGINS`` and
``PYTHONPATH`` to the cluster's workers). Each module registers its families with :func:`register`
as the built-in ones do.
A module that cannot be imported raises ``ImportError`` naming ``SWEEP_PLUGINS``.
"""

from .base import Separator
from .registry import FAMILIES, Family, HParam, MaskKnobs, build, get_family, register

# Imported for their side effect: each family module calls register() at import time.
from . import cbldnn_gat, chimera, convtasnet, cupit_grid, danet, deepcasa, dpcl, dprnn, dptnet, esd, furcanext, sepformer, signprediction, sudormrf, tasnet, twostep, upit, vsunos, wavesplit  # noqa: E402,F401  (keep after the registry import)


def _import_plugins() -> list[str]:
    """Import the modules named in ``$SWEEP_PLUGINS`` (comma-separated); returns their names."""
    import importlib
    import os

    names = [n.strip() for n in os.environ.get("SWEEP_PLUGINS", "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(f"SWEEP_PLUGINS names module {name!r}, which cannot be imported: {exc}") from exc
    return names


PLUGINS = _import_plugins()

__all__ = ["FAMILIES", "Family", "HParam", "MaskKnobs", "Separator", "build", "get_family", "register"]
