"""MulCat block of VSUNOS (Nachmani, Adi, Wolf, "Voice separation with an unknown number of
multiple speakers", ICML 2020, section 3, Fig. 2): two BLSTMs read the same sequence, one
output gates the other by multiplication, and the product is concatenated with the input and
projected back.

    x [batch, seq, C] --BLSTM + Linear(2H -> C)--> a
                      --BLSTM + Linear(2H -> C)--> g
        --concat(a ⊙ g, x) [batch, seq, 2C] --Linear(2C -> C)--> [batch, seq, C]
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MulCat(nn.Module):
    """Multiply-and-concatenate over a sequence.

    Args:
        channels: features ``C`` per step (in and out).
        hidden: LSTM units per direction ``H``.
        bidirectional: BLSTMs (the paper everywhere) or forward LSTMs.

    Shapes:
        ``[batch, seq, C] -> [batch, seq, C]``.
    """

    def __init__(self, channels: int, hidden: int, bidirectional: bool = True) -> None:
        super().__init__()
        width = hidden * (2 if bidirectional else 1)
        self.rnn = nn.LSTM(channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.rnn_proj = nn.Linear(width, channels)
        self.gate_rnn = nn.LSTM(channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.gate_proj = nn.Linear(width, channels)
        self.block_proj = nn.Linear(2 * channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        value = self.rnn_proj(self.rnn(x)[0])
        gate = self.gate_proj(self.gate_rnn(x)[0])
        return self.block_proj(torch.cat([value * gate, x], dim=-1))
