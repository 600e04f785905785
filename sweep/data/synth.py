"""The embedded default dataset: a small WSJ0-2mix-like corpus made offline by speech synthesis.

Speakers are espeak-ng voice variants and flite voices with seeded accent, pitch and rate
offsets; text is random English sentences from the embedded ``words.txt``. Utterances are
synthesised, resampled to 8 kHz, trimmed and level-normalised, then mixed the way the
wsj0-2mix MATLAB scripts do (equal active level, relative level U[0, 5] dB split +-snr/2,
"min" length, joint scaling to a 0.9 peak). Layout: ``{tr,cv,tt_closed,tt}/{mix,s1,s2}/*.wav``
plus ``mixtures.csv`` and ``utterances.csv`` per split and a top-level ``manifest.json``.

- tr / cv / tt_closed: seen speakers (~75 %), disjoint utterances (closed condition).
- tt: unseen speakers (~25 %) only (open condition).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sweep.audio import read_wav, resample, to_pcm16, write_wav
from sweep.data.cache import default_corpus_dir, discard_build, file_lock, finish_build, start_build
from sweep.data.check import DataError
from sweep.data.generated import MANIFEST, check_target, matches as _matches, read_manifest as _manifest
from sweep.data import constants
from sweep.data.constants import (CONDITIONS, FOLDER, FOLDERS, LEVEL_DBFS, N_TEST, N_TRAIN, N_VALID, PEAK,
                                  REL_LEVEL_DB, ProgressFn, Stream, stream)
from sweep.data.mixing import active_level, frame_energy

__all__ = ["make_default_dataset", "corpus_key", "make_speakers", "split_voices", "Speaker", "active_level",
           "mix_pair", "SPLITS", "SAMPLE_RATE", "VERSION"]

GENERATOR = "sweep.data.synth"
VERSION = 1  # bump whenever the bytes produced for a given seed would change
SAMPLE_RATE = 8000  # Hz, the wsj0-2mix "wav8k" rate
SPLITS = FOLDERS  # ("tr", "cv", "tt_closed", "tt"): the corpus's folders
_SPLIT_LETTER = {FOLDER[s]: s[0] for s in constants.SPLITS}  # in utterance ids: t, v, c, o
# wsj0-2mix reuses each training utterance in several mixtures; 0.5 utterances per mixture
# slot (each utterance in ~2 mixtures) keeps some reuse and halves the synthesis time.
UTTERANCES_PER_SLOT = 0.5
UNSEEN_FRACTION = 0.25  # of the speakers, kept out of tr/cv/tt_closed for the open condition
MIN_WORDS, MAX_WORDS = 6, 14


def make_default_dataset(
    root: Path,
    seed: int = 0,
    n_train: int = N_TRAIN,
    n_valid: int = N_VALID,
    n_test: int = N_TEST,
    progress: ProgressFn | None = None,
    workers: int = 2,
    rebuild: bool | None = None,
) -> Path:
    """Build (or reuse) the synthetic 2-speaker corpus in wsj0-2mix layout under ``root``.

    Args:
        root: output folder; it receives ``tr``, ``cv``, ``tt_closed``, ``tt`` and ``manifest.json``.
        seed: everything (speakers, texts, pairs, levels) follows from it; same seed and sizes
            give byte-identical files.
        n_train, n_valid: number of mixtures in ``tr`` and ``cv``.
        n_test: number of mixtures in *each* test condition (``tt_closed`` and ``tt``).
        progress: called as ``progress(stage, done, total)`` about 50 times per stage; stages
            are ``"{split} synthesis"`` then ``"{split} mixtures"`` for tr, cv, tt_closed, tt.
        workers: synthesis threads (each drives an external synthesiser process).
        rebuild: may a corpus of ours with other arguments at ``root`` be replaced? Only for the
            cache folders the harness names itself; ``None``: when ``root`` is
            :func:`sweep.data.cache.default_corpus_dir` of these arguments.

    Returns:
        ``root``. If ``root/manifest.json`` records the same arguments the call returns at once.
        The corpus is built in a sibling temp folder and renamed into place, and a lock file
        (``.{root.name}.lock`` beside it) serialises concurrent builders.

    Raises:
        RuntimeError: espeak-ng or flite is not installed, or a synthesiser fails.
        DataError: bad sizes, or ``root`` must not be written (see
            :func:`sweep.data.generated.check_target`); then nothing is written.
    """
    root = Path(root).expanduser()
    key = corpus_key(seed, n_train, n_valid, n_test)
    if _matches(root, key):
        return root
    if rebuild is None:
        rebuild = _absolute(root) == _absolute(default_corpus_dir(seed, n_train, n_valid, n_test))
    check_target(root, key, rebuild)  # before the lock file: a refusal writes nothing
    root.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(root.parent / f".{root.name}.lock"):
        if _matches(root, key):  # another process finished it while we waited
            return root
        check_target(root, key, rebuild)
        tools = tool_versions()  # raises a one-line RuntimeError if a synthesiser is missing
        tmp = root.parent / f".{root.name}.partial"
        start_build(tmp, MANIFEST)  # a leftover of an interrupted build of ours is deleted
        _build(tmp, key, tools, progress, workers)
        finish_build(tmp)
        old = root.parent / f".{root.name}.old"
        discard_build(old, MANIFEST)
        if root.exists() and _manifest(root):  # our corpus with other arguments: swap, then delete it
            os.replace(root, old)
        os.replace(tmp, root)  # (over an empty folder, if that is what root was)
        discard_build(old, MANIFEST)
    return root


def corpus_key(seed: int, n_train: int, n_valid: int, n_test: int) -> dict:
    """What ``manifest.json`` records of the arguments: a corpus is reused only when all match."""
    sizes = dict(zip(SPLITS, (n_train, n_valid, n_test, n_test)))
    if any(int(n) != n or n < 1 for n in sizes.values()):
        raise DataError(f"dataset sizes must be positive integers, got {sizes}")
    return {"generator": GENERATOR, "version": VERSION, "seed": int(seed), "sample_rate": SAMPLE_RATE,
            "sizes": {k: int(n) for k, n in sizes.items()}}


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


# ----------------------------------------------------------------------------- speakers

# Variants with clearly different formants/voicing; odd effect voices (whisper, croak,
# robots) are left out. The seed gives each its accent, pitch and rate.
_ESPEAK_F = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "belinda", "linda",
             "steph")
_ESPEAK_M = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "klatt", "klatt2", "klatt3",
             "klatt4", "Andy", "david", "ed", "grandpa", "Mike", "paul", "quincy", "rob",
             "travis", "victor")
_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
            "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# (flite voice, gender, F0 target range in Hz); rms ignores int_f0_target_mean, so None.
_FLITE = (("awb", "M", (95, 120)), ("awb", "M", (130, 160)), ("kal", "M", (85, 110)),
          ("kal", "M", (120, 150)), ("rms", "M", None), ("slt", "F", (160, 190)),
          ("slt", "F", (205, 235)))
_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite"}  # executable -> Debian package


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: a fixed synthesiser voice, variant, pitch and rate."""

    id: str
    engine: str  # "espeak-ng" or "flite"
    voice: str  # espeak-ng language voice (the accent) or flite voice
    variant: str  # espeak-ng voice variant; "" for flite
    gender: str  # "F" or "M", only used to stratify the seen/unseen split
    pitch: int | None  # espeak-ng -p (0-99, default 50) or flite F0 target mean (Hz)
    rate: float  # espeak-ng words per minute, or flite duration stretch (> 1 is slower)

    def command(self, text: str, out: Path) -> list[str]:
        """The synthesiser command line writing ``text`` to the WAV file ``out``."""
        if self.engine == "espeak-ng":
            return ["espeak-ng", "-v", f"{self.voice}+{self.variant}", "-p", str(self.pitch),
                    "-s", str(int(self.rate)), "-w", str(out), text]
        cmd = ["flite", "-voice", self.voice, "--setf", f"duration_stretch={self.rate}"]
        if self.pitch is not None:
            cmd += ["--setf", f"int_f0_target_mean={self.pitch}"]
        return cmd + ["-o", str(out), "-t", text]


