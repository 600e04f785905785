"""Recurrent separator core: a stack of (B)LSTM layers over STFT frames."""

from __future__ import annotations

from torch import Tensor, nn


class RNNStack(nn.Module):
    """``num_layers`` LSTM layers, optionally bidirectional, batch-first.

    Args:
        input_size: features per frame (e.g. ``F = 129`` log-magnitude bins).
        hidden_size: units per layer *per direction* (the uPIT paper's 896).
        num_layers: stacked layers.
        bidirectional: BLSTM (non-causal) if true, LSTM (causal) otherwise.
        dropout: dropout probability between layers and on the stack's output; applied on
            the output too so that a single-layer stack is regularised as well (PyTorch's
            LSTM only drops *between* layers).

    Shapes:
        ``[B, N, input_size] -> [B, N, output_size]``, ``output_size = hidden_size * (2 if
        bidirectional else 1)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.rnn = nn.LSTM(
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            # Passing dropout > 0 with one layer only makes PyTorch warn; it would be a no-op.
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.rnn(x)
        return self.dropout(y)
