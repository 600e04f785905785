"""DPRNN-TasNet: dual-path RNN on a learned filterbank.

Luo, Chen, Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
single-channel speech separation", ICASSP 2020 (arXiv:1910.06379).

Encoder - Separator - Mask head - Decoder:

    mixture [batch, T] --Conv1d(1, N, L, hop L/2) + ReLU--> w [batch, N, frames]
        --gLN, 1x1 conv N->B, chunk (K frames, hop K/2)--> [batch, B, K, S chunks]
        --R x (intra-chunk BLSTM + linear + norm, residual;
               inter-chunk (B)LSTM + linear + norm, residual)--> [batch, B, K, S]
        --PReLU, 1x1 conv to n_src x B, overlap-add, tanh ⊙ sigmoid gate, 1x1 conv B->N,
          ReLU--> masks [batch, n_src, N, frames]
        --masks ⊙ w, ConvTranspose1d(N, 1, L, hop L/2)--> [batch, n_src, T]

Trained with uPIT negative SI-SNR (:class:`models.masking.EncoderMaskerDecoder`).

Argument names. ``N`` encoder filters (the paper's feature dimension ``N``), ``L`` window
(samples; the paper's "window size", Conv-TasNet's ``L``), ``K`` chunk size (frames; hop
``P = K/2``), ``H`` hidden units per direction, ``B`` bottleneck / feature dimension inside
the blocks (Conv-TasNet's ``B``, asteroid's ``bn_chan``; the reference code's
``feature_dim``), ``R`` number of DPRNN blocks. The DPRNN paper itself calls the block count
``B``; that letter is kept for the bottleneck here because every TasNet-family module in
this project uses it so, and the paper has no name for the bottleneck.

Causal variant (``causal=True``): the inter-chunk RNN is a uni-directional LSTM and every
norm is cLN (cumulative over frames, and over chunks in chunk order). The intra-chunk RNN
stays a BLSTM, as in the paper: it sees the whole chunk, so the model is causal only up to
one chunk of look-ahead. An output sample can depend on input up to about ``K * L/2 + L``
samples later (``K`` frames of hop ``L/2`` plus one window); earlier outputs never see a
change. With the paper's ``L = 2, K = 250`` at 8 kHz that is ~31 ms.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks.activations import ACTIVATIONS
from .blocks.dual_path import DualPathBlock, DualPathMasker, DualPathNorm
from .blocks.learned_filterbank import default_stride, learned_filterbank
from .masking import EncoderMaskerDecoder
from .registry import Family, HParam, register


class RNNProjection(nn.Module):
    """One LSTM layer then a linear map back to the input size (the paper's RNN + FC).

    Args:
        input_size: features ``B`` per step.
        H: hidden units per direction.
        bidirectional: BLSTM (sees the whole sequence) or LSTM (causal along the sequence).
        dropout: on the LSTM output, before the projection.

    Shapes:
        ``[batch, seq, B] -> [batch, seq, B]``.
    """

    def __init__(self, input_size: int, H: int, bidirectional: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, H, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(H * (2 if bidirectional else 1), input_size)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.rnn(x)
        return self.proj(self.dropout(y))


def dprnn_block(B: int, H: int, causal: bool, dropout: float = 0.0) -> DualPathBlock:
    """Intra BLSTM (always bidirectional) and inter (B)LSTM, each ``x + norm(FC(RNN(x)))``."""
    norm = "cLN" if causal else "gLN"
    return DualPathBlock(
        intra=RNNProjection(B, H, bidirectional=True, dropout=dropout),
        inter=RNNProjection(B, H, bidirectional=not causal, dropout=dropout),
        intra_norm=DualPathNorm(norm, B),
        inter_norm=DualPathNorm(norm, B),
    )


class DPRNN(EncoderMaskerDecoder):
    """DPRNN-TasNet; see the module docstring for the architecture and argument names.

    Args:
        n_src: sources ``S``.
        sample_rate: Hz (the architecture itself is rate agnostic; ``L`` is in samples).
        N: encoder filters. L: window (samples), hop ``L // 2``.
        B: feature dimension in the blocks. H: LSTM units per direction.
        K: chunk size (frames), hop ``K // 2``. R: number of DPRNN blocks.
        causal: uni-directional inter-chunk LSTM and cLN (one chunk of look-ahead remains).
        activation: mask non-linearity, ``'relu'`` (paper) or another
            :data:`~models.blocks.activations.ACTIVATIONS` name (``'softmax'`` across sources).
        dropout: on every LSTM output.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, N: int = 64, L: int = 2, B: int = 64,
                 H: int = 128, K: int = 250, R: int = 6, causal: bool = False, activation: str = "relu",
                 dropout: float = 0.0) -> None:
        encoder, decoder = learned_filterbank(N, L)
        masker = DualPathMasker(
            N, B, n_src, [dprnn_block(B, H, causal, dropout) for _ in range(R)], K,
            norm="cLN" if causal else "gLN", mask_act=activation,
        )
        super().__init__(encoder, masker, decoder, n_src, sample_rate, kernel_size=L, stride=default_stride(L))
        self.causal = causal

    def lookahead(self) -> int | None:
        """One chunk of frames plus one window, ``K * L/2 + L`` samples, for ``causal=True``;
        ``None`` otherwise (the inter-chunk BLSTM / attention sees the whole utterance)."""
        return self.masker.K * self.stride + self.kernel_size if self.causal else None

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, sample_rate={self.sample_rate}, causal={self.causal}"