def make_speakers(seed: int) -> list[Speaker]:
    """The 40 speakers (33 espeak-ng, 7 flite) with seeded accent, pitch and rate."""
    rng = stream(seed, Stream.VOICES)
    out: list[Speaker] = []
    for gender, variants in (("F", _ESPEAK_F), ("M", _ESPEAK_M)):
        for v in variants:
            accent = _ACCENTS[int(rng.integers(len(_ACCENTS)))]
            out.append(Speaker(f"spk{len(out):02d}", "espeak-ng", accent, v, gender,
                               int(rng.integers(35, 66)), float(rng.integers(140, 181))))
    for voice, gender, f0 in _FLITE:
        pitch = None if f0 is None else int(rng.integers(f0[0], f0[1] + 1))
        out.append(Speaker(f"spk{len(out):02d}", "flite", voice, "", gender, pitch,
                           round(float(rng.uniform(0.9, 1.1)), 2)))
    return out


def split_voices(speakers: list[Speaker], seed: int) -> tuple[list[Speaker], list[Speaker]]:
    """``(seen, unseen)``: 25 % unseen, stratified by (engine, gender) so that the open
    condition is not, say, all male espeak voices (largest-remainder quotas)."""
    rng = stream(seed, Stream.UNSEEN_VOICES)
    groups: dict[tuple[str, str], list[Speaker]] = {}
    for s in speakers:
        groups.setdefault((s.engine, s.gender), []).append(s)
    quota = {g: len(m) * UNSEEN_FRACTION for g, m in groups.items()}
    take = {g: math.floor(q) for g, q in quota.items()}
    short = round(len(speakers) * UNSEEN_FRACTION) - sum(take.values())
    for g in sorted(quota, key=lambda g: take[g] - quota[g])[:short]:
        take[g] += 1
    unseen = {m[int(i)].id for g, m in groups.items() for i in rng.permutation(len(m))[:take[g]]}
    return ([s for s in speakers if s.id not in unseen], [s for s in speakers if s.id in unseen])


