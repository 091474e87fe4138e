"""What the archive keeps (the recipe's policy), at what CPU priority it encodes, and what its quota evicts (SQLite)."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from inspector.domain.inspection import Decision, Reason, ReasonCode, Verdict
from inspector.domain.recipe import KEEP_EVERY_IMAGE, ArchivePolicy, ModelRule, Recipe
from inspector.storage import audit
from inspector.storage.archive import ArtifactStore
from inspector.storage.orm import AuditRow, InspectionRow
from inspector.storage.quota import EVICTED_ACTION, evict
from inspector.storage.records import build_record
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork
from inspector.storage.writer import ARCHIVE_NICE
from tests.unit.inspector.storage.factories import make_inspection
from tests.unit.inspector.storage.test_writer import rows, wait_for, writer_for


def _files(row: InspectionRow) -> list:
    """The row's artifacts, each file once (a frame no larger than a thumbnail is its own thumbnail)."""
    found = {a.sha256: a for a in (row.image, row.heatmap, row.thumbnail) if a is not None}
    return list(found.values())


# ---- the policy ----------------------------------------------------------------------------------------------------

def test_every_fail_keeps_its_pictures_and_one_pass_in_n_does_every_part_keeps_its_row(sqlite_url: str,
                                                                                        tmp_path: Path) -> None:
    writer = writer_for(sqlite_url, tmp_path, archive_policy=ArchivePolicy(pass_every=5))
    verdicts = ["FAIL" if i % 6 == 5 else "PASS" for i in range(24)]  # 20 PASSes, 4 FAILs, interleaved
    for i, verdict in enumerate(verdicts):
        writer.submit(make_inspection(i, defective=verdict == "FAIL"))
    assert writer.flush(15)
    writer.close()
    logged = rows(sqlite_url)
    assert [r.verdict for r in logged] == verdicts  # a row for every part
    store = ArtifactStore(tmp_path / "archive")
    fails = [r for r in logged if r.verdict == "FAIL"]
    assert all(r.artifacts == "written" and r.image and r.heatmap and r.thumbnail for r in fails)
    assert {r.heatmap.kind for r in fails} == {"anomaly_map"}
    passes = [r for r in logged if r.verdict == "PASS"]
    kept = [n for n, r in enumerate(passes) if r.image is not None]
    assert kept == [0, 5, 10, 15]  # the 1st, 6th, 11th and 16th PASS
    assert all(passes[n].artifacts == "written" and passes[n].heatmap for n in kept)
    others = [r for n, r in enumerate(passes) if n not in kept]
    assert all(r.artifacts == "not_kept" and r.image is None and r.heatmap is None for r in others)
    assert all(r.thumbnail is not None and r.artifacts_error == "archive policy keeps 1 PASS image in 5"
               for r in others)
    assert all(store.verify(a.sha256) for r in logged for a in _files(r))
    stats = writer.stats()
    assert (stats.artifacts_not_kept, stats.artifacts_missing, stats.logged) == (16, 0, 24)
    assert not any("images" in w for w in writer.warnings())  # a policy is no fault


def test_each_recipe_keeps_by_its_own_policy(sqlite_url: str, tmp_path: Path) -> None:
    writer = writer_for(sqlite_url, tmp_path, archive_policy=KEEP_EVERY_IMAGE, autostart=False)
    writer.use_recipe(Recipe("bare", 3, (ModelRule("bundle-a"),), archive=ArchivePolicy(0, pass_thumbnails=False)))
    for i in range(4):
        writer.submit(make_inspection(i, defective=False, recipe="bare" if i < 2 else "washer", size=160))
    inspection = make_inspection(4, defective=False, recipe="bare", size=160)
    writer.submit(replace(inspection, decision=Decision(Verdict.FAIL, (Reason(ReasonCode.HOLD, "station on HOLD"),))))
    writer.start()
    assert writer.flush(15)
    writer.close()
    by_frame = {r.frame_id: r for r in rows(sqlite_url)}
    assert [(by_frame[i].artifacts, len(_files(by_frame[i]))) for i in range(5)] == [
        ("not_kept", 0), ("not_kept", 0),  # "bare": no PASS pictures, not even thumbnails
        ("written", 3), ("written", 3),  # "washer" (not registered): the writer's own policy, every image
        ("written", 3)]  # a hold REJECT is a FAIL: always kept
    assert by_frame[0].artifacts_error == "archive policy keeps no PASS images"


