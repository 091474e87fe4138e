"""The inspection writer's journal thread: batches of records journaled with one fsync, then released."""

from __future__ import annotations

import logging
import queue
import shutil
import time
from dataclasses import replace

from inspector.domain.inspection import Inspection
from inspector.storage.database import describe_error
from inspector.storage.records import core_record
from inspector.storage.writer.common import MB, WAKE, Pending, Released

log = logging.getLogger(__name__)


class JournalThread:
    """The part of :class:`~inspector.storage.writer.InspectionWriter` that runs on its journal thread (the state
    is the writer's)."""

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
                self._archive.put_nowait(WAKE)  # the archive thread looks at once
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
            if item is not WAKE:
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
            items = [Pending(segment, record, inspection) for record, (inspection, _) in zip(records, batch,
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

    def _journal_leftovers(self) -> None:
        """Journal what a racing ``submit`` put in the queue after the thread's last look (replayed next start)."""
        batch, taken = [], 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            taken += 1
            if item is not WAKE:
                batch.append(item)
        try:
            if batch:
                self._journal_batch(batch)
        finally:
            for _ in range(taken):
                self._queue.task_done()

