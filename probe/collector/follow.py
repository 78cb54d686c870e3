"""`Live`: the live index kept in step with the store while the collector runs.

A worker thread takes in what each upload stored (the upload's answer never waits for it); a
reader first takes in a small backlog itself, so a page shows every measurement stored before
it was asked for, and during a flood shows what is in while the worker catches up. At start a
small backlog is taken in before serving and a large one (the first start on a store that
already holds much, or after deleting live.sqlite3) by the worker, the pages showing what is in
so far. Answers are cached until the index changes (and at most CACHE_S).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from probe.collector.live import LiveIndex
from probe.config import CollectorSettings

logger = logging.getLogger("probe.collector")

SYNC_BACKLOG = 5_000  # a reader (or the start) takes in at most this much itself
BATCH = 2000
# A page is made once per change of the index (and at most every CACHE_S): many readers of an
# unchanged index cost one rendering.
CACHE_S = 30.0
CACHE_ENTRIES = 512


class Live:
    """The live index, its worker, its answer cache and the settings its pages follow."""

    def __init__(self, index: LiveIndex, settings: CollectorSettings) -> None:
        self.index = index
        self.show_probes = settings.show_probes
        self.stale_after_s = int(settings.live_stale_after)
        self.days = settings.live_days
        self.claims_token = settings.claims_token
        self.rebuilding = False
        self.version = 0
        self._cache: dict[str, tuple[int, float, Any]] = {}
        self._cache_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take in a small backlog now, start the worker (with a large backlog to take in)."""
        backlog = self.index.backlog()
        if backlog <= SYNC_BACKLOG:
            self.catch_up()
        else:
            self.rebuilding = True
            logger.info("live index: taking in %d stored measurements", backlog)
            self._wake.set()
        self._thread = threading.Thread(target=self._work, name="live-index", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while not self._stop.is_set() and self.index.catch_up(max_rows=BATCH):
                    self.changed()
            except Exception:  # a thread's boundary: log it; the next upload or read retries
                logger.exception("live index: catching up failed")
            if self.rebuilding:
                self.rebuilding = False
                logger.info("live index: caught up")

    def stop(self) -> None:
        """Stop the worker (after its current batch) before the index closes."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def after_upload(self) -> None:
        """Wake the worker: an upload was stored."""
        self._wake.set()

    def fresh(self) -> None:
        """Before a read: take in a small backlog now (a large one is the worker's)."""
        if not self.rebuilding and 0 < self.index.backlog() <= SYNC_BACKLOG:
            self.catch_up()

    def catch_up(self) -> None:
        if self.index.catch_up():
            self.changed()

    def changed(self) -> None:
        """The index took something in: every answer made before is out of date."""
        self.version += 1

    def cached(self, key: str, make: Any) -> Any:
        """Return the answer made for `key` since the index last changed (and at most CACHE_S
        ago: pages say "now" and "the last days"), else make it."""
        version, at = self.version, time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == version and at - hit[1] < CACHE_S:
            return hit[2]
        value = make()
        with self._cache_lock:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = (version, at, value)
        return value


__all__ = ["Live"]