# ---- the CPU priority ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux gives a thread its own nice value")
def test_the_archive_thread_encodes_at_a_lower_cpu_priority_than_the_station(sqlite_url: str, tmp_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    if base + ARCHIVE_NICE > 19:
        pytest.skip(f"the tests already run at nice {base}: no room to lower a thread by {ARCHIVE_NICE}")
    writer = writer_for(sqlite_url, tmp_path)
    try:
        writer.submit(make_inspection(1))
        assert writer.flush(10)
        thread = writer.archive_thread_id
        assert thread is not None and thread != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, thread) == base + ARCHIVE_NICE == writer.archive_thread_nice
        assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the process (and the journal thread) keep theirs
    finally:
        writer.close()


# ---- the quota ----------------------------------------------------------------------------------------------------

def _log(sessions: sessionmaker[Session], store: ArtifactStore, inspections: list) -> list[str]:
    records = [build_record(i, store) for i in inspections]
    with SqlAlchemyUnitOfWork(sessions) as uow:
        audit.seal(uow.session, uow.inspections.add_all(records), "line-1")
        uow.commit()
    return [r.uid for r in records]


def _review(sessions: sessionmaker[Session], frames: dict[int, str]) -> None:
    with SqlAlchemyUnitOfWork(sessions) as uow:
        for frame, status in frames.items():
            uow.session.execute(update(InspectionRow).where(InspectionRow.frame_id == frame)
                                .values(review_status=status))
        uow.commit()


def _by_frame(sessions: sessionmaker[Session]) -> dict[int, InspectionRow]:
    with SqlAlchemyUnitOfWork(sessions) as uow:
        return {r.frame_id: r for r in uow.session.scalars(select(InspectionRow)).unique()}


def _bytes(store: ArtifactStore, row: InspectionRow) -> int:
    return sum(store.path(a.relpath).stat().st_size for a in _files(row))


def test_eviction_takes_passes_first_then_reviewed_fails_and_never_an_unreviewed_fail(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "archive")
    _log(sessions, store, [make_inspection(i, size=160) for i in range(12)])  # even: PASS, odd: FAIL; oldest first
    _review(sessions, {1: "confirmed", 3: "false_positive", 5: "confirmed", 7: "escalated"})
    before = _by_frame(sessions)
    paths = {f: [store.path(a.relpath) for a in _files(r)] for f, r in before.items()}
    sizes = {f: _bytes(store, r) for f, r in before.items()}
    passes = list(range(0, 12, 2))
    need = sum(sizes[f] for f in passes) + sizes[1] + 1
    total = store.usage()
    assert total == sum(p.stat().st_size for p in tmp_path.glob("archive/*/*"))

    done = evict(sessions, store, "line-1", total - need)
    assert (done.passes, done.reviewed) == (6, 2)  # every PASS, then the two oldest reviewed FAILs (1, 3)
    assert done.files == 8 * 3 and done.bytes == sum(sizes[f] for f in [*passes, 1, 3])
    assert store.usage() == total - done.bytes <= total - need
    after = _by_frame(sessions)
    for frame, row in after.items():
        evicted = frame in (*passes, 1, 3)
        assert row.artifacts == ("evicted" if evicted else "written"), frame
        assert (row.image is None and row.heatmap is None and row.thumbnail is None) == evicted
        assert all(p.exists() != evicted for p in paths[frame]), frame
        if evicted:
            assert row.artifacts_error.startswith("evicted by the archive quota at ")

    done = evict(sessions, store, "line-1", 0)  # nothing may go but reviewed FAIL 5
    assert (done.passes, done.reviewed, done.files) == (0, 1, 3)
    left = _by_frame(sessions)
    assert sorted(f for f, r in left.items() if r.artifacts == "written") == [7, 9, 11]  # escalated, unreviewed
    assert all(store.verify(a.sha256) for f in (7, 9, 11) for a in _files(left[f]))
    assert store.usage() == sum(_bytes(store, left[f]) for f in (7, 9, 11)) > 0
    with SqlAlchemyUnitOfWork(sessions) as uow:
        assert audit.verify(uow.session) == []  # the evidence and its seals are untouched
        evictions = uow.session.scalars(select(AuditRow).where(AuditRow.action == EVICTED_ACTION)).all()
    assert sorted(uid for row in evictions for uid in row.detail["inspections"]) == sorted(
        before[f].uid for f in (*passes, 1, 3, 5))


