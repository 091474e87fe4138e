"""The archive quota: evict the oldest pictures until the archive fits, never those of an unreviewed FAIL.

Order: the pictures of unreviewed PASSes, oldest first; then those of reviewed inspections (a FAIL confirmed or
marked a false reject, a PASS marked an escape), oldest first. An unreviewed FAIL (or one escalated) keeps its
pictures whatever the quota: when only those are left the caller raises an alarm instead.

An evicted inspection keeps its row (verdict, scores, reasons, regions: its sealed evidence); its picture links are
cleared and ``artifacts`` says "evicted", with the quota and the time in ``artifacts_error``. Artifacts are
content-addressed and may be shared: a file is deleted only when no inspection left in the database links it and
no record still waiting in the journal (``keep``) does. The database is updated (and the eviction audited) before
any file goes, so a crash in between leaves a file too many, never a link to nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from inspector.storage import audit
from inspector.storage.archive import ArtifactStore
from inspector.storage.orm import ArtifactRow, InspectionRow, StationRow
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)

EVICTED_ACTION = "artifacts.evicted"
REVIEWED = ("confirmed", "false_positive", "false_negative")  # not "unreviewed", not "escalated"
EVICTABLE = ("written", "not_kept")
CHUNK = 64

Insp = InspectionRow
_LINKS = (Insp.image_artifact_id, Insp.heatmap_artifact_id, Insp.thumbnail_artifact_id)
TIERS = (("PASS", (Insp.verdict == "PASS", Insp.review_status == "unreviewed")),
         ("reviewed", (Insp.review_status.in_(REVIEWED),)))


@dataclass
class Eviction:
    """What one pass of :func:`evict` removed: inspections (unreviewed PASSes, reviewed ones), files and bytes."""

    passes: int = 0
    reviewed: int = 0
    files: int = 0
    bytes: int = 0

    @property
    def inspections(self) -> int:
        return self.passes + self.reviewed


def evict(sessions: Callable[[], Session], store: ArtifactStore, station: str, target_bytes: int,
          keep: Collection[str] = (), why: str = "archive quota") -> Eviction:
    """Evict pictures of ``station``'s inspections, oldest first in the order above, until ``store`` uses at most
    ``target_bytes`` or nothing evictable is left. ``keep``: sha256 of files that must stay (journaled records)."""
    done = Eviction()
    for tier, condition in TIERS:
        while store.usage() > target_bytes:
            count = _evict_chunk(sessions, store, station, condition, store.usage() - target_bytes, keep, why, done)
            if count == 0:
                break
            if tier == "PASS":
                done.passes += count
            else:
                done.reviewed += count
    return done


def _evict_chunk(sessions: Callable[[], Session], store: ArtifactStore, station: str, condition: tuple[Any, ...],
                 need: int, keep: Collection[str], why: str, done: Eviction) -> int:
    """Evict the oldest inspections under ``condition`` whose files come to about ``need`` bytes (at most
    :data:`CHUNK`); how many were evicted."""
    with SqlAlchemyUnitOfWork(sessions).writing() as uow:
        session = uow.session
        station_id = session.scalar(select(StationRow.id).where(StationRow.name == station))
        if station_id is None:
            return 0
        where = (Insp.station_id == station_id, Insp.artifacts.in_(EVICTABLE), or_(*(c.is_not(None) for c in _LINKS)),
                 *condition)
        rows = session.execute(select(Insp.id, Insp.uid, *_LINKS).where(*where)
                               .order_by(Insp.acquired_at, Insp.id).limit(CHUNK)).all()
        if not rows:
            return 0
        links = {row.id: {a for a in (row.image_artifact_id, row.heatmap_artifact_id, row.thumbnail_artifact_id)
                          if a is not None} for row in rows}
        sizes = {a.id: a.bytes for a in session.execute(select(ArtifactRow.id, ArtifactRow.bytes)
                                                        .where(ArtifactRow.id.in_(set().union(*links.values()))))}
        chosen, counted, estimate = [], set(), 0
        for row in rows:  # the oldest first, until their files would free what is needed
            chosen.append(row)
            estimate += sum(sizes.get(a, 0) for a in links[row.id] - counted)
            counted |= links[row.id]
            if estimate >= need:
                break
        ids = [row.id for row in chosen]
        at = datetime.now(UTC)
        session.execute(update(Insp).where(Insp.id.in_(ids), *where)  # again: a review since the select counts
                        .values(artifacts="evicted", artifacts_error=f"evicted by the {why} at {at:%Y-%m-%d %H:%M} UTC",
                                image_artifact_id=None, heatmap_artifact_id=None, thumbnail_artifact_id=None)
                        .execution_options(synchronize_session=False))
        evicted = set(session.scalars(select(Insp.id).where(Insp.id.in_(ids), Insp.artifacts == "evicted")))
        freed = set().union(*(links[i] for i in evicted)) if evicted else set()
        for column in _LINKS:  # still linked by an inspection that keeps its pictures (any station's): stays
            freed -= set(session.scalars(select(column).where(column.in_(freed)))) if freed else set()
        files = session.execute(select(ArtifactRow.sha256, ArtifactRow.relpath).where(ArtifactRow.id.in_(freed))
                                ).all() if freed else []
        files = [f for f in files if f.sha256 not in keep]
        uids = sorted(row.uid for row in chosen if row.id in evicted)
        if uids:
            audit.append(session, EVICTED_ACTION, "inspections", station,
                         {"reason": why, "inspections": uids, "files": len(files)})
        uow.commit()
    for file in files:  # only now: the database no longer links them
        try:
            freed_bytes = store.delete(file.relpath)
        except OSError as exc:
            log.warning("archive %s: %s could not be deleted: %s", store.root, file.relpath, exc)
            continue
        done.files += freed_bytes > 0
        done.bytes += freed_bytes
    return len(uids)