def tool_versions() -> dict[str, str]:
    """Versions of the synthesisers; a one-line RuntimeError if one is not installed."""
    out = {}
    for exe, package in _PACKAGES.items():
        if shutil.which(exe) is None:
            raise RuntimeError(f"{exe} not found: the default dataset needs it "
                               f"(install the Debian package: apt-get install {package})")
        text = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
        found = re.search(r"(?:speech: |version: flite-)([\w.\-]+)", text)
        out[exe] = found.group(1) if found else text.strip().splitlines()[0]
    return out


# ----------------------------------------------------------------------------- text

def load_words(path: Path | None = None) -> dict[str, list[str]]:
    """The embedded word list (``words.txt``) as ``{role: [word, ...]}``."""
    path = path or Path(__file__).with_name("words.txt")
    groups: dict[str, list[str]] = {}
    role = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            role = line.strip("[]")
            groups[role] = []
        elif role is not None:
            groups[role].append(line)
    return groups


def make_sentence(rng: np.random.Generator, words: dict[str, list[str]]) -> str:
    """A random sentence of MIN_WORDS..MAX_WORDS words: one or two subject-verb-object clauses."""
    def pick(role: str) -> str:
        return words[role][int(rng.integers(len(words[role])))]

    def noun_phrase() -> list[str]:
        np_ = [pick("determiner")] + ([pick("adjective")] if rng.random() < 0.5 else [])
        np_.append(pick("noun"))
        if np_[0] == "a" and np_[1][0] in "aeiou":
            np_[0] = "an"
        return np_

    def clause() -> list[str]:
        out = noun_phrase() + [pick("verb")] + noun_phrase()
        if rng.random() < 0.5:
            out += [pick("preposition")] + noun_phrase()
        if rng.random() < 0.3:
            out.append(pick("adverb"))
        return out

    # A uniform target length (rejection sampling) so long sentences are as common as short.
    target = int(rng.integers(MIN_WORDS, MAX_WORDS + 1))
    while True:
        w = clause()
        if rng.random() < 0.5:
            w += [pick("conjunction")] + clause()
        if len(w) == target:
            return " ".join(w).capitalize() + "."


# ----------------------------------------------------------------------------- planning

