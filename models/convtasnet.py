"""Conv-TasNet: a learned filterbank and a temporal convolutional network (TCN) mask estimator.

Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for speech
separation", IEEE/ACM TASLP 27(8), 2019.

Encoder - Separator - Mask head - Decoder (argument names as in the paper):

    mixture [B, T] --pad--> [B, 1, T'] --Conv1d(1, N, L, stride L/2), linear--> w [B, N, K]
        --TCN (norm, 1x1 N->B, X*R dilated conv blocks, skip sum)--> [B, Sc, K]
        --PReLU, 1x1 Sc->S*N, sigmoid/relu/softmax--> m [B, S, N, K]
        --m ⊙ w, ConvTranspose1d(N, 1, L, stride L/2)--> [B, S, T'] --cut--> [B, S, T]

The implementation is checked against ``torchaudio.models.ConvTasNet`` as an independent
reference: same parameter count and the same output (after :func:`load_torchaudio_weights`)
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

import torch
from torch import Tensor, nn

from models.blocks.tcn import TCN
from models.masking import EncoderMaskerDecoder
from models.registry import Family, HParam, register

ACTIVATIONS = ("sigmoid", "relu", "softmax")
NORMS = ("gLN", "cLN", "BN")


class MaskHead(nn.Module):
    """PReLU, 1x1 conv to ``S*N`` channels and the mask non-linearity.

    ``softmax`` is taken across the ``S`` sources (masks sum to one at every ``(n, k)``);
    ``sigmoid`` and ``relu`` are element-wise.

    Shapes:
        ``[batch, Sc, K] -> [batch, S, N, K]``.
    """

    def __init__(self, Sc: int, N: int, n_src: int, activation: str) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown mask activation {activation!r}; known: {list(ACTIVATIONS)}")
        self.N, self.n_src, self.activation = N, n_src, activation
        self.prelu = nn.PReLU()
        self.conv = nn.Conv1d(Sc, n_src * N, 1)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.conv(self.prelu(x)).view(x.shape[0], self.n_src, self.N, -1)
        if self.activation == "softmax":
            return torch.softmax(logits, dim=1)
        return torch.sigmoid(logits) if self.activation == "sigmoid" else torch.relu(logits)


class TCNMasker(nn.Module):
    """Separator (TCN) followed by the mask head: ``[batch, N, K] -> [batch, S, N, K]``."""

    def __init__(self, tcn: TCN, head: MaskHead) -> None:
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
        activation: mask non-linearity, ``'sigmoid'``, ``'relu'`` or ``'softmax'``.
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
        masker = TCNMasker(TCN(N, B, H, P, X, R, Sc, norm, causal), MaskHead(Sc, N, n_src, activation))
        decoder = nn.ConvTranspose1d(N, 1, L, stride=stride, padding=stride, bias=False)
        super().__init__(encoder, masker, decoder, n_src, sample_rate, kernel_size=L, stride=stride)
        self.N, self.causal, self.activation = N, causal, activation

    @property
    def is_causal(self) -> bool:
        """Whether output sample ``t`` depends only on input samples ``< t + L`` (eval mode)."""
        return self.masker.tcn.is_causal

    def pad(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, 1, T']``: zeros at the end so that ``(T' - L % 2)`` is a multiple of the hop.

        torchaudio's ``_align_num_frames_with_strides``: with the encoder's own ``L/2`` padding on
        each side the frames then tile ``T'`` exactly and the decoder returns ``T'`` samples.
        """
        t = mixture.shape[-1]
        odd = self.kernel_size % 2
        t_padded = odd + math.ceil(max(t - odd, 0) / self.stride) * self.stride
        return nn.functional.pad(mixture, (0, max(t_padded, 1) - t)).unsqueeze(1)



# -- torchaudio as a reference ---------------------------------------------------------------


