"""Repositories over one SQLAlchemy session. They add, flush and query; they never commit (the unit of work does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from inspector.storage import audit
from inspector.storage.archive import StoredArtifact
from inspector.storage.orm import (
    ArtifactRow,
    AuditRow,
    BundleRow,
    DefectRegionRow,
    InspectionModelRow,
    InspectionRow,
    RecipeRow,
    ReviewRow,
    StationRow,
    UserRow,
)
from inspector.storage.records import (
    ARTIFACTS_EVICTED,
    ARTIFACTS_MISSING,
    ARTIFACTS_NOT_KEPT,
    ARTIFACTS_WRITTEN,
    InspectionRecord,
)

STORED_STATES = (ARTIFACTS_WRITTEN, ARTIFACTS_NOT_KEPT, ARTIFACTS_EVICTED)  # stored as they are; pending: missing

RowT = TypeVar("RowT")


def _first_or_add(session: Session, model: type[RowT], lookup: dict[str, Any], defaults: dict[str, Any]) -> RowT:
    """The row matching ``lookup``, inserted when missing. Another station inserting the same row at the same
    moment (a shared PostgreSQL) loses nothing: the insert runs in a savepoint and the winner's row is read."""
    query = select(model).filter_by(**lookup).limit(1)
    row = session.scalars(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = model(**lookup, **defaults)
            session.add(row)
    except IntegrityError:
        row = session.scalars(query).first()
        if row is None:
            raise
    return row


class StationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[str, StationRow] = {}

    def get_or_create(self, name: str) -> StationRow:
        if name not in self._cache:
            self._cache[name] = _first_or_add(self.session, StationRow, {"name": name}, {})
        return self._cache[name]

    def list(self) -> Sequence[StationRow]:
        return self.session.scalars(select(StationRow).order_by(StationRow.name)).all()


class RecipeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[str, int], RecipeRow] = {}

    def get_or_create(self, name: str, version: int, body: dict[str, Any] | None = None) -> RecipeRow:
        """The recipe (name, version); ``body`` is stored when it is first seen, or fills an empty one."""
        key = (name, int(version))
        if key not in self._cache:
            row = _first_or_add(self.session, RecipeRow, {"name": name, "version": int(version)}, {"body": body or {}})
            if body and not row.body:
                row.body = body
            self._cache[key] = row
        return self._cache[key]


class BundleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[str, BundleRow] = {}

    def get_or_create(self, bundle_id: str, name: str | None = None, task: str = "unknown",
                      architecture: str = "unknown", manifest: dict[str, Any] | None = None) -> BundleRow:
        """The bundle row; a row first created from an inspection alone is completed when the details arrive."""
        row = self._cache.get(bundle_id)
        if row is None:
            row = _first_or_add(self.session, BundleRow, {"bundle_id": bundle_id}, {
                "name": name or bundle_id, "task": task, "architecture": architecture, "manifest": manifest or {}})
            self._cache[bundle_id] = row
        if manifest and not row.manifest:
            row.name, row.task, row.architecture, row.manifest = name or row.name, task, architecture, manifest
        return row


def _artifact_row(stored: StoredArtifact) -> ArtifactRow:
    return ArtifactRow(sha256=stored.sha256, kind=stored.kind, relpath=stored.relpath, bytes=stored.bytes,
                       width=stored.width, height=stored.height, media_type=stored.media_type)


class ArtifactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[str, ArtifactRow] = {}

    def get_or_create(self, stored: StoredArtifact) -> ArtifactRow:
        row = self._rows.get(stored.sha256)
        if row is None:
            row = _first_or_add(self.session, ArtifactRow, {"sha256": stored.sha256}, {
                "kind": stored.kind, "relpath": stored.relpath, "bytes": stored.bytes, "width": stored.width,
                "height": stored.height, "media_type": stored.media_type})
            self._rows[stored.sha256] = row
        return row

    def prefetch(self, stored: Sequence[StoredArtifact]) -> None:
        """Rows for many artifacts in two statements (a select and one insert), not two per artifact."""
        wanted = {a.sha256: a for a in stored if a.sha256 not in self._rows}
        if not wanted:
            return
        query = select(ArtifactRow).where(ArtifactRow.sha256.in_(list(wanted)))
        self._rows.update({row.sha256: row for row in self.session.scalars(query)})
        missing = [_artifact_row(a) for sha, a in wanted.items() if sha not in self._rows]
        if not missing:
            return
        try:
            with self.session.begin_nested():
                self.session.add_all(missing)
        except IntegrityError:  # another station stored some of them meanwhile: one at a time instead
            return
        self._rows.update({row.sha256: row for row in missing})

    def get(self, sha256: str) -> ArtifactRow | None:
        return self.session.scalars(select(ArtifactRow).where(ArtifactRow.sha256 == sha256)).first()


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_or_create(self, name: str, role: str = "operator") -> UserRow:
        return _first_or_add(self.session, UserRow, {"name": name}, {"role": role})

    def get(self, name: str) -> UserRow | None:
        return self.session.scalars(select(UserRow).where(UserRow.name == name)).first()


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, action: str, entity: str, entity_id: object = None, detail: dict[str, Any] | None = None,
            user: UserRow | None = None, at: datetime | None = None) -> AuditRow:
        """Append a row to the hash chain (``inspector.storage.audit``), in the unit of work's transaction."""
        if user is not None and user.id is None:
            self.session.flush()
        return audit.append(self.session, action, entity, entity_id, detail, None if user is None else user.id,
                            at or datetime.now(UTC))

    def list(self, entity: str | None = None, entity_id: object = None, limit: int = 100) -> Sequence[AuditRow]:
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if entity is not None:
            query = query.where(AuditRow.entity == entity)
        if entity_id is not None:
            query = query.where(AuditRow.entity_id == str(entity_id))
        return self.session.scalars(query).all()


