"""The one interface every separator family implements.

The trainer calls :meth:`Separator.training_loss`, evaluation calls :meth:`Separator.forward`
(time domain in, time domain out) and, for the optimal-assignment rows,
:meth:`Separator.oracle_assignment` (the test set asks for both through
:meth:`Separator.assignments`). What else code outside ``models`` may need to know about a
family (mask knobs, the oracle STFT, whether it has an oracle assignment) is declared on its
:class:`~models.registry.Family`; no code outside ``models`` tests a family's name.
"""

from __future__ import annotations

import abc

from torch import Tensor, nn


class Separator(nn.Module, abc.ABC):
    """Base class of all separators: mixture ``[B, T]`` -> estimated sources ``[B, S, T]``.

    Args:
        n_src: number of sources ``S`` the model emits.
        sample_rate: sampling rate of the waveforms in Hz (fixes e.g. STFT window sizes).
    """

    def __init__(self, n_src: int, sample_rate: int) -> None:
        super().__init__()
        if n_src < 1:
            raise ValueError(f"n_src must be >= 1, got {n_src}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.n_src = int(n_src)
        self.sample_rate = int(sample_rate)

    @abc.abstractmethod
    def forward(self, mixture: Tensor) -> Tensor:
        """Separate a batch of mixtures.

        Args:
            mixture: ``[B, T]`` waveform (float, linear amplitude).

        Returns:
            ``[B, S, T]`` estimated source waveforms, exactly ``T`` samples for any ``T``,
            output streams in the order the model emits them (no permutation solved).
        """

    @abc.abstractmethod
    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """The scalar objective the trainer minimises.

        Args:
            mixture: ``[B, T]`` waveform.
            sources: ``[B, S, T]`` reference waveforms (any speaker order; the loss is
                permutation invariant).

        Returns:
            0-dim tensor, differentiable w.r.t. the trainable parameters.
        """

    def oracle_assignment(self, mixture: Tensor, sources: Tensor) -> Tensor | None:
        """The outputs re-assigned to the references *inside* the model, where it can do better
        than one permutation per utterance (uPIT's "optimal assignment": frame by frame).

        The default, for families whose outputs only exist as whole waveforms, is ``None``: they
        have only the default assignment. A family that overrides this must also declare
        ``has_oracle_assignment=True`` on its :class:`~models.registry.Family` (a contract test
        checks the two agree).

        Args:
            mixture: ``[B, T]`` waveform.
            sources: ``[B, S, T]`` references.

        Returns:
            ``[B, S, T]`` waveforms in reference order (stream ``s`` aligned with
            ``sources[:, s]``), or ``None``.
        """
        return None

    def assignments(self, mixture: Tensor, sources: Tensor) -> dict[str, Tensor]:
        """Every output assignment the test set scores: ``{"default": forward(mixture)}``, plus
        ``"optimal"``: :meth:`oracle_assignment` when the model has one.

        A family whose two assignments share work (uPIT's masks) overrides this to do it once;
        in eval mode the values must equal the two methods' outputs (a contract test checks).

        Args:
            mixture: ``[B, T]``; sources: ``[B, S, T]``.

        Returns:
            ``{assignment: [B, S, T]}``.
        """
        outputs = {"default": self(mixture)}
        optimal = self.oracle_assignment(mixture, sources)
        if optimal is not None:
            outputs["optimal"] = optimal
        return outputs

    def lookahead(self) -> int | None:
        """How far ahead the model looks: output sample ``t`` depends on input samples
        ``<= t + lookahead()`` only (in eval mode), or ``None`` when that is not bounded (a
        non-causal model). The default is ``None``; causal variants override it, and a family
        that has one declares the parameters that make it (``Family.causal_params``)."""
        return None

    def param_count(self) -> int:
        """Number of trainable parameters (what the leaderboards plot on the x axis)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _check_mixture(self, mixture: Tensor) -> None:
        if mixture.dim() != 2:
            raise ValueError(f"mixture must be [B, T], got shape {tuple(mixture.shape)}")

    def _check_sources(self, mixture: Tensor, sources: Tensor) -> None:
        self._check_mixture(mixture)
        expected = (mixture.shape[0], self.n_src, mixture.shape[1])
        if tuple(sources.shape) != expected:
            raise ValueError(
                f"sources must be [B, S, T] = {expected} to match the mixture and n_src, "
                f"got {tuple(sources.shape)}"
            )

