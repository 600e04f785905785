"""Registry of separator families and their building blocks.

Every family module registers itself on import; importing :mod:`sweep.models` imports them all.

    from sweep import models
    net = models.build("upit", models.get_family("upit").presets["cpu"], n_src=2, sample_rate=8000)
    estimates = net(mixture)                   # [B, T] -> [B, S, T]
    loss = net.training_loss(mixture, sources) # what the trainer minimises

Adding a family is one new module here plus its name in the import line below; see
docs/families.md, "Adding a family".
"""

from .base import Separator
from .registry import FAMILIES, Family, HParam, MaskKnobs, build, get_family, register

# Imported for their side effect: each family module calls register() at import time.
from . import convtasnet, dprnn, dptnet, sepformer, sudormrf, tasnet, upit  # noqa: E402,F401  (keep after the registry import)

__all__ = ["FAMILIES", "Family", "HParam", "MaskKnobs", "Separator", "build", "get_family", "register"]
