"""Shared fixtures: one tiny embedded dataset per test session, and tiny study specs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A real (synthesised) 2-speaker corpus, small enough to build in seconds."""
    from sweep.data.synth import make_default_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    return make_default_dataset(root, seed=3, n_train=24, n_valid=4, n_test=4)


def tiny_spec(data_root: Path, *, study: str = "tiny", sampler: str = "grid", masks=("AM", "PSM"),
              activations=("sigmoid",), epochs: int = 1, n_trials: int | None = None, scheduler: str = "none",
              max_concurrent: int = 1, extra_train: str = "") -> str:
    """A uPIT study on ``data_root`` with a 1 x 32 LSTM, sized for seconds per trial on a CPU."""
    lines = [
        f"study: {study}",
        "family: upit",
        "seed: 1",
        "dataset: {kind: wsj0mix, root: " + str(data_root) + "}",
        "params:",
        f"  mask_type: {{choice: [{', '.join(masks)}]}}",
        f"  activation: {{choice: [{', '.join(activations)}]}}" if len(activations) > 1 else f"  activation: {activations[0]}",
        "  rnn_type: lstm",
        "  num_layers: 1",
        "  hidden_size: 32",
        "train:",
        f"  epochs: {epochs}",
        "  segment_s: 0.5",
        "  batch_size: 4",
        "  lr: 0.003",
        "  max_eval_utterances: 2",
    ]
    if extra_train:
        lines.append(extra_train)
    lines += [f"sampler: {sampler}", f"scheduler: {scheduler}", f"max_concurrent: {max_concurrent}"]
    if n_trials is not None:
        lines.append(f"n_trials: {n_trials}")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run faster single-threaded, and CI's 2 cores are shared; Ray workers are
    separate processes and set their own."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
