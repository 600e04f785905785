"""The ``report:`` section of a spec: what the study's HTML page embeds.

``report: {audio_utterances: 2, audio_max_mb: 5}``: the page's *Listen* section separates the
first ``audio_utterances`` test utterances of each condition with the best trial's kept
checkpoint (and the Pareto trials' in a study of several families) and embeds them as WAV
players; the embedded audio stays under ``audio_max_mb`` MB (10^6 bytes of the HTML file), and
clips that would pass it are left out, which the page says. ``audio_utterances: 0`` turns the
players off. A ``budgets`` entry may set either key; the other keeps the top level's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweep.spec_nodes import Reader

__all__ = ["MAX_AUDIO_MB", "MAX_AUDIO_UTTERANCES", "ReportSpec", "parse_report"]

MAX_AUDIO_UTTERANCES = 20  # per condition and trial: more is a corpus, not a page
MAX_AUDIO_MB = 200.0  # a page larger than this no longer opens comfortably in a browser


@dataclass(frozen=True)
class ReportSpec:
    """What the report page embeds (see the module's docstring)."""

    audio_utterances: int = 2  # test utterances per condition and trial, 0: no players
    audio_max_mb: float = 5.0  # MB (10^6 bytes) of embedded audio in the page, at most

    @property
    def audio_max_bytes(self) -> int:
        """The cap in bytes of the page (base64 text of the WAV files)."""
        return int(self.audio_max_mb * 1e6)


def parse_report(r: Reader, top: dict) -> ReportSpec:
    """``report: {audio_utterances, audio_max_mb}``; absent keys take :class:`ReportSpec`'s defaults."""
    if "report" not in top:
        return ReportSpec()
    items = r.mapping(top["report"][1], "report")
    r.check_keys(items, {"audio_utterances", "audio_max_mb"}, "report")
    spec = ReportSpec()
    if "audio_utterances" in items:
        node = items["audio_utterances"][1]
        n = r.scalar(node, "report.audio_utterances", int)
        if not 0 <= n <= MAX_AUDIO_UTTERANCES:
            raise r.fail(node, "report.audio_utterances", f"must be in [0, {MAX_AUDIO_UTTERANCES}], got {n}")
        spec = ReportSpec(n, spec.audio_max_mb)
    if "audio_max_mb" in items:
        node = items["audio_max_mb"][1]
        mb = r.scalar(node, "report.audio_max_mb", float, positive=True)
        if mb > MAX_AUDIO_MB:
            raise r.fail(node, "report.audio_max_mb", f"must be at most {MAX_AUDIO_MB:g}, got {mb:g}")
        spec = ReportSpec(spec.audio_utterances, mb)
    return spec
