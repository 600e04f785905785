"""SepFormer: a dual-path Transformer masker in a learned-basis domain.

Subakan, Ravanelli, Cornell, Bronzi, Zhong, "Attention is all you need in speech
separation", ICASSP 2021. Read alongside SpeechBrain's ``Dual_Path_Model`` with
``SBTransformerBlock`` (the authors' recipe ``sepformer.yaml``), which this follows layer for
layer, so parameter counts and shapes match the released model.

Encoder - Separator - Mask head - Decoder (shapes for one mixture of ``T`` samples; ``N``
bases, ``K'`` encoder frames, ``D`` = d_model, ``C`` = chunk_size, ``Nc`` chunks):

    mixture [B, 1, T'] --Conv1d(1, N, L, stride L/2, no bias) + ReLU--> h [B, N, K']
      --GroupNorm(1 group) + 1x1 conv N->D--> [B, D, K']
      --chunk (C frames, 50 % overlap)--> [B, D, C, Nc]
      --num_blocks x { IntraTransformer over C, GN, + skip;  InterTransformer over Nc, GN, + skip }
      --PReLU + 1x1 conv D->S*D--> [B*S, D, C, Nc] --overlap-add--> [B*S, D, K']
      --(tanh(1x1) * sigmoid(1x1)) + 1x1 conv D->N + ReLU--> masks [B, S, N, K']
    masks * h --ConvTranspose1d(N, 1, L, stride L/2, no bias)--> [B, S, T]

Each Intra/InterTransformer is ``num_*_layers`` pre-LN layers with a sinusoidal positional
encoding at its input (:mod:`models.blocks.transformer`). The paper's "FFW + ReLU" output
stage is SpeechBrain's gated pair of 1x1 convolutions followed by the 1x1 projection back to
the ``N`` encoder channels and the ReLU mask activation.

Parameter count of the ``paper`` preset (2 speakers): 25,679,361. The paper's tables give
"26M": the same model rounded to two significant figures (SpeechBrain's recipe builds 25.68M).
Of it, 25,274,368 are the 4 Transformers (8 layers x 789,760 + final LayerNorm each); the
encoder and decoder are 4,096 weights each; the positional encoding has no parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.blocks.transformer import TransformerEncoder
from models.masking import EncoderMaskerDecoder
from models.registry import Family, HParam, register


# -- Chunking -----------------------------------------------------------------------------


def chunk(x: Tensor, chunk_size: int) -> Tensor:
    """Split a sequence into half-overlapping chunks.

    The sequence is padded with ``hop = chunk_size // 2`` zero frames in front and at least
    ``C - hop`` behind, so every frame, the first and the last included, lies in two chunks
    (three for some frames when ``C`` is odd), as in SpeechBrain's ``_Segmentation``; the end
    padding is the least that fits the grid (SpeechBrain's sometimes adds one more chunk of
    zeros, which only changes what the inter-chunk attention and the norms see).

    Args:
        x: ``[B, D, L]`` frames.
        chunk_size: frames per chunk ``C`` (>= 2).

    Returns:
        ``[B, D, C, Nc]`` with ``Nc = ceil(L / hop) + 1``.
    """
    hop = chunk_size // 2
    length = x.shape[-1]
    extra = -length % hop  # makes (padded length - C) a multiple of hop
    padded = nn.functional.pad(x, (hop, chunk_size - hop + extra))
    return padded.unfold(-1, chunk_size, hop).transpose(2, 3)  # [B, D, Nc, C] -> [B, D, C, Nc]


def overlap_add(chunks: Tensor, length: int) -> Tensor:
    """Inverse of :func:`chunk`: sum the overlapping chunks and cut the padding.

    Summed, not averaged, as in the paper and SpeechBrain: the layers before and after learn
    the scale, and a ported checkpoint sees the same numbers.

    Args:
        chunks: ``[B, D, C, Nc]``.
        length: ``L``, the frame count before :func:`chunk`.

    Returns:
        ``[B, D, L]``.
    """
    b, d, c, n = chunks.shape
    hop = c // 2
    total = (n - 1) * hop + c
    out = nn.functional.fold(chunks.reshape(b, d * c, n), output_size=(1, total),
                             kernel_size=(1, c), stride=(1, hop))  # [B, D, 1, total]
    return out[:, :, 0, hop : hop + length]


# -- Masker -------------------------------------------------------------------------------


class SepFormerBlock(nn.Module):
    """One SepFormer block on ``[B, D, C, Nc]``: IntraTransformer then InterTransformer.

    Each transformer's output is normalised (gLN over ``D x C x Nc``) and added to its input:
    the skip around each block lets 2 x 16 transformer layers train without warm-up tricks.
    """

    def __init__(self, d_model: int, num_intra_layers: int, num_inter_layers: int, num_heads: int,
                 d_ffn: int, dropout: float) -> None:
        super().__init__()
        self.intra = TransformerEncoder(num_intra_layers, d_model, num_heads, d_ffn, dropout)
        self.inter = TransformerEncoder(num_inter_layers, d_model, num_heads, d_ffn, dropout)
        self.intra_norm = nn.GroupNorm(1, d_model, eps=1e-8)
        self.inter_norm = nn.GroupNorm(1, d_model, eps=1e-8)

    def forward(self, x: Tensor) -> Tensor:
        b, d, c, n = x.shape
        # Intra: attention among the C frames of each chunk (local structure).
        intra = self.intra(x.permute(0, 3, 2, 1).reshape(b * n, c, d))
        intra = self.intra_norm(intra.reshape(b, n, c, d).permute(0, 3, 2, 1)) + x
        # Inter: attention among the Nc chunks at each within-chunk position (long range).
        inter = self.inter(intra.permute(0, 2, 3, 1).reshape(b * c, n, d))
        return self.inter_norm(inter.reshape(b, c, n, d).permute(0, 3, 1, 2)) + intra


class SepFormerMasker(nn.Module):
    """Encoder features ``[B, N, K']`` -> masks ``[B, S, N, K']`` (ReLU, unbounded above).

    Args: see :class:`SepFormer`.
    """

    def __init__(self, n_src: int, N_filters: int, chunk_size: int, num_blocks: int,
                 num_intra_layers: int, num_inter_layers: int, d_model: int, num_heads: int,
                 d_ffn: int, dropout: float) -> None:
        super().__init__()
        self.n_src, self.chunk_size = n_src, chunk_size
        self.norm = nn.GroupNorm(1, N_filters, eps=1e-8)
        self.linear = nn.Conv1d(N_filters, d_model, 1, bias=False)
        self.blocks = nn.ModuleList(
            SepFormerBlock(d_model, num_intra_layers, num_inter_layers, num_heads, d_ffn, dropout)
            for _ in range(num_blocks)
        )
        self.prelu = nn.PReLU()
        self.to_sources = nn.Conv2d(d_model, d_model * n_src, 1)
        # Gated output pair: the paper's "two feed-forward layers" after overlap-add.
        self.output = nn.Sequential(nn.Conv1d(d_model, d_model, 1), nn.Tanh())
        self.output_gate = nn.Sequential(nn.Conv1d(d_model, d_model, 1), nn.Sigmoid())
        self.to_bases = nn.Conv1d(d_model, N_filters, 1, bias=False)

    def forward(self, feats: Tensor) -> Tensor:
        b, n_filters, frames = feats.shape
        x = chunk(self.linear(self.norm(feats)), self.chunk_size)  # [B, D, C, Nc]
        for block in self.blocks:
            x = block(x)
        x = self.to_sources(self.prelu(x))  # [B, S*D, C, Nc], source-major channels
        x = x.reshape(b * self.n_src, -1, *x.shape[2:])
        x = overlap_add(x, frames)  # [B*S, D, K']
        x = self.to_bases(self.output(x) * self.output_gate(x))
        return torch.relu(x).reshape(b, self.n_src, n_filters, frames)


# -- Separator ----------------------------------------------------------------------------


class SepFormer(EncoderMaskerDecoder):
    """SepFormer (Subakan et al. 2021). Argument names as in the paper / SpeechBrain recipe.

    Args:
        n_src: speakers ``S``.
        sample_rate: Hz (the architecture does not depend on it; the paper works at 8 kHz).
        N_filters: encoder bases ``N`` (paper: 256).
        kernel_size: encoder/decoder window ``L`` in samples; the stride is ``L // 2``
            (paper: 16 and 8, i.e. 2 ms / 1 ms at 8 kHz).
        chunk_size: frames per chunk ``C``, 50 % overlap (paper: 250).
        num_blocks: SepFormer blocks ``N`` of the paper (paper: 2).
        num_intra_layers, num_inter_layers: Transformer layers in each IntraTransformer and
            InterTransformer (paper: 8 and 8).
        d_model: Transformer width (paper: 256).
        num_heads: attention heads, must divide ``d_model`` (paper: 8).
        d_ffn: feed-forward hidden size (paper: 1024).
        dropout: Transformer dropout (paper: 0).
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, N_filters: int = 256,
                 kernel_size: int = 16, chunk_size: int = 250, num_blocks: int = 2,
                 num_intra_layers: int = 8, num_inter_layers: int = 8, d_model: int = 256,
                 num_heads: int = 8, d_ffn: int = 1024, dropout: float = 0.0) -> None:
        if d_model % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide d_model ({d_model})")
        if kernel_size < 2 or chunk_size < 2:
            raise ValueError(f"kernel_size and chunk_size must be >= 2, got {kernel_size}, {chunk_size}")
        stride = kernel_size // 2
        encoder = nn.Sequential(nn.Conv1d(1, N_filters, kernel_size, stride=stride, bias=False), nn.ReLU())
        masker = SepFormerMasker(n_src, N_filters, chunk_size, num_blocks, num_intra_layers,
                                 num_inter_layers, d_model, num_heads, d_ffn, dropout)
        decoder = nn.ConvTranspose1d(N_filters, 1, kernel_size, stride=stride, bias=False)
        super().__init__(encoder, masker, decoder, n_src, sample_rate, kernel_size, stride)


