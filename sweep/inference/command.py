"""``sweep separate`` and ``sweep export``: a study's kept checkpoint put to use.

    sweep separate STUDY (--best | --trial N) IN... -o DIR [--channel K] [--chunk-s S] [--overlap-s S]
                   [--device cpu|cuda] [--storage URL]
    sweep export STUDY (--best | --trial N) --format torchscript|onnx -o FILE [--storage URL]

Bad input (a missing or unreadable file, an unknown study or trial, a trial without a kept
checkpoint, a family that cannot export in the format) exits 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CARD_SUFFIX = ".card.json"  # the model card beside an exported FILE: FILE.card.json


def add_parsers(sub, storage) -> None:
    """Add ``separate`` and ``export`` to the ``sweep`` sub-command parsers."""
    sp = sub.add_parser("separate", help="separate recordings with a study's kept checkpoint: one WAV per speaker")
    _which(sp)
    sp.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="audio files (WAV, FLAC, ...)")
    sp.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                    help="folder for STEM_s1.wav, STEM_s2.wav, ... per input")
    sp.add_argument("--channel", type=int, default=None, metavar="K", help="channel K (from 0) of multi-channel files")
    sp.add_argument("--chunk-s", type=float, default=20.0, metavar="S",
                    help="chunk length in seconds; 0: one pass (default 20)")
    sp.add_argument("--overlap-s", type=float, default=4.0, metavar="S", help="overlap of chunks in seconds (default 4)")
    sp.add_argument("--device", default=None, metavar="D", help="cpu, cuda or cuda:N (default: the GPU if there is one)")
    storage(sp)
    sp.set_defaults(handler=cmd_separate)

    sp = sub.add_parser("export", help="write a study's kept checkpoint as TorchScript or ONNX, with a model card")
    _which(sp)
    sp.add_argument("--format", required=True, help="onnx or torchscript")
    sp.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                    help=f"the model file; its card is written beside it as FILE{CARD_SUFFIX}")
    storage(sp)
    sp.set_defaults(handler=cmd_export)


def _which(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("study")
    which = sp.add_mutually_exclusive_group(required=True)
    which.add_argument("--best", action="store_true", help="the best complete trial by the study's objective")
    which.add_argument("--trial", type=int, default=None, metavar="N", help="trial number N")


def cmd_separate(args: argparse.Namespace) -> int:
    """Check the checkpoint and every input, then separate each input into ``-o``."""
    from sweep.cli import UsageError
    from sweep.inference.chunks import ChunkPlan
    from sweep.inference.kept import kept_trial, load_kept, pick_device
    from sweep.inference.separate import InputError, plan_jobs, separate_files
    from sweep.store import Store

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output} is a file; give a folder for the separated WAVs")
    if not (args.chunk_s >= 0 and args.overlap_s >= 0):
        raise UsageError("--chunk-s and --overlap-s are seconds, at least 0 (--chunk-s 0: one pass)")
    try:
        device = pick_device(args.device)
        row = kept_trial(Store(args.storage, write=False), args.study, args.trial)
        jobs = plan_jobs(args.inputs, args.channel)
        model, card = load_kept(row, device)
        try:
            plan = ChunkPlan.from_seconds(args.chunk_s, args.overlap_s, card.sample_rate) if args.chunk_s else None
        except ValueError as exc:
            raise InputError(str(exc)) from None
        written = separate_files(model, card.sample_rate, jobs, args.output, args.channel, plan, device,
                                 progress=lambda line: print(line, file=sys.stderr))
    except InputError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write into {args.output}: {exc.strerror or exc}") from None
    print(f"{args.study} trial {row.number} ({card.family}, {card.param_count:,} parameters, {card.sample_rate} Hz) "
          f"on {device}: {len(jobs)} file(s) -> {len(written)} WAV(s) in {args.output}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export the checkpoint, check the file, write ``FILE.card.json`` beside it."""
    from sweep.cli import UsageError
    from sweep.inference.export import FORMATS, ExportError, export_model
    from sweep.inference.kept import kept_trial, load_kept
    from sweep.inference.separate import InputError
    from sweep.store import Store

    if args.format not in FORMATS:
        raise UsageError(f"--format {args.format[:40]!r}: choose one of {', '.join(FORMATS)}")
    if args.output.is_dir():
        raise UsageError(f"-o {args.output} is a folder; give the model a file name")
    store = Store(args.storage, write=False)
    try:
        row = kept_trial(store, args.study, args.trial)
        model, card = load_kept(row, "cpu")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        checked = export_model(model, args.format, args.output, card.sample_rate, card.family)
        card_path = args.output.with_name(args.output.name + CARD_SUFFIX)
        card_path.write_text(json.dumps(_card(store, args, row, card, checked), indent=1, default=str) + "\n")
    except (InputError, ExportError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"{args.output} ({args.format}, {card.family}, trial {row.number}, max |diff| from PyTorch "
          f"{checked['max_abs_diff']:.1e})\n{card_path}")
    return 0


def _card(store, args: argparse.Namespace, row, card, checked: dict) -> dict:
    """The exported model's card: what it is, how it scored, where it came from."""
    import torch

    from sweep.inference.kept import trial_scores
    from sweep.store.runtime import code_version

    study = store.study(args.study)
    return {
        "file": args.output.name, "format": args.format, "family": card.family, "params": card.params,
        "param_count": card.param_count, "sample_rate": card.sample_rate, "n_src": card.n_src,
        "input": {"name": "mixture", "shape": ["batch", "time"], "dtype": "float32",
                  "unit": f"waveform at {card.sample_rate} Hz"},
        "output": {"name": "sources", "shape": ["batch", card.n_src, "time"], "dtype": "float32"},
        "study": args.study, "trial": row.number, "objective": {"metric": study.objective, "value": row.objective_value},
        "test_scores": trial_scores(store, args.study, row.id), "spec": study.spec_yaml, "spec_path": study.spec_path,
        "budget": study.budget, "code_version": {"trained": card.code_version, "exported": code_version()},
        "torch_version": torch.__version__, "checked": checked,
    }
