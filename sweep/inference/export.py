"""A separator as one file: TorchScript (``torch.jit.load``) or ONNX (onnxruntime), each checked
against eager PyTorch before it is kept.

Both files take ``mixture`` ``[B, T]`` float32 at the model's rate and return ``sources``
``[B, S, T]``, for any ``B`` and ``T``:

- **ONNX**: ``torch.export`` with the batch and time axes dynamic (traced on ``[2, rate / 4]``),
  then ``torch.onnx.export`` (opset 18, one file, no external data). A model whose code turns
  the input length into a constant cannot keep the time axis dynamic, and says so.
- **TorchScript**: ``torch.jit.script``; if the model's code is not scriptable, a trace, kept
  only if it holds for other lengths (a trace usually fixes the input length).

The check runs the written file on inputs of other shapes than the trace (``[1, 0.375 rate + 1]``
and ``[3, 0.125 rate + 3]``) and needs the largest difference from eager PyTorch to be at most
:data:`TOLERANCE`; otherwise the file is removed and :class:`ExportError` says why in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4  # max |exported - eager| on unit-variance noise
OPSET = 18

Runner = Callable[[np.ndarray], np.ndarray]  # [B, T] float32 -> [B, S, T]


class ExportError(Exception):
    """A model that cannot be exported in a format, with the reason (one line; exit 2)."""


def check_shapes(rate: int) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """``(trace shape, check shapes)`` ``(B, T)`` in samples for a model at ``rate`` Hz: a quarter
    second traced (tracing time grows with the length for recurrent models), then 0.375 s and
    0.125 s, a few samples over, at batch sizes 1 and 3."""
    quarter = max(64, rate // 4)
    return (2, quarter), [(1, quarter + quarter // 2 + 1), (3, quarter // 2 + 3)]


def export_model(model: torch.nn.Module, fmt: str, path: Path, rate: int, family: str) -> dict:
    """Write ``model`` to ``path`` in ``fmt`` and check the file against eager PyTorch.

    Returns:
        What was checked: ``{"method", "trace_shape", "check_shapes", "max_abs_diff", "tolerance"}``.

    Raises:
        ExportError: ``family {family} cannot export to {fmt}: {reason}`` (``path`` is not left behind).
    """
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt[:40]!r}: choose one of {', '.join(FORMATS)}")
    model = model.eval().cpu()
    trace_shape, shapes = check_shapes(rate)
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(*trace_shape, generator=generator)
    partial = path.with_name(path.name + ".partial")
    try:
        with _quiet():
            method, run = (_onnx if fmt == "onnx" else _torchscript)(model, example, partial, shapes)
            diff = _max_diff(model, run, [torch.randn(*s, generator=generator) for s in shapes])
        if diff > TOLERANCE:
            raise _Unfit(f"the exported model differs from PyTorch by {diff:.2g} (> {TOLERANCE:g}) on inputs of "
                         f"other shapes than the trace {list(trace_shape)}")
        os.replace(partial, path)
    except _Unfit as exc:
        raise ExportError(f"family {family} cannot export to {fmt}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return {"method": method, "trace_shape": list(trace_shape), "check_shapes": [list(s) for s in shapes],
            "max_abs_diff": diff, "tolerance": TOLERANCE}


class _Unfit(Exception):
    """Why this model cannot be exported (becomes :class:`ExportError` with the family's name)."""


def _max_diff(model: torch.nn.Module, run: Runner, inputs: list[torch.Tensor]) -> float:
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            expected = model(x).numpy()
        try:
            got = run(x.numpy())
        except Exception as exc:  # the file fails to run on this shape
            raise _Unfit(f"the exported model fails on an input of shape {list(x.shape)} "
                         f"(the trace fixes the input length): {_first_line(exc)}") from None
        if got.shape != expected.shape:
            raise _Unfit(f"an input of shape {list(x.shape)} gives {list(got.shape)}, not {list(expected.shape)} "
                         "(the trace fixes the input length)")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def _onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, _shapes) -> tuple[str, Runner]:
    """torch.export with dynamic batch and time, then ONNX; the runner is an onnxruntime session."""
    try:
        import onnxruntime as ort
        import onnxscript  # noqa: F401  (torch.onnx.export needs it)
    except ImportError as exc:
        raise ExportError(f"ONNX export needs onnx, onnxscript and onnxruntime ({exc.name} is missing): "
                          "pip install 'sweep-separation[export]'") from None
    dim = torch.export.Dim.DYNAMIC
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: dim, 1: dim},), strict=False)
    except Exception as exc:
        if "specialized" in str(exc) or "Constraints violated" in str(exc):
            raise _Unfit("torch.export cannot keep the time axis dynamic: the model's code turns the input "
                         f"length into a constant (the trace's {example.shape[-1]} samples)") from None
        raise _Unfit(f"torch.export fails: {_first_line(exc)}") from None
    try:
        torch.onnx.export(program, (example,), str(path), input_names=["mixture"], output_names=["sources"],
                          opset_version=OPSET, external_data=False, dynamo=True, verbose=False)
    except Exception as exc:
        raise _Unfit(f"torch.onnx.export fails: {_first_line(exc)}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: a failing check is reported in one line, by us
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return "torch.export + torch.onnx", lambda x: session.run(None, {"mixture": x})[0]


def _torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path, shapes) -> tuple[str, Runner]:
    """torch.jit.script, else a trace that holds for the check ``shapes``; the runner is the file
    loaded back with torch.jit.load."""
    _forget_compiled_classes()
    try:
        module, method = torch.jit.script(model), "torch.jit.script"
    except Exception as exc:
        why = f"torch.jit.script fails at {_where(exc)}"
        try:
            module, method = torch.jit.trace(model, example, check_trace=False), "torch.jit.trace"
        except Exception as trace_exc:
            raise _Unfit(f"{why}, and so does torch.jit.trace ({_first_line(trace_exc)})") from None
        module.save(str(path))
        loaded = torch.jit.load(str(path))
        try:
            _max_diff(model, _runner(loaded), [torch.randn(*s) for s in shapes])
        except _Unfit:
            raise _Unfit(f"{why}, and a trace fixes the input length at {example.shape[-1]} samples; "
                         "use --format onnx") from None
        return method, _runner(loaded)
    module.save(str(path))
    return method, _runner(torch.jit.load(str(path)))


