"""The inspection writer: durable before visible, then images, then the database in batches.

Three threads:

* the **journal thread** takes submitted inspections in batches, journals their records (verdict, reason codes,
  scores, frame and part) with one fsync for the batch (group commit), and only then releases each verdict to
  its caller (``on_released``: counters, window, line). A batch the journal cannot take is released as
  not durable, and the writer holds the station (see :meth:`InspectionWriter.hold_reason`).
* the **archive thread** writes each record's pictures as the recipe's archive policy says (every FAIL: image,
  anomaly map and thumbnail; a sample of PASSes the same, the others a thumbnail only, marked "not_kept"; a record
  whose images cannot be written is kept, marked missing, and counted). It runs at a lower CPU priority (nice +10
  on Linux), so PNG encoding yields the cores to inference.
* the **store thread** commits records whose pictures are settled to the database in batches, retrying with
  capped, jittered back-off while it is unreachable. A journal segment is deleted only once every record in it is
  committed; what the database refuses for its data is quarantined beside the journal. With a quota it evicts
  the oldest pictures (see :mod:`inspector.storage.quota`) once the archive outgrows it. It keeps the station's
  priority, like the journal thread that every verdict waits for, so a busy machine delays pictures, never the
  database (a station closing on a loaded machine still logs everything it inspected).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from inspector.domain.inspection import Inspection, Verdict
from inspector.domain.recipe import ArchivePolicy, Recipe
from inspector.storage import audit
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import describe_error, make_engine, make_session_factory
from inspector.storage.journal import Journal
from inspector.storage.quota import evict
from inspector.storage.records import (
    ARTIFACTS_MISSING,
    ARTIFACTS_PENDING,
    InspectionRecord,
    core_record,
    store_artifacts,
)
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)

_WAKE = object()
MB = 1024 * 1024
Released = Callable[[Inspection, bool], None]  # (inspection, durable): called once per submitted inspection
ARCHIVE_NICE = 10  # how much lower the archive thread's CPU priority is than the station's
QUOTA_RESUME = 0.95  # over the quota, eviction frees down to this share of it (so it does not run for every part)


def lower_thread_priority(increment: int = ARCHIVE_NICE) -> int | None:
    """Lower the calling thread's CPU priority by ``increment`` nice steps; its new nice value, or None where a
    thread's priority cannot be set on its own (only Linux gives each thread its own nice value)."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return None
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + increment))
        return os.getpriority(os.PRIO_PROCESS, thread)
    except OSError as exc:
        log.warning("the inspection writer's archive thread keeps its CPU priority: %s", exc)
        return None


@dataclass(frozen=True)
class JournalLimits:
    """How much the journal may hold, and how much free disk it must leave. HOLD comes before either bound."""

    max_entries: int = 100_000
    max_bytes: int = 2048 * MB
    hold_fraction: float = 0.9  # HOLD at this share of either bound; released below ``resume_fraction``
    resume_fraction: float = 0.8
    free_warn_bytes: int = 1024 * MB  # warn below this much free space on the journal's disk
    free_hold_bytes: int = 256 * MB  # HOLD below this, before the disk is full


@dataclass(frozen=True)
class WriterStats:
    submitted: int
    released: int  # verdicts handed back durable
    unrecorded: int  # verdicts handed back NOT durable (the journal could not take them)
    logged: int  # committed to the database (replayed entries included)
    journaled: int  # on disk in the journal, not yet committed
    queued: int  # submitted, not yet journaled
    artifacts_missing: int  # records kept without their images
    failed_attempts: int
    quarantined: int
    last_error: str | None
    db_ok: bool | None  # None until the first database attempt
    artifacts_not_kept: int = 0  # PASSes whose full pictures the archive policy did not keep (rows all the same)
    evicted: int = 0  # inspections whose pictures the archive quota evicted
    evicted_files: int = 0
    evicted_bytes: int = 0
    quota_alarms: int = 0  # times the archive stayed over its quota with only unreviewed FAILs' pictures left
    archive_bytes: int | None = None  # what the archive used at the last quota check (None: no quota)