class ReviewRepository:
    """QA reviews: append-only rows; the caller (a unit of work) updates the inspection's review status."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, inspection_id: int, user: UserRow, action: str, class_name: str | None = None,
            comment: str | None = None, at: datetime | None = None) -> ReviewRow:
        row = ReviewRow(inspection_id=inspection_id, user_id=user.id, action=action, class_name=class_name,
                        comment=comment, at=at or datetime.now(UTC))
        self.session.add(row)
        return row

    def list(self, inspection_id: int) -> Sequence[ReviewRow]:
        """Oldest first."""
        query = select(ReviewRow).where(ReviewRow.inspection_id == inspection_id)
        return self.session.scalars(query.order_by(ReviewRow.at, ReviewRow.id)).all()


class InspectionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.stations = StationRepository(session)
        self.recipes = RecipeRepository(session)
        self.bundles = BundleRepository(session)
        self.artifacts = ArtifactRepository(session)

    def add(self, record: InspectionRecord) -> InspectionRow:
        """Insert one inspection and its regions; station, recipe, bundle and artifact rows are made if missing."""
        latencies = dict(record.latencies_ms)
        row = InspectionRow(
            uid=record.uid,
            frame_id=record.frame_id,
            camera=record.camera,
            station=self.stations.get_or_create(record.station),
            recipe=self.recipes.get_or_create(record.recipe, record.recipe_version),
            bundle=self.bundles.get_or_create(record.bundle_id) if record.bundle_id else None,
            acquired_at=datetime.fromtimestamp(record.acquired_at, UTC),
            verdict=record.verdict,
            reasons=list(record.reasons),
            reason_codes=list(record.reason_codes),
            score=record.score,
            image_threshold=record.image_threshold,
            pixel_threshold=record.pixel_threshold,
            latency_acquire_ms=latencies.pop("acquire", None),
            latency_inference_ms=latencies.pop("inference", None),
            latency_decision_ms=latencies.pop("decision", None),
            latency_total_ms=latencies.pop("total", None),
            latencies=latencies,
            truth_defective=record.truth_defective,
            truth_defect=record.truth_defect,
            part_id=record.part_id,
            serial=record.serial,
            lot=record.lot,
            artifacts=record.artifacts if record.artifacts in STORED_STATES else ARTIFACTS_MISSING,
            artifacts_error=record.artifacts_error if record.artifacts != "pending" else (
                record.artifacts_error or "the images were not written before the record was stored"),
            image=self.artifacts.get_or_create(record.image) if record.image else None,
            heatmap=self.artifacts.get_or_create(record.heatmap) if record.heatmap else None,
            thumbnail=self.artifacts.get_or_create(record.thumbnail) if record.thumbnail else None,
            regions=[DefectRegionRow(x=r.x, y=r.y, width=r.width, height=r.height, area=r.area, score=r.score,
                                     class_name=r.class_name) for r in record.regions],
            models=[InspectionModelRow(position=m.position, bundle=self.bundles.get_or_create(m.bundle_id),
                                       score=m.score, image_threshold=m.image_threshold,
                                       pixel_threshold=m.pixel_threshold, error=m.error, latency_ms=m.latency_ms)
                    for m in record.models],
        )
        self.session.add(row)
        return row

    def add_all(self, records: Sequence[InspectionRecord]) -> list[InspectionRow]:
        """:meth:`add` for a batch, with the artifact rows looked up and made together."""
        self.artifacts.prefetch([a for r in records for a in (r.image, r.heatmap, r.thumbnail) if a is not None])
        return [self.add(record) for record in records]

    def existing_uids(self, uids: Sequence[str]) -> set[str]:
        """Which of ``uids`` are already stored (a journal entry committed before its deletion was recorded)."""
        if not uids:
            return set()
        return set(self.session.scalars(select(InspectionRow.uid).where(InspectionRow.uid.in_(list(uids)))))

    def get(self, inspection_id: int) -> InspectionRow | None:
        return self.session.get(InspectionRow, inspection_id)

    def get_by_uid(self, uid: str) -> InspectionRow | None:
        return self.session.scalars(select(InspectionRow).where(InspectionRow.uid == uid)).first()
