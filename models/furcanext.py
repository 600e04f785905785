"""FurcaNeXt (FurcaPy): a Conv-TasNet whose TCN blocks are gated, multi-scale, dynamically
weighted dilated conv pyramids, trained on utterance-level SDR with PIT.

Shi, Lin, Liu, Liu, Hayashi, Yang, Hu, "FurcaNeXt: End-to-end monaural speech separation with
dynamic gated dilated temporal convolutional networks", MMM 2020 (arXiv:1902.04891).

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --pad--> [B, 1, T'] --Conv1d(1, N, L, hop L//2) + ReLU--> w [B, N, K]
        --gLN, 1x1 N->B, X*R gated pyramid blocks (models.blocks.gated_tcn: J gated dilated
          depthwise convs of kernel 3, 5, ..., 2J+1, softmax-weighted by the block's input),
          skip sum--> [B, Sc, K]
        --PReLU, 1x1 Sc->S*N, sigmoid--> m [B, S, N, K]
        --m ⊙ w, ConvTranspose1d(N, 1, L, hop L//2)--> [B, S, T'] --cut--> [B, S, T]

Which variant. The paper proposes four (FurcaPa: intra-parallel gated convs; FurcaPy:
multi-scale dynamically weighted gated dilated conv pyramids; FurcaSh: weight-shared
multi-scale gated TCN; FurcaSu: gated difference convolutions) and reports 18.4 dB SDRi as its
best; the text available to us does not tie that number (nor the 51.4M of the reference table)
to one variant unambiguously. FurcaPy is implemented: it is the variant the abstract describes
most completely and the one that carries the title's "dynamic gated dilated" TCN.

What the paper does not fix, chosen here: the pyramid's kernel sizes (3, 5, 7: ``J = 3``), one
softmax weight per scale computed per utterance from the frame-averaged block input (the
"dynamic weighting"; a linear ``H -> J`` layer), gLN everywhere, Conv-TasNet's framing and
mask head (sigmoid). Sizes of the ``paper`` preset are ours, chosen to reach the reference
table's 51.4M with Conv-TasNet's depth (``X = 8, R = 4``) and wide blocks (``B = Sc = 512,
H = 1024``, ``N = 512, L = 16``): **52,086,913** parameters for 2 sources (+1.3 %).

Objective: negative utterance-level SDR, ``10 log10(|s|^2 / |s - ŝ|^2)`` (not scale-invariant,
as the paper trains), best of the ``S!`` output orders per utterance (:func:`pit_neg_sdr`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks.gated_tcn import GatedPyramidTCN
from .blocks.pit import permutations
from .convtasnet import ConvMaskHead, TCNMasker
from .masking import EncoderMaskerDecoder
from .registry import Family, HParam, register


def sdr_matrix(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    """Plain SDR (dB) of every estimate against every reference: ``10 log10(|r|^2 / |r - e|^2)``.

    Args:
        est: ``[B, S, T]``; ref: ``[B, S, T]`` (samples).

    Returns:
        ``[B, S_ref, S_est]``: ``out[b, k, i]`` scores estimate ``i`` against reference ``k``.
    """
    err = (ref.unsqueeze(2) - est.unsqueeze(1)).pow(2).sum(-1)  # [B, S_ref, S_est]
    return 10 * torch.log10(ref.pow(2).sum(-1).unsqueeze(2) / (err + eps) + eps)


def pit_neg_sdr(est: Tensor, ref: Tensor) -> Tensor:
    """Negative SDR under uPIT: per utterance the best output order, mean over sources and batch (dB)."""
    scores = sdr_matrix(est, ref)
    perms = permutations(est.shape[1], est.device)  # [P, S]
    refs = torch.arange(est.shape[1], device=est.device)
    return -scores[:, refs[None, :], perms].mean(-1).max(dim=1).values.mean()


class FurcaNeXt(EncoderMaskerDecoder):
    """FurcaNeXt, FurcaPy variant; see the module docstring.

    Args:
        n_src: sources ``S``. sample_rate: Hz (``L`` is in samples).
        N: encoder filters. L: window (hop ``L // 2``). B: residual channels. H: block channels.
        Sc: skip channels. X: blocks per repeat. R: repeats.
        scales: ``J``, gated convs per pyramid (kernel sizes 3, 5, ..., ``2J + 1``).
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, N: int = 512, L: int = 16, B: int = 512,
                 H: int = 1024, Sc: int = 512, X: int = 8, R: int = 4, scales: int = 3) -> None:
        if L < 2:
            raise ValueError(f"L must be >= 2 (the hop is L // 2), got {L}")
        stride = L // 2
        kernel_sizes = tuple(2 * j + 3 for j in range(scales))
        encoder = nn.Sequential(nn.Conv1d(1, N, L, stride=stride, bias=False), nn.ReLU())
        masker = TCNMasker(GatedPyramidTCN(N, B, H, Sc, X, R, kernel_sizes), ConvMaskHead(Sc, N, n_src, "sigmoid"))
        decoder = nn.ConvTranspose1d(N, 1, L, stride=stride, bias=False)
        super().__init__(encoder, masker, decoder, n_src, sample_rate, L, stride)

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """uPIT negative SDR (dB, to minimise)."""
        self._check_sources(mixture, sources)
        return pit_neg_sdr(self(mixture), sources)


_PAPER = {"N": 512, "L": 16, "B": 512, "H": 1024, "Sc": 512, "X": 8, "R": 4, "scales": 3}

FAMILY = register(
    Family(
        name="furcanext",
        description=(
            "FurcaNeXt, FurcaPy variant (Shi et al., MMM 2020): Conv-TasNet's learned filterbank "
            "and mask head around a TCN whose blocks run a pyramid of gated (tanh x sigmoid) dilated "
            "depthwise convs of several kernel sizes, mixed by per-utterance softmax weights; "
            "trained on utterance-level SDR with PIT."
        ),
        blocks={
            "encoder": "Conv1d(1, N, L, stride L/2) + ReLU, no bias",
            "separator": "gLN, 1x1 N->B, X*R gated pyramid blocks (1x1 B->H, PReLU, gLN, J gated dilated "
                         "depthwise convs, dynamic softmax weights, gLN, residual and skip 1x1), skip sum",
            "mask head": "PReLU, 1x1 conv Sc -> S*N, sigmoid",
            "decoder": "masks x encoder output, ConvTranspose1d(N, 1, L, stride L/2), no bias",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("N", "int", 512, low=16, high=1024, log=True, doc="encoder/decoder filters"),
                HParam("L", "int", 16, low=2, high=64, log=True, doc="window in samples (hop L/2)"),
                HParam("B", "int", 512, low=16, high=1024, log=True, doc="residual-path channels"),
                HParam("H", "int", 1024, low=16, high=2048, log=True, doc="channels inside the blocks"),
                HParam("Sc", "int", 512, low=16, high=1024, log=True, doc="skip-connection channels"),
                HParam("X", "int", 8, low=1, high=10, doc="blocks per repeat (dilation 1..2^(X-1))"),
                HParam("R", "int", 4, low=1, high=6, doc="repeats"),
                HParam("scales", "int", 3, low=1, high=4, doc="gated convs per pyramid (kernels 3..2J+1)"),
            )
        },
        presets={
            "paper": dict(_PAPER),
            "cpu": {"N": 64, "L": 16, "B": 32, "H": 64, "Sc": 32, "X": 5, "R": 2, "scales": 2},
        },
        builder=FurcaNeXt,
        published_params={"paper": 51_400_000},
        published_systems=("FurcaNeXt",),
    )
)
