"""Grid LSTM over frequency chunks and frames: a 2-D recurrence on the spectrogram.

Kalchbrenner, Danihelka, Graves, "Grid long short-term memory", ICLR 2016; in speech as in
Sainath & Li, "Modeling time-frequency patterns with LSTM vs. convolutional architectures for
LVCSR tasks", Interspeech 2016 (TensorFlow's ``GridLSTMCell``), and the front-end of cuPIT-Grid
(Xu et al., ICASSP 2018).

The ``F`` bins of every frame are cut into ``K`` overlapping chunks of ``window`` bins (stride
``stride``, zero-padded at the top so they cover every bin). At grid point (frame ``n``, chunk
``k``) two LSTM cells read the same input ``[x_{n,k}, h^t_{n-1,k}, h^f_{n,k-1}]``:

* the *time* cell carries its state along frames, one state per chunk;
* the *frequency* cell carries its state along chunks, restarted every frame.

Its output is ``[h^t_{n,k}, h^f_{n,k}]``; the chunks' outputs are concatenated per frame. The
weights are shared by all chunks. Points on one anti-diagonal ``n + k = d`` do not depend on
each other, so the loop runs over the ``N + K - 1`` diagonals with all their points batched,
not over the ``N K`` points.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GridLSTM(nn.Module):
    """``[B, N, F] -> [B, N, K * 2 * hidden_size]``.

    Args:
        n_bins: input features per frame ``F``.
        window: bins per chunk.
        stride: bins between chunk starts.
        hidden_size: units of each of the two cells.
    """

    def __init__(self, n_bins: int, window: int, stride: int, hidden_size: int) -> None:
        super().__init__()
        if not 1 <= stride <= window:
            raise ValueError(f"need 1 <= stride <= window, got stride={stride}, window={window}")
        self.window, self.stride, self.hidden_size = window, stride, hidden_size
        self.n_chunks = 1 + max(0, math.ceil((n_bins - window) / stride))
        self.pad = (self.n_chunks - 1) * stride + window - n_bins
        self.time_cell = nn.LSTMCell(window + 2 * hidden_size, hidden_size)
        self.freq_cell = nn.LSTMCell(window + 2 * hidden_size, hidden_size)
        self.output_size = self.n_chunks * 2 * hidden_size

    def chunks(self, x: Tensor) -> Tensor:
        """``[B, N, F] -> [B, N, K, window]``."""
        return nn.functional.pad(x, (0, self.pad)).unfold(-1, self.window, self.stride)

    def forward(self, x: Tensor) -> Tensor:
        patches = self.chunks(x)
        batch, frames, n_chunks, _ = patches.shape
        hid = self.hidden_size
        k = torch.arange(n_chunks, device=x.device)
        zero = x.new_zeros(batch, n_chunks, hid)
        h_t, c_t, h_f, c_f = zero, zero, zero, zero
        outputs = []
        for d in range(frames + n_chunks - 1):
            n = d - k  # the frame of each chunk's point on this diagonal
            valid = ((n >= 0) & (n < frames)).view(1, n_chunks, 1)
            x_d = patches[:, n.clamp(0, frames - 1), k]  # [B, K, window]
            # Chunk k's frequency state comes from chunk k - 1 on the previous diagonal, the
            # same frame; chunk 0 starts each frame from zero.
            h_f_in = torch.cat([zero[:, :1], h_f[:, :-1]], dim=1)
            c_f_in = torch.cat([zero[:, :1], c_f[:, :-1]], dim=1)
            inp = torch.cat([x_d, h_t, h_f_in], dim=-1).reshape(batch * n_chunks, -1)
            new_h_t, new_c_t = self.time_cell(inp, (h_t.reshape(-1, hid), c_t.reshape(-1, hid)))
            h_f, c_f = self.freq_cell(inp, (h_f_in.reshape(-1, hid), c_f_in.reshape(-1, hid)))
            h_f, c_f = h_f.view(batch, n_chunks, hid), c_f.view(batch, n_chunks, hid)
            # Points outside the grid must not advance the time state: chunk k's first real
            # frame has to start from zeros. (Their frequency outputs only reach other
            # outside points.)
            h_t = torch.where(valid, new_h_t.view(batch, n_chunks, hid), h_t)
            c_t = torch.where(valid, new_c_t.view(batch, n_chunks, hid), c_t)
            outputs.append(torch.cat([h_t, h_f], dim=-1))
        grid = torch.stack(outputs, dim=1)  # [B, N + K - 1, K, 2H], indexed by diagonal
        frame_index = torch.arange(frames, device=x.device).unsqueeze(1)
        return grid[:, frame_index + k, k].reshape(batch, frames, self.output_size)

    def extra_repr(self) -> str:
        return f"window={self.window}, stride={self.stride}, chunks={self.n_chunks}, hidden_size={self.hidden_size}"
