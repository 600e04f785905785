"""Ending a run early and cleanly: a signal (Ctrl-C, SIGTERM) or a lost lease.

Tune's own SIGINT handler is switched off (``TUNE_DISABLE_SIGINT_HANDLER``); ours records the
signal and :class:`StopAll` tells Tune to stop every trial at its next step. The driver then
marks the trials it stopped as failed with the reason (so ``sweep resume`` runs their
configurations again) and exits 128 + the signal number with the resume command. A second
signal while stopping restores the default behaviour (Ctrl-C twice kills at once).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from ray.tune import Stopper

from sweep.store import Lease

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RuntimeError):
    """The study was stopped by a signal; its trials are closed and it resumes from the database."""

    def __init__(self, signum: int, study: str, closed: int) -> None:
        self.signum, self.study, self.closed = signum, study, closed
        super().__init__(f"{signal.Signals(signum).name}: study {study} stopped; {closed} running trial(s) "
                         "marked interrupted")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class SignalCatcher:
    """Records SIGINT / SIGTERM while installed (``with SignalCatcher() as sig: ...``)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: stop waiting for a clean stop
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "SignalCatcher":
        if threading.current_thread() is threading.main_thread():
            for s in HANDLED:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _restore(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()

    def __exit__(self, *exc) -> None:
        self._restore()

    @property
    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        return f"interrupted by {name} while running; its configuration runs again at `sweep resume`"


class StopAll(Stopper):
    """A Tune ``Stopper`` that stops every trial once a signal arrived or the lease was lost."""

    def __init__(self, signals: SignalCatcher | None, lease: Lease | None) -> None:
        self.signals, self.lease = signals, lease

    def __call__(self, trial_id: str, result: dict) -> bool:
        # Never per trial: Tune would end such a trial as done, and it would count as pruned.
        # stop_all() stops them without an ending; the driver then fails them with the reason.
        return False

    def stop_all(self) -> bool:
        return bool((self.signals and self.signals.signum) or (self.lease and self.lease.lost.is_set()))

    def __getstate__(self) -> dict:  # Tune pickles it into tuner.pkl; neither a lease nor handlers travel
        return {"signals": None, "lease": None}
