"""cuPIT-Grid: the grid LSTM's 2-D recurrence, the constrained uPIT loss on a hand-sized example,
and the paper preset's size. (Any length, the cpu preset's size and learning:
test_family_contract.py.)"""

from __future__ import annotations

import torch

from sweep import models
from sweep.models.blocks.dynamic_pit import constrained_pit_loss, frame_delta
from sweep.models.blocks.grid_lstm import GridLSTM


def grid_point_by_point(grid: GridLSTM, x: torch.Tensor) -> torch.Tensor:
    """The grid recurrence written as its definition: frames outer, chunks inner."""
    patches = grid.chunks(x)
    batch, frames, n_chunks, _ = patches.shape
    zero = x.new_zeros(batch, grid.hidden_size)
    time_state = [(zero, zero)] * n_chunks
    out = []
    for n in range(frames):
        freq_state, row = (zero, zero), []
        for k in range(n_chunks):
            inp = torch.cat([patches[:, n, k], time_state[k][0], freq_state[0]], dim=-1)
            time_state[k] = grid.time_cell(inp, time_state[k])
            freq_state = grid.freq_cell(inp, freq_state)
            row.append(torch.cat([time_state[k][0], freq_state[0]], dim=-1))
        out.append(torch.cat(row, dim=-1))
    return torch.stack(out, dim=1)


def test_grid_lstm_diagonal_schedule_equals_the_point_by_point_recurrence() -> None:
    torch.manual_seed(0)
    grid = GridLSTM(n_bins=10, window=4, stride=3, hidden_size=5)
    assert grid.n_chunks == 3 and grid.output_size == 3 * 2 * 5
    x = torch.randn(2, 6, 10)
    with torch.no_grad():
        torch.testing.assert_close(grid(x), grid_point_by_point(grid, x))


def test_grid_lstm_chunks_cover_every_bin_and_run_forward_in_time() -> None:
    grid = GridLSTM(n_bins=129, window=32, stride=16, hidden_size=4)
    assert grid.n_chunks == 8 and grid.pad == 7 * 16 + 32 - 129
    x = torch.randn(1, 7, 129)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 3, 129)
    with torch.no_grad():
        a, b = grid(x), grid(y)
    torch.testing.assert_close(a[:, :4], b[:, :4])  # the time cell only looks back
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-4


def test_constrained_pit_loss_by_hand() -> None:
    # One bin, three frames. Targets: speaker 0 = [1, 1, 1], speaker 1 = [0, 0, 0]; outputs swap
    # in the middle frame: o0 = [1, 0, 1], o1 = [0, 1, 0].
    # Identity:  static 1 + 1 = 2; deltas Δo0 = [0, -1, 1], Δo1 = [0, 1, -1] against 0: 2 + 2 = 4;
    #            accelerations [0, -1, 2], [0, 1, -2]: 5 + 5 = 10.
    # Swapped:   static 2 + 2 = 4; deltas 4; accelerations 10.
    target = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]).view(1, 2, 1, 3)
    est = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 2, 1, 3)
    assert frame_delta(est).flatten().tolist() == [0.0, -1.0, 1.0, 0.0, 1.0, -1.0]
    loss, perm = constrained_pit_loss(est, target, delta_weight=0.5, accel_weight=0.25)
    assert perm.tolist() == [[0, 1]]
    torch.testing.assert_close(loss, torch.tensor((2 + 0.5 * 4 + 0.25 * 10) / (3 * 2)))
    plain, _ = constrained_pit_loss(est, target, delta_weight=0.0, accel_weight=0.0)
    torch.testing.assert_close(plain, torch.tensor(2 / 6))  # uPIT
    swapped, perm = constrained_pit_loss(est.flip(1), target, delta_weight=1.0, accel_weight=1.0)
    assert perm.tolist() == [[1, 0]]
    torch.testing.assert_close(swapped, torch.tensor((2 + 4 + 10) / 6))


def test_paper_preset_size_is_within_5_percent_of_the_published_one() -> None:
    # 8 chunks of 32 bins; 2 LSTM cells of 16 units on [32 bins, h_time, h_freq] = 64 inputs
    # (4H (I + H) weights, 8H biases each); 3 BLSTM x 896 on 8 x 2 x 16 = 256 grid outputs;
    # 1792 -> 2 x 129 masks.
    grid = 2 * (4 * 16 * (64 + 16) + 8 * 16)
    blstm = [2 * (4 * 896 * (i + 896) + 8 * 896) for i in (256, 1792, 1792)]
    family = models.get_family("cupit_grid")
    with torch.device("meta"):
        model = models.build("cupit_grid", family.presets["paper"])
    assert model.param_count() == grid + sum(blstm) + 1792 * 258 + 258 == 47_308_802
    assert abs(model.param_count() / family.published_params["paper"] - 1) < 0.005
    assert family.published_systems == ("cuPIT-Grid-RD",)
