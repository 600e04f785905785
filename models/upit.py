"""uPIT: (B)LSTM spectral-mask separation with utterance-level permutation invariant training.

Kolbaek, Yu, Tan, Jensen, "Multi-talker speech separation with utterance-level permutation
invariant training of deep recurrent neural networks", IEEE/ACM TASLP 25(10), 2017.

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, N, F]
        --(B)LSTM stack--> [B, N, H] --Linear + activation--> M [B, S, F, N]
        --M ⊙ Y (mixture phase)--> [B, S, F, N] --iSTFT--> [B, S, T]

Training compares ``M_s ⊙ |Y|`` with the AM / PSM / NPSM magnitude target under uPIT (one
permutation per utterance) or frame-level PIT (one per frame); see
:mod:`models.blocks.masks` and :mod:`models.blocks.pit`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Separator
from .blocks.activations import ACTIVATIONS
from .blocks.masks import MASK_TYPES, SpectralMaskHead, mask_target
from .blocks.pit import apply_permutation, frame_pit_loss, utterance_pit_loss
from .blocks.rnn import RNNStack
from .blocks.stft import ISTFTDecoder, STFTEncoder, normalised_log_magnitude, stft_params
from .registry import Family, HParam, MaskKnobs, register

RNN_TYPES = ("blstm", "lstm")
PIT_LEVELS = ("utterance", "frame")


def upit_stft(sample_rate: int) -> tuple[STFTEncoder, ISTFTDecoder, str]:
    """The STFT pair of every uPIT model at ``sample_rate``, and its label.

    32 ms sqrt-Hann window, 8 ms hop (:func:`~models.blocks.stft.stft_params`; 256/64/256 at
    8 kHz). :class:`UPIT` builds its encoder and decoder here, and the family declares it as its
    ``oracle_stft``, so oracle masks are computed on exactly the T-F grid uPIT masks live on.

    Returns:
        ``(encoder, decoder, label)``, label e.g. ``'256/64/256 sqrt-hann'`` (n_fft/hop/win).
    """
    n_fft, hop, win = stft_params(sample_rate)
    return STFTEncoder(n_fft, hop, win), ISTFTDecoder(n_fft, hop, win), f"{n_fft}/{hop}/{win} sqrt-hann"


class UPIT(Separator):
    """(B)LSTM mask estimator on STFT magnitudes, trained with (u)PIT.

    Args:
        n_src: speakers ``S``.
        sample_rate: Hz; the STFT is 32 ms / 8 ms at this rate (256 / 64 at 8 kHz, F = 129).
        rnn_type: ``'blstm'`` (uPIT-BLSTM) or ``'lstm'`` (uni-directional, uPIT-LSTM; see below
            for why the model is still not causal).
        num_layers: stacked recurrent layers (paper: 3).
        hidden_size: units per layer and direction (paper: 896).
        dropout: between recurrent layers and before the mask head.
        mask_type: training target, ``'AM'``, ``'PSM'`` or ``'NPSM'``.
        activation: mask non-linearity, ``'softmax'`` (across speakers), ``'sigmoid'``,
            ``'relu'`` or ``'tanh'``.
        pit: ``'utterance'`` (uPIT) or ``'frame'`` (PIT of Yu et al.).
        eps: floor inside the log of the input feature, in linear STFT magnitude units.

    Input feature: ``log(|Y| + eps)`` normalised **per utterance** to zero mean and unit
    variance over all T-F bins (one scalar mean and std per mixture). The paper normalises
    with global statistics of the training set; per-utterance statistics need no
    dataset pass before training (the model is self-contained, any data loader works),
    make the network invariant to the mixture's gain (a gain is a constant offset in the
    log domain) and keep the spectral shape, which a per-bin normalisation would flatten.
    Zero-mean unit-variance inputs also let small CPU models train in a few hundred steps.
    The price: one mean and std per utterance read the whole utterance, so even the LSTM
    variant is not causal (a change late in the input moves early outputs slightly), and the
    family declares no ``causal_params``.
    """

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: int = 8000,
        rnn_type: str = "blstm",
        num_layers: int = 3,
        hidden_size: int = 896,
        dropout: float = 0.0,
        mask_type: str = "PSM",
        activation: str = "relu",
        pit: str = "utterance",
        eps: float = 1e-8,
    ) -> None:
        super().__init__(n_src, sample_rate)
        for name, value, known in (
            ("rnn_type", rnn_type, RNN_TYPES),
            ("mask_type", mask_type, MASK_TYPES),
            ("pit", pit, PIT_LEVELS),
        ):
            if value not in known:
                raise ValueError(f"{name} must be one of {list(known)}, got {value!r}")
        self.rnn_type, self.mask_type, self.pit, self.eps = rnn_type, mask_type, pit, eps
        self.encoder, self.decoder, _ = upit_stft(sample_rate)
        n_bins = self.encoder.n_bins
        self.separator = RNNStack(n_bins, hidden_size, num_layers, rnn_type == "blstm", dropout)
        self.mask_head = SpectralMaskHead(self.separator.output_size, n_bins, n_src, activation)

    # -- Encoder side ---------------------------------------------------------------------

    def features(self, mix_spec: Tensor) -> Tensor:
        """Network input from the mixture spectrum: ``[B, F, N]`` complex -> ``[B, N, F]`` real
        (:func:`~models.blocks.stft.normalised_log_magnitude`, frames first for the RNN)."""
        return normalised_log_magnitude(mix_spec, self.eps).transpose(1, 2)

    def masks(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        """Estimate the masks.

        Args:
            mixture: ``[B, T]`` waveform.

        Returns:
            ``(masks [B, S, F, N] real, mix_spec [B, F, N] complex)``.
        """
        self._check_mixture(mixture)
        mix_spec = self.encoder(mixture)
        return self.mask_head(self.separator(self.features(mix_spec))), mix_spec

    # -- Decoder side ---------------------------------------------------------------------

    def synthesize(self, masks: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Apply real masks to the mixture spectrum (mixture phase) and invert.

        ``[B, S, F, N]`` masks, ``[B, F, N]`` mixture spectrum -> ``[B, S, length]`` waveforms.
        """
        return self.decoder(masks * mix_spec.unsqueeze(1), length)

    def forward(self, mixture: Tensor) -> Tensor:
        """Default assignment: output streams exactly as emitted. ``[B, T] -> [B, S, T]``."""
        masks, mix_spec = self.masks(mixture)
        return self.synthesize(masks, mix_spec, mixture.shape[-1])

    # -- Training objective -----------------------------------------------------------------

    def estimates_and_targets(self, mixture: Tensor, sources: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Everything the mask-domain losses need.

        Args:
            mixture: ``[B, T]``; sources: ``[B, S, T]``.

        Returns:
            ``(masks, mix_spec, est, target)``: masks ``[B, S, F, N]``, mixture spectrum
            ``[B, F, N]``, masked magnitudes ``M_s ⊙ |Y|`` and the ``mask_type`` target,
            both ``[B, S, F, N]`` in linear STFT magnitude units.
        """
        self._check_sources(mixture, sources)
        masks, mix_spec = self.masks(mixture)
        est = masks * mix_spec.abs().unsqueeze(1)
        target = mask_target(self.mask_type, mix_spec, self.encoder(sources))
        return masks, mix_spec, est, target

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """uPIT (or frame PIT) squared error of ``M_s ⊙ |Y|`` against the target, per T-F bin and speaker."""
        _, _, est, target = self.estimates_and_targets(mixture, sources)
        loss_fn = utterance_pit_loss if self.pit == "utterance" else frame_pit_loss
        loss, _ = loss_fn(est, target)
        return loss

    @torch.no_grad()
    def oracle_assignment(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """The paper's "optimal assignment": outputs reordered frame by frame with the references.

        In every frame the output streams are permuted by the permutation minimising that
        frame's error against the reference targets (frame PIT), then inverted. The result
        is in reference order. An upper bound on what speaker tracing could achieve; it is
        what separates frame-level PIT models (good here, poor in :meth:`forward`) from uPIT.

        Args:
            mixture: ``[B, T]``; sources: ``[B, S, T]``.

        Returns:
            ``[B, S, T]`` waveforms, stream ``s`` aligned with ``sources[:, s]``.
        """
        masks, mix_spec, est, target = self.estimates_and_targets(mixture, sources)
        _, perm = frame_pit_loss(est, target)
        return self.synthesize(apply_permutation(masks, perm), mix_spec, mixture.shape[-1])

    @torch.no_grad()
    def assignments(self, mixture: Tensor, sources: Tensor) -> dict[str, Tensor]:
        """Default and optimal assignment from one pass of the network: both invert the same
        masks, in the order emitted and reordered frame by frame (:meth:`oracle_assignment`).
        ``{"default": [B, S, T], "optimal": [B, S, T]}``.

        A model compiled in place (``train.compile``) or with forward hooks scores its default
        assignment through ``self(mixture)`` as before, which this shortcut would bypass."""
        if getattr(self, "_compiled_call_impl", None) is not None or self._forward_hooks or self._forward_pre_hooks:
            return super().assignments(mixture, sources)
        masks, mix_spec, est, target = self.estimates_and_targets(mixture, sources)
        _, perm = frame_pit_loss(est, target)
        length = mixture.shape[-1]
        return {"default": self.synthesize(masks, mix_spec, length),
                "optimal": self.synthesize(apply_permutation(masks, perm), mix_spec, length)}

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, sample_rate={self.sample_rate}, mask_type={self.mask_type!r}, pit={self.pit!r}"


FAMILY = register(
    Family(
        name="upit",
        description=(
            "uPIT (Kolbaek et al., IEEE/ACM TASLP 2017): a (B)LSTM estimates one real "
            "spectral mask per speaker from the mixture's log-magnitude STFT; trained on "
            "masked-magnitude errors (AM / PSM / NPSM targets) with utterance-level "
            "permutation invariant training (or frame-level PIT for comparison)."
        ),
        blocks={
            "encoder": "STFT, 32 ms sqrt-Hann window, 8 ms hop; log-magnitude, per-utterance mean/variance normalised",
            "separator": "stack of LSTM (uni-directional) or BLSTM layers over frames",
            "mask head": "per-frame linear layer to S x F masks + softmax/sigmoid/relu/tanh",
            "decoder": "masks x mixture spectrum (mixture phase), inverse STFT",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("rnn_type", "choice", "blstm", choices=RNN_TYPES, doc="BLSTM or uni-directional LSTM"),
                HParam("num_layers", "int", 3, low=1, high=4, doc="stacked recurrent layers"),
                HParam("hidden_size", "int", 896, low=32, high=1024, log=True, doc="units per layer and direction"),
                HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="dropout between layers and before the mask head"),
                HParam("mask_type", "choice", "PSM", choices=MASK_TYPES, doc="training target: AM, PSM or NPSM"),
                HParam("activation", "choice", "relu", choices=ACTIVATIONS, doc="mask activation"),
                HParam("pit", "choice", "utterance", choices=PIT_LEVELS, doc="uPIT or frame-level PIT"),
            )
        },
        presets={
            # Paper: 3 BLSTM layers of 896 units, PSM + ReLU (its best uPIT-BLSTM row).
            "paper": {
                "rnn_type": "blstm",
                "num_layers": 3,
                "hidden_size": 896,
                "dropout": 0.0,
                "mask_type": "PSM",
                "activation": "relu",
                "pit": "utterance",
            },
            # The uPIT-LSTM rows of the paper (uni-directional LSTM).
            "paper_lstm": {
                "rnn_type": "lstm",
                "num_layers": 3,
                "hidden_size": 896,
                "dropout": 0.0,
                "mask_type": "PSM",
                "activation": "relu",
                "pit": "utterance",
            },
            # Small enough to train for a few minutes on a laptop CPU.
            "cpu": {
                "rnn_type": "blstm",
                "num_layers": 2,
                "hidden_size": 128,
                "dropout": 0.0,
                "mask_type": "PSM",
                "activation": "relu",
                "pit": "utterance",
            },
        },
        builder=UPIT,
        mask_knobs=MaskKnobs(mask="mask_type", activation="activation"),
        oracle_stft=upit_stft,
        has_oracle_assignment=True,
        # The Conv-TasNet paper's table: uPIT-BLSTM-ST 92.7M, uPIT-LSTM 46.3M. Ours for 3 x 896
        # on 129 bins is 46.4M (BLSTM) and 16.8M (LSTM): see docs/families.md for why they differ.
        published_params={"paper": 92_700_000, "paper_lstm": 46_300_000},
    )
)
