"""One live driver per study: a lease held as ``host:pid`` plus a heartbeat on the study's row.

A second ``launch`` or ``resume`` while the holder is alive raises :class:`StudyBusy`. A driver
that died needs no unlock: on the same host its pid is gone, and elsewhere its heartbeat goes
stale after ``stale_s``. :class:`Lease` refreshes the heartbeat from a background thread from the
moment it is claimed, so corpus building, oracle scoring or a slow Tune step never let it lapse.
"""

from __future__ import annotations

import os
import socket
import threading

from sweep.store.engine import StorageError, storage_errors
from sweep.store.tables import StudyRow, now

STALE_S = 90.0  # a heartbeat older than this no longer holds the study
BEAT_S = 10.0


class StudyBusy(RuntimeError):
    """Another driver is running the study right now."""


def driver_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def driver_alive(driver: str) -> bool:
    """False when the driver ran on this host and its process is gone; True otherwise (a
    driver on another host is judged by its heartbeat alone)."""
    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(store, study_id: int, me: str, stale_s: float = STALE_S) -> None:
    """Become the study's driver, or raise StudyBusy if another live driver holds it."""
    with store.session() as s:
        row = s.get(StudyRow, study_id)
        if row.driver and row.driver != me and row.heartbeat_at is not None:
            age = (now() - row.heartbeat_at).total_seconds()
            if age < stale_s and driver_alive(row.driver):
                raise StudyBusy(f"study {row.name} is being run by driver {row.driver} (last heartbeat "
                                f"{age:.0f} s ago); stop it or wait for it to finish")
        row.driver, row.heartbeat_at = me, now()
        s.commit()


def beat(store, study_id: int, me: str) -> bool:
    """Refresh the heartbeat; False if ``me`` no longer holds the study."""
    with store.session() as s:
        row = s.get(StudyRow, study_id)
        if row.driver != me:
            return False
        row.heartbeat_at = now()
        s.commit()
        return True


def release(store, study_id: int, me: str) -> None:
    with store.session() as s:
        row = s.get(StudyRow, study_id)
        if row.driver == me:
            row.driver, row.heartbeat_at = None, None
            s.commit()


class Lease:
    """The driver's hold on a study, with a heartbeat thread. Use as a context manager."""

    def __init__(self, store, study_id: int, me: str | None = None, every_s: float = BEAT_S) -> None:
        self.store, self.study_id, self.me, self.every_s = store, study_id, me or driver_id(), every_s
        self.lost = threading.Event()  # set when another driver took the study over
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Lease":
        claim(self.store, self.study_id, self.me)
        self._thread = threading.Thread(target=self._run, name="sweep-lease", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not beat(self.store, self.study_id, self.me):
                    self.lost.set()
                    return
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next beat
                continue

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            with storage_errors(self.store.url):
                release(self.store, self.study_id, self.me)
        except StorageError:
            if exc[0] is None:
                raise
            # The error on its way out (a database that went away, say) is the one to report; the
            # lease left behind holds nothing: this process is gone, then its heartbeat goes stale.
