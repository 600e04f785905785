"""cuPIT-Grid: a grid LSTM front-end, BLSTM layers and PSM masks, trained with constrained uPIT.

Xu, Rao, Chng, Li, "Single channel speech separation with constrained utterance level
permutation invariant training using grid LSTM", ICASSP 2018.

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, N, F]
        --grid LSTM over K frequency chunks x N frames--> [B, N, K * 2G]
        --BLSTM stack--> [B, N, 2H] --Linear + activation--> M [B, S, F, N]
        --M ⊙ Y (mixture phase)--> [B, S, F, N] --iSTFT--> [B, S, T]

Training: ``M_s ⊙ |Y|`` against the phase-sensitive target under *constrained* uPIT, whose
permutation is chosen on the static error plus the errors of the frame deltas and accelerations
(:mod:`models.blocks.dynamic_pit`); the dynamic terms are what keep an output on one speaker from
frame to frame. The grid LSTM (:mod:`models.blocks.grid_lstm`) models local time-frequency
patterns (harmonics moving in frequency) before the BLSTMs model the sequence.

**What is inferred.** We could not read the paper's text here; what it reports that we rely on:
a grid LSTM layer ahead of uPIT's BLSTM stack, the dynamic-information (delta and acceleration)
constraint on the uPIT loss, WSJ0-2mix SDRi 10.2 dB for the "RD" system and 47.2M parameters
(the Conv-TasNet paper's table). We read "RD" as the variant with the dynamic constraint. Our
choices: uPIT's recipe for the rest (32 ms / 8 ms STFT, 3 BLSTM layers of 896 units per
direction, PSM target, ReLU masks), a grid LSTM of 16 units per cell on chunks of 32 bins with a
stride of 16 (8 chunks on 129 bins), first differences as deltas and both dynamic weights 1.
That gives 47.31M, 0.2 % above the published 47.2M; 3 x 896 BLSTM on 129 bins alone is 46.4M,
so the front-end's width is the only free size and the published total pins it to within a few
hundred thousand parameters, not its exact shape.
"""

from __future__ import annotations

from torch import Tensor

from .base import Separator
from .blocks.activations import ACTIVATIONS
from .blocks.dynamic_pit import constrained_pit_loss
from .blocks.grid_lstm import GridLSTM
from .blocks.masks import MASK_TYPES, SpectralMaskHead, mask_target
from .blocks.rnn import RNNStack
from .blocks.stft import normalised_log_magnitude
from .registry import Family, HParam, MaskKnobs, register
from .upit import upit_stft