_PAPER = {"N": 64, "L": 2, "B": 64, "H": 128, "K": 250, "R": 6, "causal": False, "activation": "relu", "dropout": 0.0}

FAMILY = register(
    Family(
        name="dprnn",
        description=(
            "DPRNN-TasNet (Luo, Chen, Yoshioka, ICASSP 2020): a learned filterbank whose frame "
            "sequence is cut into 50 %-overlapping chunks; stacked dual-path blocks alternate a "
            "BLSTM within each chunk and a (B)LSTM across chunks, so very short windows (2 "
            "samples) and very long sequences stay tractable. Masks, uPIT negative SI-SNR."
        ),
        blocks={
            "encoder": "Conv1d(1, N, L, hop L/2) + ReLU",
            "separator": "gLN/cLN, 1x1 conv N->B, chunking K (hop K/2), R x [intra BLSTM + FC + norm, "
                         "inter BLSTM (LSTM if causal) + FC + norm, residual each]",
            "mask head": ("PReLU + 1x1 conv to S x B, overlap-add, tanh ⊙ sigmoid gate, 1x1 conv B->N, "
                          "ReLU (paper) or another activation"),
            "decoder": "mask ⊙ encoder output, ConvTranspose1d(N, 1, L, hop L/2)",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("N", "int", 64, low=8, high=512, log=True, doc="encoder filters"),
                HParam("L", "int", 2, low=2, high=64, log=True, doc="encoder window in samples (hop L/2)"),
                HParam("B", "int", 64, low=8, high=256, log=True, doc="feature dimension inside the blocks"),
                HParam("H", "int", 128, low=8, high=512, log=True, doc="LSTM units per direction"),
                HParam("K", "int", 250, low=2, high=500, log=True, doc="chunk size in frames (hop K/2)"),
                HParam("R", "int", 6, low=1, high=12, doc="number of DPRNN blocks"),
                HParam("causal", "bool", False, doc="LSTM across chunks + cLN (one chunk of look-ahead)"),
                HParam("activation", "choice", "relu", choices=ACTIVATIONS, doc="mask non-linearity"),
                HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="dropout on the LSTM outputs"),
            )
        },
        presets={
            # Paper, table 1 best row: N = 64, window 2 samples, chunk 250, 6 blocks, BLSTM 128.
            "paper": dict(_PAPER),
            # Same size, uni-directional inter-chunk LSTM and cLN (no published count).
            "paper_causal": {**_PAPER, "causal": True},
            # ~60k parameters and 16-sample windows (500 frames/s at 8 kHz): trains on a CPU.
            "cpu": {**_PAPER, "N": 64, "L": 16, "B": 32, "H": 24, "K": 50, "R": 2},
        },
        builder=DPRNN,
        causal_params={"causal": True},
        # Paper: 2.6M. Ours for "paper" is 2,608,001 (+0.3 %); the 6 blocks are 2,582,784 of
        # it, the rest is the small layers around them (norm, 1x1 convs, gate; ~25k), whose
        # exact form the paper leaves to its code (we follow asteroid's DPRNN).
        published_params={"paper": 2_600_000, "paper_causal": None, "cpu": None},
    )
)
