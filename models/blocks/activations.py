"""Mask non-linearities, looked up by name: the one place a mask head turns a string into a module.

In the style of asteroid's ``masknn.activations.get``. Every family's mask head calls
:func:`get`, and every family's ``activation`` hyperparameter offers :data:`ACTIVATIONS`, so an
activation registered here is available to all of them at once.

All mask tensors in this package are source-major, ``[B, S, ...]`` (``[B, S, N, K]`` in the
learned-basis families, ``[B, S, F, N]`` in uPIT), so ``softmax`` normalises over dim 1:

=========  ==============  ==================================================================
name       range           what it means for a mask
=========  ==============  ==================================================================
softmax    (0, 1), sum 1   across sources: the mixture coefficient is split, never created
sigmoid    (0, 1)          element-wise; each source may take any share
relu       [0, inf)        can exceed 1 (the PSM target sometimes needs it)
tanh       (-1, 1)         the only one that can follow negative (phase-sensitive) targets
=========  ==============  ==================================================================
"""

from __future__ import annotations

from torch import Tensor, nn


class SourceSoftmax(nn.Module):
    """Softmax across the source axis (dim 1) of a ``[B, S, ...]`` mask tensor."""

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(dim=1)


_REGISTRY: dict[str, type[nn.Module]] = {
    "softmax": SourceSoftmax,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}

ACTIVATIONS: tuple[str, ...] = tuple(_REGISTRY)
"""Every mask activation name, the choices of each family's ``activation`` hyperparameter."""


def get(name: str) -> nn.Module:
    """A fresh, parameter-free module for the mask activation ``name``.

    Raises:
        ValueError: unknown name; the message lists :data:`ACTIVATIONS`.
    """
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ValueError(f"unknown mask activation {name!r}; known: {list(ACTIVATIONS)}") from None