def _is_bad_data(exc: BaseException) -> bool:
    """Errors that one record causes (retrying won't help), as opposed to an unreachable or locked database."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    return isinstance(exc, StatementError | ValueError | TypeError | KeyError)


@dataclass
class _Pending:
    segment: str
    record: InspectionRecord
    inspection: Inspection | None  # the pixels, until the artifacts are written
    settled_at: float = 0.0  # time.monotonic() when its pictures were settled: a partial batch waits from here


class InspectionWriter:
    """Logs inspections without ever losing one silently; see the module docstring.

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
        self._pending: list[_Pending] = []  # journaled, not committed, in journal order
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

    def _journal_leftovers(self) -> None:
        """Journal what a racing ``submit`` put in the queue after the thread's last look (replayed next start)."""
        batch, taken = [], 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            taken += 1
            if item is not _WAKE:
                batch.append(item)
        try:
            if batch:
                self._journal_batch(batch)
        finally:
            for _ in range(taken):
                self._queue.task_done()

    def _wake(self) -> None:
        for q in (self._queue, self._archive):
            try:
                q.put_nowait(_WAKE)
            except queue.Full:
                pass  # the thread has work anyway
        self._settled.set()

    def _drained(self) -> bool:
        return self._queue.unfinished_tasks == 0 and self._archive.unfinished_tasks == 0 and not self._pending

    def _notify(self) -> None:
        with self._idle:
            self._idle.notify_all()

    # ---- journal thread ----------------------------------------------------------------------------------------

    def _run_journal(self) -> None:
        try:
            while True:
                batch, taken = self._take_batch()
                try:
                    if batch:
                        self._journal_batch(batch)
                finally:
                    for _ in range(taken):  # done only once journaled and released: flush() waits for this
                        self._queue.task_done()
                self._check_space()
                self._notify()
                if self._closing.is_set() and self._queue.unfinished_tasks == 0:
                    return
        finally:
            self._journal_done.set()
            try:
                self._archive.put_nowait(_WAKE)  # the archive thread looks at once
            except queue.Full:
                pass

    def _take_batch(self) -> tuple[list[tuple[Inspection, Released | None]], int]:
        """Wait up to ``flush_interval_s`` for the first inspection, then take what is ready (a group commit);
        the batch and how many queue items it took."""
        batch: list[tuple[Inspection, Released | None]] = []
        try:
            item = self._queue.get(timeout=0.05 if self._closing.is_set() else self.flush_interval_s)
        except queue.Empty:
            return batch, 0
        taken = 0
        while True:
            taken += 1
            if item is not _WAKE:
                batch.append(item)
            if len(batch) >= self.batch_size:
                return batch, taken
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, taken

    def _journal_batch(self, batch: list[tuple[Inspection, Released | None]]) -> None:
        records = []
        for inspection, _ in batch:
            record = core_record(inspection)
            records.append(record if record.station else replace(record, station=self.station_name))
        refused = self._refusal(len(records))
        segment = None
        if refused is None:
            try:
                segment = self.journal.append_batch([r.to_dict() for r in records])
            except Exception as exc:  # a full or read-only disk: no record, so no PASS: the station holds
                refused = describe_error(exc)
                self.journal_error = refused
                log.error("journal %s refused %d records: %s", self.journal.folder, len(records), refused)
        if segment is None:
            self.unrecorded += len(batch)
            self._release(batch, durable=False)
            return
        self.journal_error = None
        with self._lock:
            items = [_Pending(segment, record, inspection) for record, (inspection, _) in zip(records, batch,
                                                                                             strict=True)]
            self._pending.extend(items)
            self._segment_left[segment] = len(items)
        self._update_bound()
        self._release(batch, durable=True)
        self._archive.put(items)

    def _release(self, batch: list[tuple[Inspection, Released | None]], durable: bool) -> None:
        for inspection, on_released in batch:
            self.released += int(durable)
            if on_released is None:
                continue
            try:
                on_released(inspection, durable)
            except Exception:  # noqa: BLE001 - a faulty listener must not stop the journal
                log.exception("release of inspection %s failed", inspection.uid)

    def _refusal(self, count: int) -> str | None:
        """Why the journal must not take ``count`` more records (its bounds), or None."""
        limits = self.limits
        if self.journaled + count > limits.max_entries:
            return f"journal full: {self.journaled:,} records (bound {limits.max_entries:,})"
        if self.journal.bytes >= limits.max_bytes:
            return f"journal full: {self.journal.bytes / MB:.0f} MB (bound {limits.max_bytes / MB:.0f} MB)"
        return None

    def _update_bound(self) -> None:
        limits = self.limits
        share = max(self.journaled / limits.max_entries, self.journal.bytes / limits.max_bytes)
        if share >= limits.hold_fraction:
            self._holding_for_bound = True
        elif share < limits.resume_fraction:
            self._holding_for_bound = False

    def _check_space(self) -> None:
        now = time.monotonic()
        if now - self._space_checked < 1.0:
            return
        self._space_checked = now
        try:
            self.free_bytes = shutil.disk_usage(self.journal.folder).free
        except OSError:
            return
        if self.free_bytes < self.limits.free_hold_bytes:
            self._holding_for_space = True
        elif self.free_bytes >= min(self.limits.free_warn_bytes, 2 * self.limits.free_hold_bytes):
            self._holding_for_space = False

    # ---- archive thread, then the store thread ---------------------------------------------------------------

    def _run_archive(self) -> None:
        self.archive_thread_id = threading.get_native_id()
        self.archive_thread_nice = lower_thread_priority(self.archive_nice)  # before any PNG: inference comes first
        try:
            while not (self._journal_done.is_set() and self._archive.unfinished_tasks == 0):
                try:
                    self._write_artifacts(self.flush_interval_s)
                except Exception as exc:  # keep going, say why
                    self.archive_error = describe_error(exc)
                    log.exception("inspection archive error")
                self._settled.set()
        finally:
            self._archive_done.set()
            self._settled.set()

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
        replayed: list[_Pending] = []
        for segment, entry in self.journal.pending(self._earlier_segments):
            try:
                record = InspectionRecord.from_dict(entry)
            except (TypeError, KeyError, ValueError) as exc:
                self._quarantine(segment, f"malformed journal entry: {exc!r}", entry)
                continue
            if record.artifacts == ARTIFACTS_PENDING:
                record = record.without_artifacts("the station stopped before the images were written")
            replayed.append(_Pending(segment, record, None, time.monotonic() - self.flush_interval_s))  # due now
        with self._lock:
            self._pending = replayed + self._pending
            for item in replayed:
                self._segment_left[item.segment] = self._segment_left.get(item.segment, 0) + 1
        if replayed:
            log.info("replaying %d journaled inspections from %s", len(replayed), self.journal.folder)

    def _write_artifacts(self, timeout: float) -> None:
        """Images of the next journaled batch (waits up to ``timeout`` for one); the segment is rewritten with
        them, so a restart still finds them."""
        try:
            items = self._archive.get(timeout=timeout) if timeout > 0 else self._archive.get_nowait()
        except queue.Empty:
            return
        try:
            if items is _WAKE:
                return
            try:
                batch = self.store.batch()  # one sync for the batch's pictures, before the journal links them
            except OSError:
                batch = contextlib.nullcontext()  # no archive: each record says why its pictures are missing
            records: list[InspectionRecord] = []
            try:
                with batch:
                    records.extend(self._with_artifacts(item) for item in items)
            except OSError as exc:  # the pictures were written but could not be made durable
                records = self._unsynced(records, exc)
            try:  # before the store thread may commit them and remove the segment
                self.journal.rewrite(items[0].segment, [record.to_dict() for record in records])
            except Exception as exc:  # noqa: BLE001 - the records are journaled already; this only adds links
                log.warning("journal segment %s keeps its records without image links: %s", items[0].segment,
                            describe_error(exc))
            settled = time.monotonic()
            for item, record in zip(items, records, strict=True):
                item.record = record
                item.settled_at = settled
                item.inspection = None  # settled: the store thread may commit it
        finally:
            self._archive.task_done()

    def _unsynced(self, records: list[InspectionRecord], exc: OSError) -> list[InspectionRecord]:
        """A batch whose pictures the archive could not sync: its records say their images are missing."""
        self.archive_error = describe_error(exc)
        log.error("archive %s: pictures of %d inspections could not be synced: %s", self.archive_root, len(records),
                  self.archive_error)
        kept = []
        for record in records:
            if record.artifacts != ARTIFACTS_MISSING:
                self.artifacts_missing += 1
                record = record.without_artifacts(f"archive: {self.archive_error}")
            kept.append(record)
        return kept

    def _with_artifacts(self, item: _Pending) -> InspectionRecord:
        if item.inspection is None:
            return item.record
        inspection = item.inspection
        key = (inspection.recipe, int(inspection.recipe_version))
        policy = self._policies.get(key, self.archive_policy)
        keep = True
        if inspection.verdict is Verdict.PASS:
            passes = self._passes_seen.get(key, 0)
            self._passes_seen[key] = passes + 1
            keep = policy.keeps_images(Verdict.PASS, passes)
        try:
            record = store_artifacts(item.record, inspection, self.store, self.thumbnail_side, keep_images=keep,
                                     keep_thumbnail=policy.pass_thumbnails, not_kept_why=policy.describe())
            self.artifacts_not_kept += not keep
            return record
        except Exception as exc:  # a full or read-only archive: keep the record, say the images are missing
            self.archive_error = describe_error(exc)
            self.artifacts_missing += 1
            if self.artifacts_missing == 1 or self.artifacts_missing % 100 == 0:
                log.error("archive %s: %d inspections without images: %s", self.archive_root,
                          self.artifacts_missing, self.archive_error)
            return item.record.without_artifacts(f"archive: {self.archive_error}")

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

    def _committable(self) -> list[_Pending]:
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

    def _commit(self, batch: list[_Pending]) -> None:
        with SqlAlchemyUnitOfWork(self._sessions).writing() as uow:
            existing = uow.inspections.existing_uids([item.record.uid for item in batch])
            rows = uow.inspections.add_all([item.record for item in batch if item.record.uid not in existing])
            audit.seal(uow.session, rows, self.station_name)  # a flipped verdict breaks this seal
            uow.commit()

    def _committed(self, batch: list[_Pending], logged: bool = True) -> None:
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

    def _write_singly(self, batch: Sequence[_Pending]) -> None:
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
