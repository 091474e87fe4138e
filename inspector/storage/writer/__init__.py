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

from inspector.storage.writer.archive_thread import ARCHIVE_NICE, lower_thread_priority
from inspector.storage.writer.common import MB, JournalLimits, Released, WriterStats
from inspector.storage.writer.inspection_writer import InspectionWriter

__all__ = ["ARCHIVE_NICE", "MB", "InspectionWriter", "JournalLimits", "Released", "WriterStats",
           "lower_thread_priority"]
