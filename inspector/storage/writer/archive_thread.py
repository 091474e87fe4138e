"""The inspection writer's archive thread: each record's pictures, as the recipe's archive policy says."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time

from inspector.domain.inspection import Verdict
from inspector.storage.database import describe_error
from inspector.storage.records import ARTIFACTS_MISSING, InspectionRecord, store_artifacts
from inspector.storage.writer.common import WAKE, Pending

log = logging.getLogger(__name__)

ARCHIVE_NICE = 10  # how much lower the archive thread's CPU priority is than the station's


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


class ArchiveThread:
    """The part of :class:`~inspector.storage.writer.InspectionWriter` that runs on its archive thread (the state
    is the writer's)."""

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

    def _write_artifacts(self, timeout: float) -> None:
        """Images of the next journaled batch (waits up to ``timeout`` for one); the segment is rewritten with
        them, so a restart still finds them."""
        try:
            items = self._archive.get(timeout=timeout) if timeout > 0 else self._archive.get_nowait()
        except queue.Empty:
            return
        try:
            if items is WAKE:
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

    def _with_artifacts(self, item: Pending) -> InspectionRecord:
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

