"""The inspection writer's state and its caller side; each thread's work is in its own module (see the package)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from inspector.domain.inspection import Inspection
from inspector.domain.recipe import ArchivePolicy, Recipe
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import describe_error, make_engine, make_session_factory
from inspector.storage.journal import Journal
from inspector.storage.writer.archive_thread import ARCHIVE_NICE, ArchiveThread
from inspector.storage.writer.common import MB, WAKE, JournalLimits, Pending, Released, WriterStats
from inspector.storage.writer.journal_thread import JournalThread
from inspector.storage.writer.store_thread import StoreThread

log = logging.getLogger(__name__)


class InspectionWriter(JournalThread, ArchiveThread, StoreThread):
    """Logs inspections without ever losing one silently; see the package docstring.

    ``submit`` only enqueues; when ``max_queue`` inspections wait it blocks, so a stalled disk shows up as
    back-pressure instead of memory growth. On start it replays what an earlier run left in the journal.
    ``prepare(engine)`` runs once per writer before its first commit (migrate, register bundles): a station that
    started while its database was down migrates it when it answers.
    """

    def __init__(self, database: str | URL | Engine, archive_root: str | Path, journal_dir: str | Path,
                 station_name: str, batch_size: int = 32, flush_interval_s: float = 0.5, *, max_queue: int = 256,
                 retry_initial_s: float = 0.2, retry_max_s: float = 5.0, thumbnail_side: int = 128,
                 limits: JournalLimits | None = None, prepare: Callable[[Engine], None] | None = None,
                 drain_batch_size: int = 256, autostart: bool = True, archive_policy: ArchivePolicy | None = None,
                 archive_max_bytes: int | None = None, quota_check_s: float = 5.0,
                 archive_nice: int = ARCHIVE_NICE) -> None:
        self._owns_engine = not isinstance(database, Engine)
        self.engine = make_engine(database) if self._owns_engine else database
        self._sessions = make_session_factory(self.engine)
        self.archive_root = Path(archive_root)
        self._store: ArtifactStore | None = None
        self.journal = Journal(journal_dir)
        self.station_name = station_name
        self.batch_size = max(1, batch_size)
        self.drain_batch_size = max(self.batch_size, drain_batch_size)
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.thumbnail_side = thumbnail_side
        self.limits = limits or JournalLimits()
        self.archive_policy = archive_policy or ArchivePolicy()  # for recipes not named by use_recipe()
        self._policies: dict[tuple[str, int], ArchivePolicy] = {}
        self._passes_seen: dict[tuple[str, int], int] = {}  # PASSes per recipe: the policy samples 1 in N
        self.archive_max_bytes = archive_max_bytes
        self.quota_check_s = quota_check_s
        self._next_quota_check = 0.0
        self.archive_nice = archive_nice
        self.archive_thread_id: int | None = None  # the archive thread's native id, and its nice value once lowered
        self.archive_thread_nice: int | None = None
        self._prepare = prepare
        self._prepared = prepare is None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._archive: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._pending: list[Pending] = []  # journaled, not committed, in journal order
        self._segment_left: dict[str, int] = {}  # records of each segment not yet committed
        self._next_try = 0.0
        self._backoff = retry_initial_s
        self._idle = threading.Condition()
        self._flush_now = threading.Event()
        self._closing = threading.Event()
        self._journal_done = threading.Event()
        self._archive_done = threading.Event()
        self._settled = threading.Event()  # the archive thread settled a batch's pictures: the store thread looks
        self._close_deadline = float("inf")
        self._threads = [threading.Thread(target=self._run_journal, name="inspection-journal", daemon=True),
                         threading.Thread(target=self._run_archive, name="inspection-archive", daemon=True),
                         threading.Thread(target=self._run_store, name="inspection-writer", daemon=True)]
        self._started = False
        self._earlier_segments: list[str] = []
        self.submitted = self.released = self.unrecorded = self.logged = 0
        self.failed_attempts = self.quarantined = self.artifacts_missing = self.artifacts_not_kept = 0
        self.evicted = self.evicted_files = self.evicted_bytes = self.quota_alarms = 0
        self.archive_bytes: int | None = None
        self.quota_alarm: str | None = None  # over the quota with only unreviewed FAILs' pictures left
        self.last_error: str | None = None
        self.archive_error: str | None = None
        self.journal_error: str | None = None  # latched: the journal refused a write (HOLD until it takes one)
        self.db_ok: bool | None = None
        self.free_bytes: int | None = None
        self._holding_for_bound = self._holding_for_space = False
        self._space_checked = 0.0
        self._check_space()  # before the first verdict: a nearly full disk holds from the first part
        if autostart:
            self.start()

    # ---- caller side -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            try:
                self._earlier_segments = self.journal.ids()  # what the last run left: replayed, nothing newer
            except OSError as exc:
                log.error("journal %s cannot be listed, nothing replayed: %s", self.journal.folder, exc)
            for thread in self._threads:
                thread.start()

    @property
    def store(self) -> ArtifactStore:
        """The archive; created on first use, so an unwritable archive costs images, never the journal."""
        if self._store is None:
            self._store = ArtifactStore(self.archive_root)
        return self._store

    @property
    def journaled(self) -> int:
        return len(self._pending)

    def use_recipe(self, recipe: Recipe) -> None:
        """Keep the pictures of inspections under ``recipe`` (name and version) as its archive policy says."""
        self._policies[(recipe.name, int(recipe.version))] = recipe.archive

    def stats(self) -> WriterStats:
        return WriterStats(self.submitted, self.released, self.unrecorded, self.logged, self.journaled,
                           self._queue.qsize(), self.artifacts_missing, self.failed_attempts, self.quarantined,
                           self.last_error, self.db_ok, self.artifacts_not_kept, self.evicted, self.evicted_files,
                           self.evicted_bytes, self.quota_alarms, self.archive_bytes)

    def submit(self, inspection: Inspection, on_released: Released | None = None) -> None:
        """Hand one inspection over; ``on_released(inspection, durable)`` follows once it is journaled (or could
        not be). Cheap: blocks only while ``max_queue`` inspections wait to be journaled."""
        if self._closing.is_set():
            raise RuntimeError("the inspection writer is closed")
        self.submitted += 1
        self._queue.put((inspection, on_released))

    def hold_reason(self) -> str | None:
        """Why the station must hold (no record can be kept safely), or None. Cheap: attribute reads."""
        if self.journal_error:
            return f"journal unwritable ({self.journal_error})"
        if self._holding_for_bound:
            return (f"journal nearly full ({self.journaled:,} records, {self.journal.bytes / MB:.0f} MB; bounds "
                    f"{self.limits.max_entries:,} records, {self.limits.max_bytes / MB:.0f} MB)")
        if self._holding_for_space:
            return f"journal disk nearly full ({(self.free_bytes or 0) / MB:.0f} MB free)"
        return None

    def retry_journal(self) -> bool:
        """After the journal refused a write: try one (an acknowledged alarm); True when it takes writes again."""
        if self.journal_error is None:
            return True
        try:
            self.journal.probe()
        except Exception as exc:  # noqa: BLE001 - still refused: the station keeps holding, with the new reason
            self.journal_error = describe_error(exc)
            return False
        self.journal_error = None
        return True

    def warnings(self) -> tuple[str, ...]:
        """Faults that keep the station running but lose something, in words for an alarm."""
        found = []
        if self.artifacts_missing:
            found.append(f"{self.artifacts_missing:,} inspections kept without their images "
                         f"(archive: {self.archive_error})")
        low = self.free_bytes is not None and self.free_bytes < self.limits.free_warn_bytes
        if low and not self._holding_for_space:
            found.append(f"journal disk low: {self.free_bytes / MB:.0f} MB free")
        if self.unrecorded:
            found.append(f"{self.unrecorded:,} verdicts released without a record (rejected)")
        if self.quota_alarm:
            found.append(self.quota_alarm)
        return tuple(found)

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything now; True once all submitted inspections are committed, False on timeout."""
        self._flush_now.set()
        self._wake()
        deadline = time.monotonic() + timeout
        with self._idle:
            while not self._drained():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not all(t.is_alive() for t in self._threads):
                    return self._drained()
                self._idle.wait(min(remaining, 0.1))
        return True

    def released_all(self, timeout: float = 10.0) -> bool:
        """True once every submitted inspection was journaled (or refused) and handed back."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Journal everything still queued, write images and try the database until ``timeout``, stop the threads.

        Whatever is not committed by then stays in the journal for the next start: nothing submitted is lost.
        """
        if self._closing.is_set():
            return
        self.start()  # a writer never started still journals and writes what was submitted
        self._close_deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake()
        for thread in self._threads:
            thread.join(timeout + 30.0)
            if thread.is_alive():
                log.error("inspection writer thread %s did not stop within %.0f s", thread.name, timeout + 30.0)
        if not self._threads[0].is_alive():
            self._journal_leftovers()
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> InspectionWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


    def _wake(self) -> None:
        for q in (self._queue, self._archive):
            try:
                q.put_nowait(WAKE)
            except queue.Full:
                pass  # the thread has work anyway
        self._settled.set()

    def _drained(self) -> bool:
        return self._queue.unfinished_tasks == 0 and self._archive.unfinished_tasks == 0 and not self._pending

    def _notify(self) -> None:
        with self._idle:
            self._idle.notify_all()