class CuPITGrid(Separator):
    """Grid LSTM + BLSTM mask estimator trained with constrained uPIT.

    Args:
        n_src: speakers ``S``.
        sample_rate: Hz; STFT 32 ms / 8 ms sqrt-Hann (``F = 129`` at 8 kHz).
        grid_window, grid_stride: frequency chunk width and hop, in bins.
        grid_hidden: units of each grid LSTM cell (time and frequency).
        num_layers, hidden_size: BLSTM layers and units per direction.
        dropout: between and after BLSTM layers.
        mask_type: ``'AM'``, ``'PSM'`` or ``'NPSM'`` training target.
        activation: mask activation.
        delta_weight, accel_weight: weights of the delta and acceleration errors (0 and 0 is
            plain uPIT).
        eps: floor inside the input log, linear STFT magnitude units.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, grid_window: int = 32, grid_stride: int = 16,
                 grid_hidden: int = 16, num_layers: int = 3, hidden_size: int = 896, dropout: float = 0.0,
                 mask_type: str = "PSM", activation: str = "relu", delta_weight: float = 1.0,
                 accel_weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__(n_src, sample_rate)
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be one of {list(MASK_TYPES)}, got {mask_type!r}")
        self.mask_type, self.delta_weight, self.accel_weight, self.eps = mask_type, delta_weight, accel_weight, eps
        self.encoder, self.decoder, _ = upit_stft(sample_rate)
        n_bins = self.encoder.n_bins
        self.grid = GridLSTM(n_bins, grid_window, grid_stride, grid_hidden)
        self.separator = RNNStack(self.grid.output_size, hidden_size, num_layers, True, dropout)
        self.mask_head = SpectralMaskHead(self.separator.output_size, n_bins, n_src, activation)

    def masks(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, T]`` -> (masks ``[B, S, F, N]``, mixture spectrum ``[B, F, N]`` complex)."""
        self._check_mixture(mixture)
        mix_spec = self.encoder(mixture)
        features = normalised_log_magnitude(mix_spec, self.eps).transpose(1, 2)  # [B, N, F]
        return self.mask_head(self.separator(self.grid(features))), mix_spec

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]``: masks on the mixture spectrum, mixture phase, iSTFT."""
        masks, mix_spec = self.masks(mixture)
        return self.decoder(masks * mix_spec.unsqueeze(1), mixture.shape[-1])

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """cuPIT: squared error of ``M_s ⊙ |Y|`` against the target, plus its delta and
        acceleration errors, under the one permutation per utterance minimising the sum."""
        self._check_sources(mixture, sources)
        masks, mix_spec = self.masks(mixture)
        est = masks * mix_spec.abs().unsqueeze(1)
        target = mask_target(self.mask_type, mix_spec, self.encoder(sources))
        loss, _ = constrained_pit_loss(est, target, self.delta_weight, self.accel_weight)
        return loss

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, sample_rate={self.sample_rate}, mask_type={self.mask_type!r}"


FAMILY = register(
    Family(
        name="cupit_grid",
        description=(
            "cuPIT-Grid-RD (Xu, Rao, Chng, Li, ICASSP 2018): a grid LSTM over frequency chunks "
            "and frames feeds uPIT's BLSTM mask estimator; training adds delta and acceleration "
            "errors to the uPIT loss (constrained uPIT) so outputs stay on one speaker in time."
        ),
        blocks={
            "encoder": "STFT, 32 ms sqrt-Hann window, 8 ms hop; log-magnitude, per-utterance normalised",
            "separator": "grid LSTM (time and frequency cells over frequency chunks), then a BLSTM stack",
            "mask head": "per-frame linear layer to S x F masks + activation",
            "decoder": "masks x mixture spectrum (mixture phase), inverse STFT",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("grid_window", "int", 32, low=4, high=129, doc="grid LSTM chunk width (bins)"),
                HParam("grid_stride", "int", 16, low=1, high=129, doc="grid LSTM chunk hop (bins)"),
                HParam("grid_hidden", "int", 16, low=4, high=128, log=True, doc="units per grid LSTM cell"),
                HParam("num_layers", "int", 3, low=1, high=4, doc="BLSTM layers"),
                HParam("hidden_size", "int", 896, low=16, high=1024, log=True, doc="BLSTM units per direction"),
                HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="dropout between and after BLSTM layers"),
                HParam("mask_type", "choice", "PSM", choices=MASK_TYPES, doc="training target: AM, PSM or NPSM"),
                HParam("activation", "choice", "relu", choices=ACTIVATIONS, doc="mask activation"),
                HParam("delta_weight", "float", 1.0, low=0.0, high=10.0, doc="weight of the delta error"),
                HParam("accel_weight", "float", 1.0, low=0.0, high=10.0, doc="weight of the acceleration error"),
            )
        },
        presets={
            "paper": {"grid_window": 32, "grid_stride": 16, "grid_hidden": 16, "num_layers": 3,
                      "hidden_size": 896, "mask_type": "PSM", "activation": "relu"},
            "cpu": {"grid_window": 32, "grid_stride": 32, "grid_hidden": 32, "num_layers": 2,
                    "hidden_size": 96, "mask_type": "PSM", "activation": "relu"},
        },
        builder=CuPITGrid,
        mask_knobs=MaskKnobs(mask="mask_type", activation="activation"),
        oracle_stft=upit_stft,
        published_params={"paper": 47_200_000},
        published_systems=("cuPIT-Grid-RD",),
    )
)