class _Dealer:
    """Deals one split's speakers and utterances: each speaker about equally often, each of a
    speaker's utterances about equally often, every utterance with a text of its own."""

    def __init__(self, split: str, speakers: list[Speaker], seed: int, words: dict[str, list[str]],
                 used_texts: set[str]) -> None:
        idx = SPLITS.index(split)
        self.rng = stream(seed, Stream.PAIRS, idx)
        self.text_rng = stream(seed, Stream.TEXTS, idx)  # own stream: text never shifts pairs
        self.split, self.speakers, self.words, self.used_texts = split, speakers, words, used_texts
        self.deck: list[int] = []
        self.utts: dict[int, list[str]] = {}  # speaker index -> utterance ids
        self.utterances: list[dict] = []
        self.order: dict[int, list[int]] = {}
        self.dealt: dict[int, int] = {}

    def speaker(self, avoid: int = -1) -> int:
        """The next speaker from successive shuffles, so each is used about equally and a split
        with 2 * n_mix >= len(speakers) uses all of them (tt_closed speakers are then in tr)."""
        while True:
            if not self.deck:
                self.deck.extend(int(k) for k in self.rng.permutation(len(self.speakers)))
            k = self.deck.pop()
            if k != avoid:
                return k

    def new_utterance(self, s: int) -> str:
        text = make_sentence(self.text_rng, self.words)
        while text in self.used_texts:  # every utterance has its own text, across all splits
            text = make_sentence(self.text_rng, self.words)
        self.used_texts.add(text)
        uid = f"{self.speakers[s].id}{_SPLIT_LETTER[self.split]}{len(self.utts[s]):04d}"
        self.utts[s].append(uid)
        self.utterances.append({"id": uid, "speaker": self.speakers[s].id, "text": text})
        return uid

    def write_utterances(self, pairs: list[tuple[int, int]]) -> None:
        """Enough utterances for the speakers' slots in ``pairs``, and their dealing order."""
        slots = [0] * len(self.speakers)
        for a, b in pairs:
            slots[a] += 1
            slots[b] += 1
        self.utts = {s: [] for s in range(len(self.speakers)) if slots[s]}
        for s in self.utts:
            for _ in range(math.ceil(slots[s] * UTTERANCES_PER_SLOT)):
                self.new_utterance(s)
        # Deal each speaker's utterances out in a shuffled cycle so all are used about equally.
        self.order = {s: self.rng.permutation(len(ids)).tolist() for s, ids in self.utts.items()}
        self.dealt = dict.fromkeys(self.utts, 0)

    def utterance(self, s: int) -> str:
        self.dealt[s] += 1
        return self.utts[s][self.order[s][(self.dealt[s] - 1) % len(self.order[s])]]


def _plan_split(split: str, n_mix: int, speakers: list[Speaker], seed: int,
                words: dict[str, list[str]], used_texts: set[str]
                ) -> tuple[list[dict], list[dict]]:
    """Choose speaker pairs, utterances (with unique text) and levels for one split.

    Returns ``(utterances, mixtures)``: ``{"id", "speaker", "text"}`` and
    ``{"name", "utt1", "utt2", "spk1", "spk2", "gain_db"}`` (gain_db = snr/2, in dB).
    """
    deal = _Dealer(split, speakers, seed, words, used_texts)
    pairs = []
    for _ in range(n_mix):
        a = deal.speaker()
        pairs.append((a, deal.speaker(avoid=a)))
    deal.write_utterances(pairs)
    mixtures, seen_pairs = [], set()
    for a, b in pairs:
        u1, u2 = deal.utterance(a), deal.utterance(b)
        if frozenset((u1, u2)) in seen_pairs:  # never mix the same two utterances twice
            free = [u for u in deal.utts[b] if frozenset((u1, u)) not in seen_pairs]
            u2 = free[int(deal.rng.integers(len(free)))] if free else deal.new_utterance(b)
        seen_pairs.add(frozenset((u1, u2)))
        gain = round(float(deal.rng.uniform(0.0, REL_LEVEL_DB / 2)), 5)
        mixtures.append({"name": f"{u1}_{gain:.5f}_{u2}_{-gain:.5f}", "utt1": u1, "utt2": u2,
                         "spk1": speakers[a].id, "spk2": speakers[b].id, "gain_db": gain})
    return deal.utterances, mixtures


# ----------------------------------------------------------------------------- signal

def _trim(x: np.ndarray, sample_rate: int, floor_db: float = 40.0, margin_s: float = 0.05
          ) -> np.ndarray:
    """Drop leading/trailing stretches quieter than ``floor_db`` below the loudest 10 ms frame."""
    frame = int(0.01 * sample_rate)
    e = frame_energy(x, frame)
    active = np.flatnonzero(e >= e.max() * 10 ** (-floor_db / 10))
    margin = int(margin_s * sample_rate)
    return x[max(0, active[0] * frame - margin):min(len(x), (active[-1] + 1) * frame + margin)]


def _synthesise(job: tuple[Speaker, str, str, Path]) -> np.ndarray:
    """Run the synthesiser for one utterance; returns float32 ``[T]`` at 8 kHz, level-normalised."""
    spk, uid, text, tmpdir = job
    wav = tmpdir / f"{uid}.wav"
    cmd = spk.command(text, wav)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wav.exists():
        raise RuntimeError(f"{cmd[0]} failed for {uid} ({' '.join(cmd[:-1])}): "
                           f"{proc.stderr.strip()[:200]}")
    x, sr = read_wav(wav)
    wav.unlink()
    if not np.any(x):
        raise RuntimeError(f"{cmd[0]} produced silence for {uid} ({' '.join(cmd[:-1])})")
    if x.ndim > 1:
        x = x.mean(axis=0)
    x = _trim(resample(x.astype(np.float64), sr, SAMPLE_RATE, dtype=np.float64), SAMPLE_RATE)
    x *= 10 ** (LEVEL_DBFS / 20) / active_level(x, SAMPLE_RATE)
    return x.astype(np.float32)


