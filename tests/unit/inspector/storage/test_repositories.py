"""Repositories add and query but never commit; the unit of work owns the transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from inspector.storage.archive import ArtifactStore
from inspector.storage.orm import InspectionRow, StationRow
from inspector.storage.records import InspectionRecord, build_record
from inspector.storage.repositories import InspectionRepository, StationRepository
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.unit.inspector.storage.factories import EPOCH, make_inspection


def records(tmp_path: Path, n: int, **kwargs: object) -> list[InspectionRecord]:
    store = ArtifactStore(tmp_path / "archive")
    return [build_record(make_inspection(i, **kwargs), store) for i in range(n)]


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_repositories_never_commit(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    session = sessions()
    StationRepository(session).get_or_create("line-9")
    InspectionRepository(session).add(records(tmp_path, 1)[0])
    session.flush()
    session.close()  # no commit: nothing may remain
    assert count(sessions, StationRow) == 0 and count(sessions, InspectionRow) == 0


def test_unit_of_work_commits(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with SqlAlchemyUnitOfWork(sessions) as uow:
        for record in records(tmp_path, 3):
            uow.inspections.add(record)
        uow.commit()
    assert count(sessions, InspectionRow) == 3


def test_unit_of_work_rolls_back_on_exception_and_without_commit(sessions: sessionmaker[Session],
                                                                 tmp_path: Path) -> None:
    [record] = records(tmp_path, 1)
    with pytest.raises(RuntimeError, match="boom"), SqlAlchemyUnitOfWork(sessions) as uow:
        uow.inspections.add(record)
        uow.session.flush()
        raise RuntimeError("boom")
    with SqlAlchemyUnitOfWork(sessions) as uow:
        uow.inspections.add(record)
    assert count(sessions, InspectionRow) == 0 and count(sessions, StationRow) == 0


def test_get_or_create_is_idempotent(sessions: sessionmaker[Session]) -> None:
    for _ in range(2):
        with SqlAlchemyUnitOfWork(sessions) as uow:
            station = uow.stations.get_or_create("line-1")
            uow.recipes.get_or_create("washer", 3, {"threshold": 0.5})
            bundle = uow.bundles.get_or_create("b-1")
            user = uow.users.get_or_create("ana", "qa")
            uow.audit.add("login", "user", user.id, {"ok": True}, user=user)
            uow.commit()
    with SqlAlchemyUnitOfWork(sessions) as uow:
        assert uow.stations.get_or_create("line-1").id == station.id
        assert uow.recipes.get_or_create("washer", 3).body == {"threshold": 0.5}
        completed = uow.bundles.get_or_create("b-1", "demo", "anomaly", "patchcore", {"schema": 1})
        assert completed.id == bundle.id and completed.architecture == "patchcore"
        assert [a.action for a in uow.audit.list(entity="user")] == ["login", "login"]


def test_add_links_everything_and_reads_back(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    record = records(tmp_path, 2, size=160)[1]  # defective: FAIL with one region
    with SqlAlchemyUnitOfWork(sessions) as uow:
        uow.inspections.add(record)
        uow.commit()
    with SqlAlchemyUnitOfWork(sessions) as uow:
        row = uow.inspections.get_by_uid(record.uid)
        assert row is not None and uow.inspections.get(row.id) is row
        assert (row.station.name, row.recipe.name, row.recipe.version, row.bundle.bundle_id) == (
            "line-1", "washer", 3, "bundle-a")
        assert row.acquired_at == datetime.fromtimestamp(EPOCH + 1, UTC) and row.acquired_at.tzinfo is not None
        assert (row.verdict, row.reasons, row.reason_codes, row.score, row.image_threshold, row.pixel_threshold) == (
            "FAIL", ["score 0.90 >= 0.50"], ["score_over_threshold"], 0.9, 0.5, 0.4)
        assert [(m.position, m.bundle.bundle_id, m.score, m.image_threshold, m.pixel_threshold, m.error, m.latency_ms)
                for m in row.models] == [(0, "bundle-a", 0.9, 0.5, 0.4, None, 5.0)]
        assert (row.latency_acquire_ms, row.latency_inference_ms, row.latency_decision_ms,
                row.latency_total_ms, row.latencies) == (1.0, 5.0, 0.25, 7.5, {"queue": 0.5})
        assert (row.truth_defective, row.truth_defect, row.review_status) == (True, "scratch", "unreviewed")
        assert row.image.sha256 == record.image.sha256 and row.image.kind == "image"
        assert row.heatmap.kind == "anomaly_map" and row.thumbnail.kind == "thumbnail"
        assert (row.image.width, row.thumbnail.width, row.thumbnail.relpath) == (160, 128, record.thumbnail.relpath)
        assert [(r.x, r.y, r.width, r.height, r.area, r.class_name) for r in row.regions] == [
            (5, 6, 10, 12, 80, "scratch")]
        assert uow.inspections.existing_uids([record.uid, "nope"]) == {record.uid}


def test_a_thumbnail_equal_to_its_image_shares_the_artifact(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    [record] = records(tmp_path, 1, size=64)  # already below 128 px: the thumbnail is the image itself
    with SqlAlchemyUnitOfWork(sessions) as uow:
        row = uow.inspections.add(record)
        uow.commit()
        assert record.thumbnail.sha256 == record.image.sha256 and row.thumbnail_artifact_id == row.image_artifact_id


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    with SqlAlchemyUnitOfWork(sessions) as uow, pytest.raises(Exception, match="naive"):
        uow.session.add(StationRow(name="x", created=datetime(2024, 1, 1)))
        uow.session.flush()