def torchaudio_kwargs(model: ConvTasNet) -> dict:
    """Constructor arguments of ``torchaudio.models.ConvTasNet`` describing the same network.

    Raises:
        ValueError: a configuration torchaudio cannot express (causal, cLN/BN, ``Sc != B``,
            softmax masks).
    """
    tcn, head = model.masker.tcn, model.masker.head
    first = tcn.conv_layers[0]
    B, H = first.conv_layers[0].in_channels, first.conv_layers[0].out_channels
    Sc = first.skip_out.out_channels
    problems = [
        msg for bad, msg in (
            (tcn.causal, "causal"),
            (tcn.norm != "gLN", f"norm={tcn.norm!r}"),
            (Sc != B, f"Sc={Sc} != B={B}"),
            (head.activation not in ("sigmoid", "relu"), f"activation={head.activation!r}"),
        ) if bad
    ]
    if problems:
        raise ValueError(f"torchaudio's ConvTasNet (non-causal, gLN, Sc == B, sigmoid/relu) cannot express {problems}")
    n_blocks = len(tcn.conv_layers)
    X = next((i for i, blk in enumerate(tcn.conv_layers) if i and blk.conv_layers[3].conv.dilation[0] == 1), n_blocks)
    return {
        "num_sources": model.n_src,
        "enc_kernel_size": model.kernel_size,
        "enc_num_feats": model.N,
        "msk_kernel_size": first.conv_layers[3].conv.kernel_size[0],
        "msk_num_feats": B,
        "msk_num_hidden_feats": H,
        "msk_num_layers": X,
        "msk_num_stacks": n_blocks // X,
        "msk_activate": head.activation,
    }


def _our_key(key: str) -> str:
    """torchaudio ``ConvTasNet`` state-dict key -> ours."""
    if key.startswith(("encoder.", "decoder.")):
        return key
    if not key.startswith("mask_generator."):
        raise KeyError(f"unexpected torchaudio ConvTasNet key {key!r}")
    key = key[len("mask_generator."):]
    for theirs, ours in (("output_prelu.", "head.prelu."), ("output_conv.", "head.conv.")):
        if key.startswith(theirs):
            return "masker." + ours + key[len(theirs):]
    parts = key.split(".")
    # conv_layers.<i>.conv_layers.3.<p>: the depthwise conv is wrapped with its padding in ours.
    if parts[0] == "conv_layers" and parts[2:4] == ["conv_layers", "3"]:
        parts.insert(4, "conv")
    return "masker.tcn." + ".".join(parts)


def load_torchaudio_weights(ours: ConvTasNet, theirs: nn.Module) -> ConvTasNet:
    """Copy the weights of a ``torchaudio.models.ConvTasNet`` into ``ours`` (in place).

    Args:
        ours: a non-causal gLN model with ``Sc == B`` and sigmoid/relu masks.
        theirs: the torchaudio model, e.g. ``ConvTasNet(**torchaudio_kwargs(ours))``.

    Returns:
        ``ours``.

    Raises:
        ValueError: the two configurations differ (checked on the constructor arguments and
            again by a strict ``load_state_dict``: every key and shape must match).
    """
    expected = torchaudio_kwargs(ours)
    got = {"num_sources": theirs.num_sources, "enc_kernel_size": theirs.enc_kernel_size,
           "enc_num_feats": theirs.enc_num_feats,
           "msk_activate": "sigmoid" if isinstance(theirs.mask_generator.mask_activate, nn.Sigmoid) else "relu"}
    diff = {k: (expected[k], v) for k, v in got.items() if expected[k] != v}
    if diff:
        raise ValueError(f"configurations differ (ours, theirs): {diff}")
    mapped = {_our_key(k): v for k, v in theirs.state_dict().items()}
    try:
        ours.load_state_dict(mapped, strict=True)
    except RuntimeError as err:
        raise ValueError(f"torchaudio weights do not fit this model: {err}") from None
    return ours


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
            "mask head": "PReLU, 1x1 conv Sc -> S*N, sigmoid / relu / softmax (across speakers)",
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
        published_params={"paper": 5_100_000, "paper_causal": 5_100_000},
    )
)