def mix_pair(x1: np.ndarray, x2: np.ndarray, gain_db: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """wsj0-2mix mixing of two equal-level utterances; returns int16 ``(mix, s1, s2)`` ``[T]``.

    s1 gets ``+gain_db`` and s2 ``-gain_db`` (relative level ``2 * gain_db`` dB), both are cut
    to the shorter length ("min" mode) and scaled so that the largest peak of mix, s1 and s2 is
    0.9. The mixture is the sum of the *quantised* sources, so ``mix == s1 + s2`` holds exactly
    in the stored 16-bit files (the MATLAB scripts quantise the three files separately).
    """
    n = min(len(x1), len(x2))
    s1 = x1[:n].astype(np.float64) * 10 ** (gain_db / 20)
    s2 = x2[:n].astype(np.float64) * 10 ** (-gain_db / 20)
    peak = max(np.abs(s1 + s2).max(), np.abs(s1).max(), np.abs(s2).max())
    q1, q2 = to_pcm16(s1 * PEAK / peak), to_pcm16(s2 * PEAK / peak)
    return (q1.astype(np.int32) + q2).astype(np.int16), q1, q2


# ----------------------------------------------------------------------------- building

def _build(out: Path, key: dict, tools: dict[str, str], progress: ProgressFn | None,
           workers: int) -> None:
    seed = key["seed"]
    speakers = make_speakers(seed)
    seen, unseen = split_voices(speakers, seed)
    words = load_words()
    used_texts: set[str] = set()
    plans = {split: _plan_split(split, key["sizes"][split], unseen if split == "tt" else seen,
                                seed, words, used_texts) for split in SPLITS}
    tmpdir = out / "_synth_tmp"
    tmpdir.mkdir(parents=True)
    by_id = {s.id: s for s in speakers}
    summary = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for split, (utterances, mixtures) in plans.items():
            jobs = [(by_id[u["speaker"]], u["id"], u["text"], tmpdir) for u in utterances]
            audio = {}
            _report(progress, f"{split} synthesis", 0, len(jobs))
            # map() yields in submission order, so results never depend on scheduling.
            for i, (u, x) in enumerate(zip(utterances, pool.map(_synthesise, jobs)), 1):
                audio[u["id"]] = x
                _report(progress, f"{split} synthesis", i, len(jobs))
            summary[split] = _write_split(out / split, utterances, mixtures, audio, progress)
    tmpdir.rmdir()
    manifest = {**key, "tools": tools,
                "conditions": {c: FOLDER[c] for c in CONDITIONS},
                "speakers": [{**asdict(s), "seen": s in seen} for s in speakers],
                "splits": summary}
    # Written last: its presence (with matching arguments) is what marks the corpus complete.
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _write_split(folder: Path, utterances: list[dict], mixtures: list[dict],
                 audio: dict[str, np.ndarray], progress: ProgressFn | None) -> dict:
    for sub in ("mix", "s1", "s2"):
        (folder / sub).mkdir(parents=True)
    total = 0
    _report(progress, f"{folder.name} mixtures", 0, len(mixtures))
    with open(folder / "mixtures.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "spk1", "spk2", "snr_db", "length", "utt1", "utt2"])
        for i, m in enumerate(mixtures, 1):
            mix, s1, s2 = mix_pair(audio[m["utt1"]], audio[m["utt2"]], m["gain_db"])
            for sub, x in (("mix", mix), ("s1", s1), ("s2", s2)):
                write_wav(folder / sub / f"{m['name']}.wav", x, SAMPLE_RATE)
            w.writerow([m["name"], m["spk1"], m["spk2"], f"{2 * m['gain_db']:.5f}", len(mix),
                        m["utt1"], m["utt2"]])
            total += len(mix)
            _report(progress, f"{folder.name} mixtures", i, len(mixtures))
    with open(folder / "utterances.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "speaker", "seconds", "text"])
        for u in utterances:
            w.writerow([u["id"], u["speaker"], f"{len(audio[u['id']]) / SAMPLE_RATE:.3f}", u["text"]])
    return {"mixtures": len(mixtures), "utterances": len(utterances),
            "speakers": sorted({u["speaker"] for u in utterances}),
            "hours": round(total / SAMPLE_RATE / 3600, 4)}


def _report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    # ~50 calls per stage: enough for a progress bar, cheap for a callback that prints.
    if progress is not None and (done == total or done % max(1, total // 50) == 0):
        progress(stage, done, total)
