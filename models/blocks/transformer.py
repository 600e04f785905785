"""Pre-LN Transformer encoder, as SepFormer's IntraTransformer / InterTransformer use it.

Subakan, Ravanelli, Cornell, Bronzi, Zhong, "Attention is all you need in speech
separation", ICASSP 2021, section 2.2, and SpeechBrain's ``SBTransformerBlock`` with
``norm_before=True, use_positional_encoding=True`` (the SepFormer recipe):

    z [B', L, D] --(+ sinusoidal positional encoding)--> layer_1 ... layer_M --LayerNorm--> [B', L, D]

    layer(x):  x = x + MHA(LN(x))         (8 heads in the paper)
               x = x + FFW(LN(x))         (Linear D->d_ffn, ReLU, Linear d_ffn->D)

``B'`` is any batch of sequences (chunks for the intra model, frames for the inter model).
LayerNorms use ``eps=1e-6`` like SpeechBrain's, so a ported checkpoint normalises identically.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_positional_encoding(length: int, d_model: int, device: torch.device | None = None,
                                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Vaswani et al.'s fixed encoding, ``[length, d_model]``.

    ``pe[p, 2i] = sin(p / 10000^(2i/D))``, ``pe[p, 2i+1] = cos(p / 10000^(2i/D))``. Computed
    for the actual length on every call (no ``max_len`` buffer), so any sequence length works
    and the encoding adds no parameters and nothing to the state dict.
    """
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)  # [L, 1]
    div = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32)
                    * (-math.log(10000.0) / d_model))  # [ceil(D/2)]
    pe = torch.zeros(length, d_model, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div[: d_model // 2])  # odd D has one fewer cosine column
    return pe.to(dtype)


class PreLNTransformerLayer(nn.Module):
    """One pre-LN encoder layer on ``[B', L, D]`` (no attention mask: non-causal).

    Args:
        d_model: feature size ``D``.
        num_heads: attention heads; must divide ``d_model``.
        d_ffn: hidden size of the position-wise feed-forward network.
        dropout: on the attention weights and after each residual branch.
    """

    def __init__(self, d_model: int, num_heads: int, d_ffn: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide d_model ({d_model})")
        self.norm1 = nn.LayerNorm(d_model, eps=1e-6)
        self.attention = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-6)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ffn), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ffn, d_model)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.attention(h, h, h, need_weights=False)[0])
        return x + self.dropout(self.ffn(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """A stack of pre-LN layers with a positional encoding at its input and a final LayerNorm.

    This is one IntraTransformer or InterTransformer of the SepFormer paper.

    Args:
        num_layers: layers ``M`` (paper: 8).
        d_model: feature size ``D`` (paper: 256).
        num_heads: attention heads (paper: 8).
        d_ffn: feed-forward hidden size (paper: 1024).
        dropout: see :class:`PreLNTransformerLayer` (paper: 0).
        positional_encoding: add the sinusoidal encoding to the input. The paper adds it at
            every Intra/Inter transformer's input: attention alone is permutation invariant,
            and the order of samples within a chunk (and of chunks) carries the signal.
    """

    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ffn: int,
                 dropout: float = 0.0, positional_encoding: bool = True) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            PreLNTransformerLayer(d_model, num_heads, d_ffn, dropout) for _ in range(num_layers)
        )
        # Pre-LN layers leave the residual stream un-normalised; this norm bounds the output.
        self.norm = nn.LayerNorm(d_model, eps=1e-6)
        self.positional_encoding = positional_encoding

    def forward(self, x: Tensor) -> Tensor:
        """``[B', L, D] -> [B', L, D]``."""
        if self.positional_encoding:
            x = x + sinusoidal_positional_encoding(x.shape[1], x.shape[2], x.device, x.dtype)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)
