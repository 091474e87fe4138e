"""What the inspection writer's threads share: its bounds, its figures, and a journaled record on its way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inspector.domain.inspection import Inspection
from inspector.storage.records import InspectionRecord

MB = 1024 * 1024
WAKE = object()  # put on a thread's queue so that it looks at once
Released = Callable[[Inspection, bool], None]  # (inspection, durable): called once per submitted inspection


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


@dataclass
class Pending:
    """A journaled record, until the database has it."""

    segment: str
    record: InspectionRecord
    inspection: Inspection | None  # the pixels, until the artifacts are written
    settled_at: float = 0.0  # time.monotonic() when its pictures were settled: a partial batch waits from here
