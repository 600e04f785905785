"""Where a generated corpus may be written, and how a folder is recognised as one.

A generated corpus (the embedded default, :mod:`sweep.data.synth`) ends with ``manifest.json``,
written last, which records the arguments it was made with (its *key*: generator, version,
seed, sample rate, sizes). Nothing the user pointed at is ever deleted or overwritten: a
folder is built into only when it is missing or empty, or already holds that very corpus.
The cache folders the harness names itself (``sweep.data.cache.default_corpus_dir``) may also
hold a corpus of ours with other arguments (an older generator version), which is replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sweep.data.check import DataError, system_folder

__all__ = ["MANIFEST", "read_manifest", "matches", "check_target"]

MANIFEST = "manifest.json"  # written last: a corpus is complete (and whose it is) once it exists
_ARGUMENTS = ("n_train", "n_valid", "n_test", "seed")  # always shown when a folder holds another corpus


def read_manifest(root: Path) -> dict:
    """``root/manifest.json`` as a dict; ``{}`` when missing or unreadable."""
    try:
        held = json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return held if isinstance(held, dict) else {}


def matches(root: Path, key: dict) -> bool:
    """Does ``root`` hold the complete corpus ``key`` describes?"""
    held = read_manifest(root)
    return bool(held) and all(held.get(k) == v for k, v in key.items())


def check_target(root: Path, key: dict, rebuild: bool) -> None:
    """Refuse to build the corpus ``key`` at ``root`` where that would destroy anything else.

    Fine: a missing or empty folder, the same corpus, and (``rebuild``: the harness's own cache
    folders only) a corpus from the same generator with other arguments. Reads no more than
    ``root``'s manifest and whether it is empty.

    Raises:
        DataError: starting with ``root``: a system folder or the home folder, not a folder, a
            folder of something else, or (not ``rebuild``) the generator's corpus with other arguments.
    """
    reason = system_folder(root)
    if reason:
        raise DataError(f"{root}: {reason}; refusing to write a corpus there: point root at a folder of its own")
    if os.path.lexists(root) and not root.is_dir():
        raise DataError(f"{root}: not a folder; a generated corpus is written into a folder: point root elsewhere")
    try:
        if not root.exists() or matches(root, key) or not any(root.iterdir()):
            return
    except OSError as exc:
        raise DataError(f"{root}: cannot read it ({exc.strerror})") from None
    held = read_manifest(root)
    if held.get("generator") != key["generator"]:
        what = "a manifest.json of something else" if held else "no manifest.json"
        raise DataError(f"{root}: exists and is not a corpus made by {key['generator']} ({what}); refusing to "
                        "overwrite it: point root elsewhere (or empty it yourself)")
    if not rebuild:
        have, want = _arguments(held), _arguments(key)
        differ = [k for k in want if have[k] != want[k]]
        shown = [k for k in have if k in differ or k in _ARGUMENTS]
        raise DataError(f"{root}: holds a corpus with {_pairs(have, shown)}; asked for {_pairs(want, differ)}; "
                        "refusing to replace it: point root elsewhere or delete it yourself")


def _arguments(manifest: dict) -> dict:
    sizes = manifest.get("sizes") if isinstance(manifest.get("sizes"), dict) else {}
    return {"n_train": sizes.get("tr"), "n_valid": sizes.get("cv"), "n_test": sizes.get("tt"),
            "seed": manifest.get("seed"), "version": manifest.get("version"),
            "sample_rate": manifest.get("sample_rate")}


def _pairs(values: dict, names: list[str]) -> str:
    return ", ".join(f"{k}={values[k]}" for k in names)
