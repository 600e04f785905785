"""Conv-TasNet: a learned filterbank and a temporal convolutional network (TCN) mask estimator.

Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for speech
separation", IEEE/ACM TASLP 27(8), 2019.

Encoder - Separator - Mask head - Decoder (argument names as in the paper):

    mixture [B, T] --pad--> [B, 1, T'] --Conv1d(1, N, L, stride L/2), linear--> w [B, N, K]
        --TCN (norm, 1x1 N->B, X*R dilated conv blocks, skip sum)--> [B, Sc, K]
        --PReLU, 1x1 Sc->S*N, sigmoid/relu/softmax--> m [B, S, N, K]
        --m ⊙ w, ConvTranspose1d(N, 1, L, stride L/2)--> [B, S, T'] --cut--> [B, S, T]

The implementation is checked against ``torchaudio.models.ConvTasNet`` as an independent
reference: same parameter count and the same output (after
:func:`models.convtasnet_torchaudio.load_torchaudio_weights`)
for every non-causal, ``Sc == B`` configuration torchaudio can express. Hence torchaudio's
choices where the paper leaves room:

- no non-linearity after the encoder (the paper's Fig. 1 has none either);
- the encoder pads ``L/2`` zeros on both sides plus the end alignment of
  :meth:`ConvTasNet.pad`, so the first and last samples are covered by two frames like all
  others (the decoder crops the same ``L/2`` again);
- the last conv block has no residual 1x1 conv (its output would be unused).

Size: the paper preset has 4,984,881 parameters, torchaudio's count for the same sizes to the
parameter, 2.3 % under the published 5.1M. Keeping the unused last residual conv (as asteroid
does) would add 65,664 (5.05M); the rest is the paper's rounding or bookkeeping.

Causal variant (``causal=True``, ``norm='cLN'``): depthwise convs pad on the left only and every
normalisation is cumulative, so output sample ``t`` depends on input samples ``< t + L`` only
(the encoder window of the last frame covering ``t`` reaches ``L - 1`` samples ahead; that is
the paper's minimum latency of one window).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from .blocks import activations
from .blocks.activations import ACTIVATIONS
from .blocks.tcn import TCN
from .masking import EncoderMaskerDecoder
from .registry import Family, HParam, register

NORMS = ("gLN", "cLN", "BN")  # the paper's three; names of models.blocks.norms


class ConvMaskHead(nn.Module):
    """Conv-TasNet's mask head: PReLU, 1x1 conv to ``S*N`` channels and the mask non-linearity.

    ``softmax`` is taken across the ``S`` sources (masks sum to one at every ``(n, k)``); the
    other :data:`~models.blocks.activations.ACTIVATIONS` are element-wise.

    Shapes:
        ``[batch, Sc, K] -> [batch, S, N, K]``.
    """

    def __init__(self, Sc: int, N: int, n_src: int, activation: str) -> None:
        super().__init__()
        self.N, self.n_src, self.activation = N, n_src, activation
        self.act = activations.get(activation)
        self.prelu = nn.PReLU()
        self.conv = nn.Conv1d(Sc, n_src * N, 1)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.conv(self.prelu(x)).view(x.shape[0], self.n_src, self.N, -1)
        return self.act(logits)


class TCNMasker(nn.Module):
    """Separator (TCN) followed by the mask head: ``[batch, N, K] -> [batch, S, N, K]``."""

    def __init__(self, tcn: TCN, head: ConvMaskHead) -> None:
        super().__init__()
        self.tcn, self.head = tcn, head

    def forward(self, w: Tensor) -> Tensor:
        return self.head(self.tcn(w))


class ConvTasNet(EncoderMaskerDecoder):
    """Conv-TasNet.

    Args:
        n_src: sources ``S``.
        sample_rate: Hz (only recorded; ``L`` is in samples, the paper's 2 ms is 16 at 8 kHz).
        N: encoder/decoder filters.
        L: filter length in samples; the hop is ``L // 2``.
        B: bottleneck channels (TCN residual path).
        H: channels inside the conv blocks.
        P: depthwise kernel size.
        X: conv blocks per repeat.
        R: repeats.
        Sc: skip-connection channels (torchaudio ties it to ``B``).
        norm: ``'gLN'`` (non-causal), ``'cLN'`` (causal) or ``'BN'``.
        causal: left-only padding in the TCN; causal end to end only with ``norm='cLN'``.
        activation: mask non-linearity, ``'sigmoid'`` (paper) or another
            :data:`~models.blocks.activations.ACTIVATIONS` name (``'softmax'`` across sources).
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, N: int = 512, L: int = 16, B: int = 128,
                 H: int = 512, P: int = 3, X: int = 8, R: int = 3, Sc: int = 128, norm: str = "gLN",
                 causal: bool = False, activation: str = "sigmoid") -> None:
        if L < 2:
            raise ValueError(f"L must be >= 2 (the hop is L // 2), got {L}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {list(NORMS)}")
        stride = L // 2
        # padding=stride: torchaudio's framing (see the module docstring).
        encoder = nn.Conv1d(1, N, L, stride=stride, padding=stride, bias=False)
        masker = TCNMasker(TCN(N, B, H, P, X, R, Sc, norm, causal), ConvMaskHead(Sc, N, n_src, activation))
        decoder = nn.ConvTranspose1d(N, 1, L, stride=stride, padding=stride, bias=False)
        super().__init__(encoder, masker, decoder, n_src, sample_rate, kernel_size=L, stride=stride)
        self.N, self.causal, self.activation = N, causal, activation

    @property
    def is_causal(self) -> bool:
        """Whether output sample ``t`` depends only on input samples ``< t + L`` (eval mode)."""
        return self.masker.tcn.is_causal

    def lookahead(self) -> int | None:
        """``L`` samples (one encoder window) for the causal variant, else ``None``."""
        return self.kernel_size if self.is_causal else None

    def pad(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, 1, T']``: zeros at the end so that ``(T' - L % 2)`` is a multiple of the hop.

        torchaudio's ``_align_num_frames_with_strides``: with the encoder's own ``L/2`` padding on
        each side the frames then tile ``T'`` exactly and the decoder returns ``T'`` samples.
        """
        t = mixture.shape[-1]
        odd = self.kernel_size % 2
        t_padded = odd + math.ceil(max(t - odd, 0) / self.stride) * self.stride
        return nn.functional.pad(mixture, (0, max(t_padded, 1) - t)).unsqueeze(1)


# -- Registry ----------------------------------------------------------------------------------

_PAPER = {"N": 512, "L": 16, "B": 128, "H": 512, "P": 3, "X": 8, "R": 3, "Sc": 128,
          "norm": "gLN", "causal": False, "activation": "sigmoid"}

FAMILY = register(
    Family(
        name="convtasnet",
        description=(
            "Conv-TasNet (Luo & Mesgarani, IEEE/ACM TASLP 2019): a learned linear filterbank "
            "(1-D conv encoder, transposed-conv decoder) and a temporal convolutional network of "
            "dilated depthwise-separable conv blocks that estimates one mask per speaker on the "
            "encoder output; trained end to end on uPIT negative SI-SNR."
        ),
        blocks={
            "encoder": "Conv1d(1, N, L, stride L/2), no bias, no non-linearity",
            "separator": "TCN: norm, 1x1 bottleneck N->B, X*R dilated depthwise-separable conv blocks "
                         "(PReLU + gLN/cLN) with residual and skip outputs, skip sum",
            "mask head": "PReLU, 1x1 conv Sc -> S*N, sigmoid (paper) / relu / softmax (across speakers) / tanh",
            "decoder": "masks x encoder output, ConvTranspose1d(N, 1, L, stride L/2), no bias",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("N", "int", 512, low=16, high=1024, log=True, doc="encoder/decoder filters"),
                HParam("L", "int", 16, low=2, high=64, log=True, doc="filter length in samples (hop L/2)"),
                HParam("B", "int", 128, low=16, high=512, log=True, doc="bottleneck channels"),
                HParam("H", "int", 512, low=16, high=1024, log=True, doc="channels in the conv blocks"),
                HParam("P", "int", 3, low=2, high=7, doc="depthwise kernel size"),
                HParam("X", "int", 8, low=1, high=10, doc="conv blocks per repeat (dilation 1..2^(X-1))"),
                HParam("R", "int", 3, low=1, high=6, doc="repeats"),
                HParam("Sc", "int", 128, low=16, high=512, log=True, doc="skip-connection channels"),
                HParam("norm", "choice", "gLN", choices=NORMS, doc="gLN (non-causal), cLN (causal) or BN"),
                HParam("causal", "bool", False, doc="left-only padding in the TCN (use with cLN)"),
                HParam("activation", "choice", "sigmoid", choices=ACTIVATIONS, doc="mask activation"),
            )
        },
        presets={
            # The paper's best non-causal system (5.1M published; ours 4,984,881, see the docstring).
            "paper": dict(_PAPER),
            # Same sizes, cLN and causal convolutions (the paper's causal row, 5.1M).
            "paper_causal": {**_PAPER, "norm": "cLN", "causal": True},
            # Receptive field 125 frames (1000 samples, 0.125 s at 8 kHz); trains in minutes on a CPU.
            "cpu": {"N": 64, "L": 16, "B": 32, "H": 64, "P": 3, "X": 5, "R": 2, "Sc": 32,
                    "norm": "gLN", "causal": False, "activation": "sigmoid"},
        },
        builder=ConvTasNet,
        causal_params={"norm": "cLN", "causal": True},
        published_params={"paper": 5_100_000, "paper_causal": 5_100_000},
    )
)
