"""The inspection writer: one thread that stores artifacts, journals each inspection, then commits in batches."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from inspector.domain.inspection import Inspection
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import describe_error, make_engine, make_session_factory
from inspector.storage.journal import Journal
from inspector.storage.records import InspectionRecord, build_record
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)

_WAKE = object()


@dataclass(frozen=True)
class WriterStats:
    submitted: int
    logged: int  # committed to the database (replayed entries included)
    journaled: int  # on disk in the journal, not yet committed
    queued: int  # submitted, artifacts and journal entry not yet written
    failed_attempts: int
    quarantined: int
    last_error: str | None
    db_ok: bool | None  # None until the first database attempt


def _is_bad_data(exc: BaseException) -> bool:
    """Errors that one record causes (retrying won't help), as opposed to an unreachable or locked database."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    return isinstance(exc, StatementError | ValueError | TypeError | KeyError)


class InspectionWriter:
    """Logs inspections without ever losing one: journal first (fsync), database after, journal cleared on commit.

    ``submit`` only enqueues (PNG encoding happens on the writer thread); when the queue holds ``max_queue``
    inspections ``submit`` blocks, so a stalled disk shows up as back-pressure instead of memory growth.
    While the database is unreachable entries stay journaled and the writer retries with exponential back-off.
    On start it replays what an earlier run left in the journal.
    """

    def __init__(self, database: str | URL | Engine, archive_root: str | Path, journal_dir: str | Path,
                 station_name: str, batch_size: int = 32, flush_interval_s: float = 0.5, *, max_queue: int = 256,
                 retry_initial_s: float = 0.5, retry_max_s: float = 30.0, thumbnail_side: int = 128,
                 autostart: bool = True) -> None:
        self._owns_engine = not isinstance(database, Engine)
        self.engine = make_engine(database) if self._owns_engine else database
        self._sessions = make_session_factory(self.engine)
        self.store = ArtifactStore(archive_root)
        self.journal = Journal(journal_dir)
        self.station_name = station_name
        self.batch_size = max(1, batch_size)
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.thumbnail_side = thumbnail_side
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._pending: list[tuple[str, InspectionRecord]] = []
        self._oldest_pending_at = 0.0
        self._next_try = 0.0
        self._backoff = retry_initial_s
        self._idle = threading.Condition()
        self._flush_now = threading.Event()
        self._closing = threading.Event()
        self._close_deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="inspection-writer", daemon=True)
        self._started = False
        self.submitted = self.logged = self.failed_attempts = self.quarantined = 0
        self.last_error: str | None = None
        self.db_ok: bool | None = None
        if autostart:
            self.start()

    # ---- caller side -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    @property
    def journaled(self) -> int:
        return len(self._pending)

    def stats(self) -> WriterStats:
        return WriterStats(self.submitted, self.logged, self.journaled, self._queue.qsize(), self.failed_attempts,
                           self.quarantined, self.last_error, self.db_ok)

    def submit(self, inspection: Inspection) -> None:
        """Hand one inspection over (cheap; blocks only while ``max_queue`` inspections wait to be journaled)."""
        if self._closing.is_set():
            raise RuntimeError("the inspection writer is closed")
        self._queue.put(inspection)
        self.submitted += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything now; True once all submitted inspections are committed, False on timeout."""
        self._flush_now.set()
        self._wake()
        deadline = time.monotonic() + timeout
        with self._idle:
            while not self._drained():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return self._drained()
                self._idle.wait(min(remaining, 0.1))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Journal everything still queued, try the database until ``timeout``, stop the thread.

        Whatever is not committed by then stays in the journal for the next start: nothing submitted is lost.
        """
        if self._closing.is_set():
            return
        self.start()  # a writer never started still journals and writes what was submitted
        self._close_deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake()
        self._thread.join(timeout + 30.0)
        if self._thread.is_alive():
            log.error("inspection writer did not stop within %.0f s", timeout + 30.0)
        else:
            self._journal_leftovers()
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> InspectionWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _journal_leftovers(self) -> None:
        """Journal what a racing ``submit`` put in the queue after the thread's last look (replayed next start)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _WAKE:
                self._journal(item)
            self._queue.task_done()

    def _wake(self) -> None:
        try:
            self._queue.put_nowait(_WAKE)
        except queue.Full:
            pass  # the thread has work anyway

    def _drained(self) -> bool:
        return self._queue.unfinished_tasks == 0 and not self._pending

    # ---- writer thread -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        self._replay()
        while True:
            try:
                self._take(self._wait_time())
                now = time.monotonic()
                past_deadline = self._closing.is_set() and now >= self._close_deadline
                if self._pending and now >= self._next_try and self._due(now) and not past_deadline:
                    self._write_one_batch()
            except Exception as exc:  # e.g. the journal folder became unwritable: keep going, say why
                self.last_error = describe_error(exc)
                log.exception("inspection writer error")
                time.sleep(min(self._backoff, 1.0))
            with self._idle:
                self._idle.notify_all()
            if self._closing.is_set() and self._queue.unfinished_tasks == 0:
                if not self._pending or time.monotonic() >= self._close_deadline:
                    break
        if self._pending:
            log.warning("inspection writer stopped with %d inspections journaled in %s (replayed on next start)",
                        len(self._pending), self.journal.folder)

    def _replay(self) -> None:
        for entry_id, entry in self.journal.pending():
            try:
                self._pending.append((entry_id, InspectionRecord.from_dict(entry)))
            except (TypeError, KeyError, ValueError) as exc:
                self._quarantine(entry_id, f"malformed journal entry: {exc!r}")
        if self._pending:
            log.info("replaying %d journaled inspections from %s", len(self._pending), self.journal.folder)
            self._oldest_pending_at = time.monotonic() - self.flush_interval_s

    def _due(self, now: float) -> bool:
        return (len(self._pending) >= self.batch_size or now - self._oldest_pending_at >= self.flush_interval_s
                or self._flush_now.is_set() or self._closing.is_set())

    def _wait_time(self) -> float:
        now = time.monotonic()
        if not self._pending:
            return self.flush_interval_s
        if self._closing.is_set():
            return 0.0 if now >= self._next_try else min(self._next_try, self._close_deadline) - now
        due_at = self._oldest_pending_at + self.flush_interval_s
        if len(self._pending) >= self.batch_size or self._flush_now.is_set():
            due_at = now
        return max(0.0, max(due_at, self._next_try) - now)

    def _take(self, timeout: float) -> None:
        """Journal queued inspections: wait up to ``timeout`` for the first, then take what is ready (a batch)."""
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return
        taken = 0
        while True:
            try:
                if item is not _WAKE:
                    self._journal(item)
                    taken += 1
            finally:
                self._queue.task_done()
            if taken >= self.batch_size and not self._closing.is_set():
                return
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def _journal(self, inspection: Inspection) -> None:
        try:
            record = build_record(inspection, self.store, thumbnail_side=self.thumbnail_side)
            if not record.station:
                record = InspectionRecord.from_dict({**record.to_dict(), "station": self.station_name})
            entry_id = self.journal.append(record.to_dict())
        except Exception as exc:  # a bad image or a failing disk: say so loudly, keep the thread alive
            self.last_error = f"could not journal frame {inspection.frame.id}: {describe_error(exc)}"
            log.exception(self.last_error)
            return
        if not self._pending:
            self._oldest_pending_at = time.monotonic()
        self._pending.append((entry_id, record))

    def _write_one_batch(self) -> None:
        batch = self._pending[: self.batch_size]
        try:
            self._commit(batch)
        except Exception as exc:
            if _is_bad_data(exc):
                self._write_singly(batch)
            else:
                self._failed(exc)
            return
        self._committed(batch)

    def _commit(self, batch: list[tuple[str, InspectionRecord]]) -> None:
        with SqlAlchemyUnitOfWork(self._sessions) as uow:
            existing = uow.inspections.existing_uids([record.uid for _, record in batch])
            for _, record in batch:
                if record.uid not in existing:
                    uow.inspections.add(record)
            uow.commit()

    def _committed(self, batch: list[tuple[str, InspectionRecord]]) -> None:
        done = {entry_id for entry_id, _ in batch}
        self.journal.remove(done)
        self._pending = [item for item in self._pending if item[0] not in done]
        self.logged += len(done)
        self.db_ok = True
        self._backoff = self.retry_initial_s
        self._next_try = 0.0
        if self._pending:
            self._oldest_pending_at = time.monotonic() - self.flush_interval_s  # the backlog is due now
        elif self._queue.unfinished_tasks == 0:
            self._flush_now.clear()

    def _failed(self, exc: BaseException) -> None:
        self.failed_attempts += 1
        self.db_ok = False
        self.last_error = describe_error(exc)
        self._next_try = time.monotonic() + self._backoff
        log.warning("database write failed (%s); %d inspections journaled, retry in %.1f s",
                    self.last_error, len(self._pending), self._backoff)
        self._backoff = min(self._backoff * 2, self.retry_max_s)

    def _write_singly(self, batch: list[tuple[str, InspectionRecord]]) -> None:
        """A batch the database refused for its data: find and set aside the entries at fault."""
        for item in batch:
            try:
                self._commit([item])
            except Exception as exc:
                if not _is_bad_data(exc):
                    self._failed(exc)
                    return
                self.last_error = describe_error(exc)
                self._quarantine(item[0], f"refused by the database: {self.last_error}")
                self._pending = [p for p in self._pending if p[0] != item[0]]
                continue
            self._committed([item])

    def _quarantine(self, entry_id: str, reason: str) -> None:
        self.quarantined += 1
        self.journal.quarantine(entry_id, reason)
