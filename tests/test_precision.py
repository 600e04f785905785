"""``train.precision``: which dtype a trial's training and validation forward passes run in.

``auto`` (the default) is bf16 autocast on CUDA and float32 on CPU, as before the key existed;
``fp32`` and ``bf16`` force either on any device. Weights and optimiser state stay float32, and
a spec with an unknown precision is refused with its file, line and key.
"""

from __future__ import annotations

import pytest
import torch

from sweep.spec import SpecError, TrainSpec, parse_spec
from sweep.worker.precision import autocast_dtype
from sweep.worker.train import train_epoch, validate
from tests.test_recipes import spec_with

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("precision, device, dtype", [
    ("auto", CPU, None), ("auto", CUDA, torch.bfloat16),
    ("fp32", CPU, None), ("fp32", CUDA, None),
    ("bf16", CPU, torch.bfloat16), ("bf16", CUDA, torch.bfloat16),
])
def test_each_precision_names_its_autocast_dtype_per_device(precision, device, dtype):
    assert autocast_dtype(precision, device) is dtype


def test_the_default_is_auto_and_a_spec_may_choose_or_search_it():
    assert TrainSpec().precision == "auto"
    assert parse_spec(spec_with("  precision: bf16\n"), "s.yaml").train.precision == "bf16"
    searched = parse_spec(spec_with("  precision: {choice: [fp32, bf16]}\n"), "s.yaml")
    assert searched.grid() == {"train.precision": ["fp32", "bf16"]}
    assert searched.resolve_trial({"train.precision": "bf16"}).train.precision == "bf16"


@pytest.mark.parametrize("line, words", [
    ("  precision: fp16", "unknown precision 'fp16' (known: auto, fp32, bf16)"),
    ("  precision: {choice: [fp32, half]}", "unknown precision 'half'"),
])
def test_an_unknown_precision_is_refused_with_file_line_and_key(line, words):
    with pytest.raises(SpecError) as info:
        parse_spec(spec_with(line + "\n"), "s.yaml")
    assert (info.value.file, info.value.line, info.value.key) == ("s.yaml", 8, "train.precision")
    assert words in info.value.message


class _Recurrent(torch.nn.Module):
    """An LSTM separator stand-in that records the dtype its LSTM computed in."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lstm, self.out = torch.nn.LSTM(8, 16, batch_first=True), torch.nn.Linear(16, 8)
        self.seen: list[torch.dtype] = []

    def forward(self, mix: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, 1, T]
        h = self.lstm(mix.unsqueeze(-1).expand(-1, -1, 8))[0]
        self.seen.append(h.dtype)
        return self.out(h).mean(-1, keepdim=True).transpose(1, 2)

    def training_loss(self, mix: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        return (self(mix).float() - sources).pow(2).mean()


def _batches() -> list[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(2, 32, generator=g), torch.randn(2, 1, 32, generator=g), ["a", "b"]) for _ in range(2)]


@pytest.mark.parametrize("precision, computed", [("auto", torch.float32), ("fp32", torch.float32),
                                                 ("bf16", torch.bfloat16)])
def test_cpu_training_and_validation_compute_in_the_chosen_dtype_and_keep_float32_weights(precision, computed):
    model = _Recurrent()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    dtype = autocast_dtype(precision, CPU)
    loss = train_epoch(model, _batches(), opt, 5.0, CPU, dtype=dtype)
    score = validate(model, _batches(), CPU, dtype)
    assert model.seen == [computed] * 4  # two training and two validation batches
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(s.dtype == torch.float32 for st in opt.state.values() for s in st.values() if s.dim())
    assert torch.isfinite(torch.tensor([loss, score])).all()
