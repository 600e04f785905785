"""``sweep families``: every registered family, its blocks, hyperparameters and preset sizes."""

from __future__ import annotations

import csv
import textwrap
from typing import TextIO

from sweep import models


def preset_rows() -> list[dict]:
    """One row per (family, preset): our parameter count beside the published one."""
    rows = []
    for name, fam in sorted(models.FAMILIES.items()):
        for preset in fam.presets:
            net = models.build(name, fam.presets[preset], n_src=2, sample_rate=8000)
            rows.append({"family": name, "preset": preset, "params": net.param_count(),
                         "published_params": fam.published_params.get(preset)})
            del net
    return rows


def _m(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}M"


def print_families(out: TextIO, fmt: str = "table") -> None:
    """Print every family (blocks, hyperparameters, preset sizes), or ``fmt='csv'``: one row per preset."""
    rows = preset_rows()
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["family", "preset", "params", "published_params"])
        for r in rows:
            published = r["published_params"]
            w.writerow([r["family"], r["preset"], r["params"], "" if published is None else published])
        return
    for name, fam in sorted(models.FAMILIES.items()):
        print(f"{name}: {textwrap.shorten(fam.description, 110)}", file=out)
        for block, text in fam.blocks.items():
            print(f"  {block:<10} {text}", file=out)
        if fam.inference != "direct":
            print(f"  inference  {fam.inference}: forward clusters the network's embeddings into masks", file=out)
        if fam.published_systems:
            print(f"  published  {', '.join(fam.published_systems)} (the lecture's tables)", file=out)
        print("  hyperparameters:", file=out)
        for hp in fam.hyperparameters.values():
            dom = (f"one of {list(hp.choices)}" if hp.kind == "choice"
                   else f"{hp.kind} in [{hp.low}, {hp.high}]{' (log)' if hp.log else ''}")
            print(f"    {hp.name:<16} default {hp.default!r:<10} {dom}  {hp.doc}", file=out)
        print("  presets (params: ours / published):", file=out)
        for r in (r for r in rows if r["family"] == name):
            print(f"    {r['preset']:<12} {_m(r['params']):>9} / {_m(r['published_params'])}", file=out)
        print(file=out)