def _forget_compiled_classes() -> None:
    """Forget the module types TorchScript compiled so far in this process (before each script).
    A script that failed leaves its types half-defined, and scripting another model that shares a block (the STFT of
    the uPIT-style families) then fails on "Can't redefine method" instead of its own error.
    The stores are private, so they are cleared only where they exist."""
    with contextlib.suppress(AttributeError):
        torch.jit._recursive.concrete_type_store.type_store.clear()
        torch.jit._state._clear_class_state()


def _runner(module) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return run


def _first_line(exc: BaseException) -> str:
    """The gist of an exception in at most 200 characters (onnxruntime's: the failing node)."""
    node = re.search(r"running (\w+) node\. Name:'([^']+)'", str(exc))
    if node:
        return f"onnxruntime fails in {node.group(1)} node {node.group(2)}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _where(exc: BaseException) -> str:
    """``models/blocks/tcn.py:130 (Arguments for call are not valid.)``: the last place in this
    project's code a TorchScript error names, and its first line."""
    places = [(f, n) for f, n in re.findall(r'File "([^"]+)", line (\d+)', str(exc)) if "site-packages" not in f]
    root = Path(__file__).resolve().parents[2]
    where = ""
    if places:
        file, line = places[-1]
        with contextlib.suppress(ValueError):
            file = str(Path(file).resolve().relative_to(root))
        where = f"{file}:{line} "
    return f"{where}({_first_line(exc)})"


@contextlib.contextmanager
def _quiet():
    """Exporters' progress lines and warnings kept off the terminal (errors still raise)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