def test_a_file_another_record_still_links_is_not_deleted(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "archive")
    shown = make_inspection(2, size=160)  # a PASS; the same frame and map again as an unreviewed FAIL: same files
    failed = make_inspection(2, defective=True, size=160)
    other = make_inspection(4, size=160)  # a PASS with its own files, one of them still waiting in the journal
    _log(sessions, store, [shown, failed, other])
    rows_before = _by_frame(sessions)
    shared = [store.path(a.relpath) for a in _files(rows_before[2])]
    journaled = rows_before[4].image.sha256
    done = evict(sessions, store, "line-1", 0, keep={journaled})
    assert done.passes == 2 and done.reviewed == 0
    assert all(p.exists() for p in shared)  # the unreviewed FAIL still links them
    assert store.path(journaled).exists()  # a journaled record will link it
    assert done.files == 2 and store.usage() == sum(p.stat().st_size for p in tmp_path.glob("archive/*/*"))
    with SqlAlchemyUnitOfWork(sessions) as uow:
        states = uow.session.execute(select(InspectionRow.frame_id, InspectionRow.verdict, InspectionRow.artifacts)
                                     .order_by(InspectionRow.id)).all()
    assert [tuple(s) for s in states] == [(2, "PASS", "evicted"), (2, "FAIL", "written"), (4, "PASS", "evicted")]


def test_over_its_quota_the_writer_evicts_reports_and_raises_an_alarm_when_only_unreviewed_fails_are_left(
        sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = writer_for(sqlite_url, tmp_path, archive_policy=KEEP_EVERY_IMAGE, quota_check_s=0.02)
    try:
        for i in range(8):  # 0, 2, 4, 6 PASS; 1, 3, 5, 7 FAIL
            writer.submit(make_inspection(i, size=160))
        assert writer.flush(10)
        logged = {r.frame_id: r for r in rows(sqlite_url)}
        store = ArtifactStore(tmp_path / "archive")
        fail_files = [store.path(a.relpath) for f in (1, 3, 5, 7) for a in _files(logged[f])]
        total = store.usage()
        with caplog.at_level(logging.WARNING, logger="inspector.storage.writer"):
            writer.archive_max_bytes = total - 1  # a byte over: the oldest PASS goes (and a little more)
            assert wait_for(lambda: any("evicted the pictures of" in m for m in caplog.messages))
            stats = writer.stats()
            assert stats.evicted >= 1 and stats.evicted_files >= 3 and stats.evicted_bytes > 0
            assert stats.archive_bytes <= int((total - 1) * 0.95) and stats.quota_alarms == 0
            assert any("(1 PASS, 0 reviewed): 3 files" in m for m in caplog.messages), caplog.messages
            assert not any("quota" in w for w in writer.warnings())

            writer.archive_max_bytes = 1  # now only the unreviewed FAILs are left: none goes, an alarm instead
            assert wait_for(lambda: writer.quota_alarms == 1)
            assert wait_for(lambda: writer.evicted == 4)
        assert all(p.exists() for p in fail_files)
        assert any("only unreviewed FAILs' pictures left" in w for w in writer.warnings())
        assert writer.stats().quota_alarms == 1  # one alarm, however many checks find it still over
        assert any("none is deleted" in m for m in caplog.messages)
    finally:
        writer.close()
    states = {r.frame_id: r.artifacts for r in rows(sqlite_url)}
    assert states == {0: "evicted", 1: "written", 2: "evicted", 3: "written", 4: "evicted", 5: "written",
                      6: "evicted", 7: "written"}


def test_a_pass_not_kept_by_policy_still_counts_its_thumbnail_against_the_quota(sessions: sessionmaker[Session],
                                                                              tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "archive")
    inspection = make_inspection(2)
    from inspector.storage.records import core_record, store_artifacts

    record = store_artifacts(core_record(inspection), inspection, store, keep_images=False)
    with SqlAlchemyUnitOfWork(sessions) as uow:
        audit.seal(uow.session, uow.inspections.add_all([record]), "line-1")
        uow.commit()
    assert store.usage() == record.thumbnail.bytes
    done = evict(sessions, store, "line-1", 0)
    assert (done.passes, done.files, done.bytes, store.usage()) == (1, 1, record.thumbnail.bytes, 0)
    assert [r.artifacts for r in _by_frame(sessions).values()] == ["evicted"]
