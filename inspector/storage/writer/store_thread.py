"""The inspection writer's store thread: settled records to the database in batches, and the archive quota."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from inspector.storage import audit
from inspector.storage.database import describe_error
from inspector.storage.quota import evict
from inspector.storage.records import ARTIFACTS_PENDING, InspectionRecord
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork
from inspector.storage.writer.common import MB, Pending

log = logging.getLogger(__name__)

QUOTA_RESUME = 0.95  # over the quota, eviction frees down to this share of it (so it does not run for every part)


def _is_bad_data(exc: BaseException) -> bool:
    """Errors that one record causes (retrying won't help), as opposed to an unreachable or locked database."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    return isinstance(exc, StatementError | ValueError | TypeError | KeyError)


class StoreThread:
    """The part of :class:`~inspector.storage.writer.InspectionWriter` that runs on its store thread (the state
    is the writer's)."""

    def _run_store(self) -> None:
        self._replay()
        while True:
            try:
                if self._settled.wait(self._wait_time()):
                    self._settled.clear()
                now = time.monotonic()
                past_deadline = self._closing.is_set() and now >= self._close_deadline
                if self._pending and now >= self._next_try and self._due(now) and not past_deadline:
                    self._write_one_batch()
                if not self._closing.is_set():
                    self._enforce_quota()
            except Exception as exc:  # keep going, say why
                self.last_error = describe_error(exc)
                log.exception("inspection writer error")
                time.sleep(min(self._backoff, 1.0))
            self._update_bound()
            self._notify()
            if self._archive_done.is_set():
                if not self._pending or time.monotonic() >= self._close_deadline:
                    break
        if self._pending:
            log.warning("inspection writer stopped with %d inspections journaled in %s (replayed on next start)",
                        len(self._pending), self.journal.folder)

    def _replay(self) -> None:
        replayed: list[Pending] = []
        for segment, entry in self.journal.pending(self._earlier_segments):
            try:
                record = InspectionRecord.from_dict(entry)
            except (TypeError, KeyError, ValueError) as exc:
                self._quarantine(segment, f"malformed journal entry: {exc!r}", entry)
                continue
            if record.artifacts == ARTIFACTS_PENDING:
                record = record.without_artifacts("the station stopped before the images were written")
            replayed.append(Pending(segment, record, None, time.monotonic() - self.flush_interval_s))  # due now
        with self._lock:
            self._pending = replayed + self._pending
            for item in replayed:
                self._segment_left[item.segment] = self._segment_left.get(item.segment, 0) + 1
        if replayed:
            log.info("replaying %d journaled inspections from %s", len(replayed), self.journal.folder)

    def _enforce_quota(self) -> None:
        """Over the quota (checked every ``quota_check_s``, once the database answers): evict the oldest pictures
        (:func:`inspector.storage.quota.evict`), never an unreviewed FAIL's; say so when only those are left."""
        now = time.monotonic()
        if self.archive_max_bytes is None or now < self._next_quota_check or not self._prepared or not self.db_ok:
            return
        self._next_quota_check = now + self.quota_check_s
        quota = self.archive_max_bytes
        self.archive_bytes = used = self.store.usage()
        if used <= quota:
            self.quota_alarm = None
            return
        with self._lock:  # journaled, not yet committed: the database does not link their files yet
            keep = {a.sha256 for item in self._pending for a in (item.record.image, item.record.heatmap,
                                                                 item.record.thumbnail) if a is not None}
        try:
            done = evict(self._sessions, self.store, self.station_name, int(quota * QUOTA_RESUME), keep,
                         f"archive quota ({quota / MB:,.0f} MB)")
        except Exception as exc:  # noqa: BLE001 - tried again at the next check; the pictures stay meanwhile
            log.warning("archive quota: eviction failed: %s", describe_error(exc))
            return
        self.evicted_files += done.files
        self.evicted_bytes += done.bytes
        self.archive_bytes = left = self.store.usage()
        self.evicted += done.inspections
        if done.inspections:
            log.warning("archive %s over its quota (%.0f MB of %.0f MB): evicted the pictures of %d inspections "
                        "(%d PASS, %d reviewed): %d files, %.1f MB; %.0f MB now", self.archive_root, used / MB,
                        quota / MB, done.inspections, done.passes, done.reviewed, done.files, done.bytes / MB,
                        left / MB)
        if left > quota:
            if self.quota_alarm is None:
                self.quota_alarms += 1
                log.error("archive %s: %.0f MB over its %.0f MB quota and only unreviewed FAILs' pictures are left; "
                          "none is deleted: review them or raise station.archive_max_mb", self.archive_root,
                          left / MB, quota / MB)
            self.quota_alarm = (f"archive over its quota: {left / MB:,.0f} MB of {quota / MB:,.0f} MB, only unreviewed "
                                "FAILs' pictures left (review them, or raise station.archive_max_mb)")
        else:
            self.quota_alarm = None

    def _due(self, now: float) -> bool:
        return (self._full() or now - self._oldest_settled_at() >= self.flush_interval_s
                or self._flush_now.is_set() or self._closing.is_set())

    def _oldest_settled_at(self) -> float:
        """When the oldest pending record's pictures were settled (infinity while they are not)."""
        with self._lock:
            if not self._pending or self._pending[0].inspection is not None:
                return float("inf")
            return self._pending[0].settled_at

    def _full(self) -> bool:
        """A whole batch of the oldest records has its pictures settled (a commit of fewer waits for its time)."""
        with self._lock:
            if len(self._pending) < self.batch_size:
                return False
            return all(item.inspection is None for item in self._pending[:self.batch_size])

    def _wait_time(self) -> float:
        now = time.monotonic()
        settled_at = self._oldest_settled_at()
        if settled_at == float("inf"):  # nothing to commit until the archive thread settles the oldest (it wakes us)
            return self.flush_interval_s
        if self._closing.is_set():
            return 0.0 if now >= self._next_try else min(self._next_try, self._close_deadline) - now
        due_at = settled_at + self.flush_interval_s
        if self._full() or self._flush_now.is_set():
            due_at = now
        return max(0.0, min(max(due_at, self._next_try) - now, self.flush_interval_s))

    def _committable(self) -> list[Pending]:
        """The oldest pending records whose images are settled; a backlog goes in bigger transactions."""
        with self._lock:
            size = self.drain_batch_size if len(self._pending) > self.batch_size else self.batch_size
            batch = []
            for item in self._pending:
                if item.inspection is not None or len(batch) >= size:
                    break
                batch.append(item)
            return batch

    def _write_one_batch(self) -> None:
        batch = self._committable()
        if not batch:
            return
        if not self._prepared:  # the first time the database answers: migrate it, register the bundles
            try:
                self._prepare(self.engine)
            except Exception as exc:  # noqa: BLE001 - not ready yet: retried like an outage
                self._failed(exc)
                return
            self._prepared = True
        try:
            self._commit(batch)
        except Exception as exc:
            if _is_bad_data(exc):
                self._write_singly(batch)
            else:
                self._failed(exc)
            return
        self._committed(batch)

    def _commit(self, batch: list[Pending]) -> None:
        with SqlAlchemyUnitOfWork(self._sessions).writing() as uow:
            existing = uow.inspections.existing_uids([item.record.uid for item in batch])
            rows = uow.inspections.add_all([item.record for item in batch if item.record.uid not in existing])
            audit.seal(uow.session, rows, self.station_name)  # a flipped verdict breaks this seal
            uow.commit()

    def _committed(self, batch: list[Pending], logged: bool = True) -> None:
        """The batch is in the database (or, ``logged=False``, quarantined): out of the pending list."""
        done = {id(item) for item in batch}
        finished = []
        if logged:  # before the batch leaves the pending list: flush() may return the moment it does
            self.logged += len(batch)
            self.db_ok = True
        with self._lock:
            self._pending = [item for item in self._pending if id(item) not in done]
            for item in batch:
                self._segment_left[item.segment] -= 1
                if self._segment_left[item.segment] == 0:
                    del self._segment_left[item.segment]
                    finished.append(item.segment)
        try:
            self.journal.remove(finished)
        except OSError as exc:  # committed already: a restart finds them in the database and skips them
            log.warning("journal segments could not be removed (%s); committed records are skipped on replay",
                        describe_error(exc))
        if not logged:
            return
        self._backoff = self.retry_initial_s
        self._next_try = 0.0
        if not self._pending and self._queue.unfinished_tasks == 0:
            self._flush_now.clear()

    def _failed(self, exc: BaseException) -> None:
        self.failed_attempts += 1
        self.db_ok = False
        self.last_error = describe_error(exc)
        delay = self._backoff * random.uniform(0.5, 1.0)  # jitter: stations on one database do not retry in step
        self._next_try = time.monotonic() + delay
        log.warning("database write failed (%s); %d inspections journaled, retry in %.1f s",
                    self.last_error, len(self._pending), delay)
        self._backoff = min(self._backoff * 2, self.retry_max_s)

    def _write_singly(self, batch: Sequence[Pending]) -> None:
        """A batch the database refused for its data: find and set aside the records at fault."""
        for item in batch:
            try:
                self._commit([item])
            except Exception as exc:
                if not _is_bad_data(exc):
                    self._failed(exc)
                    return
                self.last_error = describe_error(exc)
                self._quarantine(item.segment, f"refused by the database: {self.last_error}", item.record.to_dict())
                self._committed([item], logged=False)  # set aside: its segment may go once the rest of it is in
                continue
            self._committed([item])

    def _quarantine(self, segment: str, reason: str, entry: dict[str, Any]) -> None:
        self.quarantined += 1
        self.journal.quarantine(segment, reason, entry)
