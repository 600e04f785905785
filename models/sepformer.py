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
the ``N`` encoder channels and the ReLU mask activation. That masker is DPRNN's
(:class:`models.blocks.dual_path.DualPathMasker`) with SepFormer blocks, overlap-add that sums
and SpeechBrain's front padding (:func:`sepformer_masker`).

Parameter count of the ``paper`` preset (2 speakers): 25,679,361. The paper's tables give
"26M": the same model rounded to two significant figures (SpeechBrain's recipe builds 25.68M).
Of it, 25,274,368 are the 4 Transformers (8 layers x 789,760 + final LayerNorm each); the
encoder and decoder are 4,096 weights each; the positional encoding has no parameters.
"""

from __future__ import annotations

from torch import nn

from .blocks import norms
from .blocks.dual_path import DualPathBlock, DualPathMasker
from .blocks.transformer import TransformerEncoder
from .masking import EncoderMaskerDecoder
from .registry import Family, HParam, register


# -- Masker -------------------------------------------------------------------------------


def sepformer_block(d_model: int, num_intra_layers: int, num_inter_layers: int, num_heads: int,
                    d_ffn: int, dropout: float) -> DualPathBlock:
    """One SepFormer block on ``[B, D, C, Nc]``: IntraTransformer then InterTransformer.

    Each transformer's output is normalised (gLN over ``D x C x Nc``, on the 4-D tensor as
    SpeechBrain does) and added to its input: the skip around each block lets 2 x 16
    transformer layers train without warm-up tricks.
    """
    return DualPathBlock(
        intra=TransformerEncoder(num_intra_layers, d_model, num_heads, d_ffn, dropout),
        inter=TransformerEncoder(num_inter_layers, d_model, num_heads, d_ffn, dropout),
        intra_norm=norms.get("gLN", d_model),
        inter_norm=norms.get("gLN", d_model),
    )


def sepformer_masker(n_src: int, N_filters: int, chunk_size: int, num_blocks: int, num_intra_layers: int,
                     num_inter_layers: int, d_model: int, num_heads: int, d_ffn: int,
                     dropout: float) -> DualPathMasker:
    """Encoder features ``[B, N, K']`` -> masks ``[B, S, N, K']`` (ReLU, unbounded above).

    The dual-path masker of DPRNN with SepFormer blocks and SpeechBrain's chunking: half a
    chunk of zero frames in front and overlap-add that *sums* the chunks, as the paper and
    SpeechBrain do, so a ported checkpoint sees the same numbers (see
    :mod:`models.blocks.dual_path`). SpeechBrain sometimes appends one more chunk of zeros
    at the end; the grid here ends with the least padding that fits, which only changes what
    the inter-chunk attention and the norms see there.

    Args: see :class:`SepFormer`.
    """
    blocks = [sepformer_block(d_model, num_intra_layers, num_inter_layers, num_heads, d_ffn, dropout)
              for _ in range(num_blocks)]
    return DualPathMasker(N_filters, d_model, n_src, blocks, chunk_size, norm="gLN", mask_act="relu",
                          overlap="sum", front=chunk_size // 2)


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
        masker = sepformer_masker(n_src, N_filters, chunk_size, num_blocks, num_intra_layers,
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