FAMILY = register(
    Family(
        name="sepformer",
        description=(
            "SepFormer (Subakan et al., ICASSP 2021): a learned encoder/decoder (16-sample "
            "windows, 8-sample hop) and a dual-path masker of Transformers only: chunks of "
            "250 frames, an IntraTransformer within chunks and an InterTransformer across "
            "them, 2 blocks of 8 + 8 pre-LN layers; trained with uPIT negative SI-SNR."
        ),
        blocks={
            "encoder": "Conv1d(1, N, L, stride L/2) + ReLU",
            "separator": ("gLN + 1x1 conv; 50%-overlap chunking; blocks of Intra- and InterTransformer "
                          "(pre-LN, sinusoidal positions)"),
            "mask head": "PReLU + 1x1 conv to S streams, overlap-add, tanh x sigmoid gate, 1x1 conv to N, ReLU",
            "decoder": "ConvTranspose1d(N, 1, L, stride L/2)",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("N_filters", "int", 256, low=8, high=1024, log=True, doc="encoder bases N"),
                HParam("kernel_size", "int", 16, low=2, high=64, doc="encoder window L in samples; stride L // 2"),
                HParam("chunk_size", "int", 250, low=2, high=1000, log=True, doc="frames per chunk (50% overlap)"),
                HParam("num_blocks", "int", 2, low=1, high=8, doc="SepFormer blocks (Intra + Inter)"),
                HParam("num_intra_layers", "int", 8, low=1, high=16, doc="layers per IntraTransformer"),
                HParam("num_inter_layers", "int", 8, low=1, high=16, doc="layers per InterTransformer"),
                HParam("d_model", "int", 256, low=8, high=1024, log=True, doc="Transformer width (divisible by num_heads)"),
                HParam("num_heads", "choice", 8, choices=(1, 2, 4, 8, 16), doc="attention heads"),
                HParam("d_ffn", "int", 1024, low=8, high=4096, log=True, doc="feed-forward hidden size"),
                HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="Transformer dropout"),
            )
        },
        presets={
            # Paper section 3 / SpeechBrain sepformer.yaml (WSJ0-2mix, 8 kHz).
            "paper": {"N_filters": 256, "kernel_size": 16, "chunk_size": 250, "num_blocks": 2,
                      "num_intra_layers": 8, "num_inter_layers": 8, "d_model": 256, "num_heads": 8,
                      "d_ffn": 1024, "dropout": 0.0},
            # ~28k parameters: one block of 1 + 1 narrow layers, chunks of 50 frames (50 ms).
            "cpu": {"N_filters": 64, "kernel_size": 16, "chunk_size": 50, "num_blocks": 1,
                    "num_intra_layers": 1, "num_inter_layers": 1, "d_model": 32, "num_heads": 4,
                    "d_ffn": 64, "dropout": 0.0},
        },
        builder=SepFormer,
        # The paper's table: 26M (ours 25.68M, the same model; the paper rounds).
        published_params={"paper": 26_000_000},
    )
)
