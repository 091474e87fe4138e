"""The inspection writer on SQLite: logs with artifacts, survives crashes and outages, loses nothing."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select

from inspector.domain.recipe import KEEP_EVERY_IMAGE
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import make_engine, make_session_factory
from inspector.storage.journal import Journal
from inspector.storage.orm import InspectionRow
from inspector.storage.records import build_record, store_artifacts
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork
from inspector.storage.writer import InspectionWriter, JournalLimits
from tests.unit.inspector.storage.factories import make_inspection

ROOT = Path(__file__).resolve().parents[4]
FAST = {"batch_size": 4, "flush_interval_s": 0.05, "retry_initial_s": 0.05, "retry_max_s": 0.2}


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def rows(url_or_engine: str | Engine) -> list[InspectionRow]:
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with SqlAlchemyUnitOfWork(make_session_factory(engine)) as uow:
            return list(uow.session.scalars(select(InspectionRow).order_by(InspectionRow.id)).unique())
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(InspectionRow))
    finally:
        engine.dispose()


def writer_for(url: str | Engine, tmp_path: Path, **kwargs: object) -> InspectionWriter:
    return InspectionWriter(url, tmp_path / "archive", tmp_path / "journal", "line-1", **{**FAST, **kwargs})


def test_logs_inspections_with_verified_artifacts(sqlite_url: str, tmp_path: Path) -> None:
    writer = writer_for(sqlite_url, tmp_path, archive_policy=KEEP_EVERY_IMAGE)
    for i in range(10):
        writer.submit(make_inspection(i, size=160))
    writer.submit(make_inspection(10, bundle=None))
    assert writer.flush(10)
    writer.close()
    stats = writer.stats()
    assert (stats.submitted, stats.logged, stats.journaled, stats.queued, stats.failed_attempts) == (11, 11, 0, 0, 0)
    assert stats.db_ok is True and len(Journal(tmp_path / "journal")) == 0
    logged = rows(sqlite_url)
    assert sorted(r.frame_id for r in logged) == list(range(11))
    store = ArtifactStore(tmp_path / "archive")
    for row in logged:
        artifacts = [row.image, row.thumbnail] + ([row.heatmap] if row.frame_id < 10 else [])
        for artifact in artifacts:
            assert store.path(artifact.relpath).is_file() and store.verify(artifact.sha256)
    plain = next(r for r in logged if r.frame_id == 10)
    assert plain.heatmap is None and plain.bundle is None and plain.score is None
    assert {r.verdict for r in logged} == {"PASS", "FAIL"}


def test_a_crash_after_journaling_is_replayed_on_restart(sqlite_url: str, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, time
        from inspector.storage.writer import InspectionWriter, JournalLimits
        from tests.unit.inspector.storage.factories import make_inspection
        w = InspectionWriter({sqlite_url!r}, {str(tmp_path / "archive")!r}, {str(tmp_path / "journal")!r},
                             "line-1", batch_size=1000, flush_interval_s=3600)
        for i in range(8):
            w.submit(make_inspection(i))
        while w.journaled < 8:
            time.sleep(0.01)
        os._exit(9)  # killed: no close(), no commit
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60, capture_output=True)
    assert result.returncode == 9, result.stderr.decode()
    assert len(Journal(tmp_path / "journal")) == 8 and count(sqlite_url) == 0
    writer = writer_for(sqlite_url, tmp_path)
    assert writer.flush(10)
    writer.close()
    assert writer.logged == 8 and count(sqlite_url) == 8 and len(Journal(tmp_path / "journal")) == 0


def test_a_crash_between_commit_and_journal_removal_adds_no_duplicates(sqlite_url: str, tmp_path: Path) -> None:
    store, journal = ArtifactStore(tmp_path / "archive"), Journal(tmp_path / "journal")
    records = [build_record(make_inspection(i), store) for i in range(5)]
    engine = make_engine(sqlite_url)
    with SqlAlchemyUnitOfWork(make_session_factory(engine)) as uow:
        for record in records[:3]:
            uow.inspections.add(record)
        uow.commit()
    engine.dispose()
    for record in records:
        journal.append(record.to_dict())
    writer = writer_for(sqlite_url, tmp_path)
    assert writer.flush(10)
    writer.close()
    assert count(sqlite_url) == 5 and len(journal) == 0


def test_an_outage_keeps_entries_journaled_then_recovers(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    down = threading.Event()

    @event.listens_for(engine, "do_connect")
    def refuse(*_args: object) -> None:
        if down.is_set():
            raise sqlite3.OperationalError("simulated outage")

    writer = writer_for(engine, tmp_path)
    down.set()
    engine.dispose()
    for i in range(6):
        writer.submit(make_inspection(i))
    assert wait_for(lambda: writer.failed_attempts >= 2 and writer.journaled == 6)
    assert writer.db_ok is False and "simulated outage" in writer.last_error
    assert len(Journal(tmp_path / "journal")) == 6 and count(sqlite_url) == 0
    assert not writer.flush(0.2)
    down.clear()
    assert writer.flush(10)
    writer.close()
    assert (writer.logged, writer.journaled, writer.db_ok) == (6, 0, True)
    assert count(sqlite_url) == 6 and len(Journal(tmp_path / "journal")) == 0
    engine.dispose()


def test_close_writes_everything_submitted(sqlite_url: str, tmp_path: Path) -> None:
    writer = writer_for(sqlite_url, tmp_path, batch_size=64, flush_interval_s=30)
    for i in range(20):
        writer.submit(make_inspection(i))
    writer.close(timeout=10)
    assert count(sqlite_url) == 20 and len(Journal(tmp_path / "journal")) == 0
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(make_inspection(99))


def test_artifacts_are_encoded_on_the_archive_thread_and_close_starts_an_unstarted_writer(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []

    def spy(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return store_artifacts(*args, **kwargs)

    monkeypatch.setattr("inspector.storage.writer.archive_thread.store_artifacts", spy)
    writer = writer_for(sqlite_url, tmp_path, autostart=False)
    writer.submit(make_inspection(0))
    writer.submit(make_inspection(1))
    assert threads == []  # submit only enqueues
    writer.close()
    assert threads == ["inspection-archive"] * 2 and count(sqlite_url) == 2


def test_close_during_an_outage_keeps_everything_for_the_next_start(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    event.listen(engine, "do_connect", lambda *a: (_ for _ in ()).throw(sqlite3.OperationalError("down")))
    writer = writer_for(engine, tmp_path)
    for i in range(5):
        writer.submit(make_inspection(i))
    writer.close(timeout=0.3)
    engine.dispose()
    assert len(Journal(tmp_path / "journal")) == 5 and writer.failed_attempts >= 1
    restarted = writer_for(sqlite_url, tmp_path)
    restarted.close(timeout=10)
    assert count(sqlite_url) == 5 and restarted.logged == 5


def test_an_entry_the_database_refuses_is_quarantined(sqlite_url: str, tmp_path: Path) -> None:
    store, journal = ArtifactStore(tmp_path / "archive"), Journal(tmp_path / "journal")
    for i in range(3):
        entry = build_record(make_inspection(i), store).to_dict()
        if i == 1:
            entry["verdict"] = "MAYBE"  # violates the verdict check constraint
        journal.append(entry)
    writer = writer_for(sqlite_url, tmp_path)
    assert writer.flush(10)
    writer.close()
    assert count(sqlite_url) == 2 and writer.quarantined == 1 and len(journal) == 0
    assert len(list((tmp_path / "journal" / "quarantine").glob("*.jsonl"))) == 1


def test_readers_do_not_block_the_writer(sqlite_url: str, tmp_path: Path) -> None:
    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0.1)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM inspections").fetchone()  # holds a read snapshot open
    writer = writer_for(sqlite_url, tmp_path)
    writer.submit(make_inspection(0))
    try:
        assert writer.flush(3) and writer.failed_attempts == 0
    finally:
        writer.close()
        reader.execute("ROLLBACK")
        reader.close()
    assert count(sqlite_url) == 1


def test_a_verdict_is_released_only_once_its_record_is_on_disk(sqlite_url: str, tmp_path: Path) -> None:
    writer = writer_for(sqlite_url, tmp_path, batch_size=16)
    seen: list[tuple[str, bool, bool]] = []

    def released(inspection, durable: bool) -> None:
        on_disk = {e["uid"] for _, e in Journal(tmp_path / "journal").pending()} | {
            r.uid for r in rows(sqlite_url)}
        seen.append((inspection.uid, durable, inspection.uid in on_disk))

    inspections = [make_inspection(i) for i in range(12)]
    for inspection in inspections:
        writer.submit(inspection, released)
    assert writer.flush(10)
    writer.close()
    assert [uid for uid, _, _ in seen] == [i.uid for i in inspections]
    assert all(durable and on_disk for _, durable, on_disk in seen)


def test_verdicts_that_arrive_together_share_one_fsync(sqlite_url: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    appended: list[int] = []
    real = Journal.append_batch
    monkeypatch.setattr(Journal, "append_batch", lambda self, entries: appended.append(len(entries))
                        or real(self, entries))
    writer = writer_for(sqlite_url, tmp_path, batch_size=32, autostart=False)
    for i in range(20):
        writer.submit(make_inspection(i))
    writer.close()
    assert appended == [20] and count(sqlite_url) == 20


def test_the_retry_back_off_is_capped_at_five_seconds_and_jittered(sqlite_url: str, tmp_path: Path) -> None:
    writer = writer_for(sqlite_url, tmp_path, retry_initial_s=0.2, retry_max_s=5.0, autostart=False)
    delays = []
    for _ in range(12):
        writer._failed(RuntimeError("down"))
        delays.append(writer._next_try - time.monotonic())
    assert max(delays) <= 5.0 and delays[-1] > 2.0
    assert len({round(d, 3) for d in delays[-5:]}) > 1  # not every station retries in step
    writer.close(timeout=0.1)


def test_an_unwritable_archive_keeps_the_record_and_says_the_images_are_missing(sqlite_url: str,
                                                                                tmp_path: Path) -> None:
    (tmp_path / "archive").write_text("a file where the archive folder should be")
    writer = writer_for(sqlite_url, tmp_path)
    released = []
    for i in range(3):
        writer.submit(make_inspection(i), lambda inspection, durable: released.append(durable))
    assert writer.flush(10)
    writer.close()
    logged = rows(sqlite_url)
    assert released == [True] * 3 and len(logged) == 3
    assert all(r.artifacts == "missing" and r.image is None and r.artifacts_error.startswith("archive: ")
               for r in logged)
    assert writer.artifacts_missing == 3 and "3 inspections kept without their images" in writer.warnings()[0]


def test_a_journal_that_refuses_writes_holds_and_releases_nothing_as_durable(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's side of a read-only journal (the real mount is in tests/integration/faults)."""
    writer = writer_for(sqlite_url, tmp_path)

    def refuse(*_args: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Journal, "append_batch", refuse)
    monkeypatch.setattr(Journal, "probe", refuse)
    released = []
    writer.submit(make_inspection(0), lambda inspection, durable: released.append(durable))
    assert writer.released_all(5) and released == [False] and writer.unrecorded == 1
    assert writer.hold_reason() == "journal unwritable (OSError: [Errno 30] Read-only file system)"
    assert not writer.retry_journal() and writer.hold_reason() is not None  # acknowledged, still refused
    monkeypatch.undo()
    assert writer.retry_journal() and writer.hold_reason() is None
    writer.submit(make_inspection(1), lambda inspection, durable: released.append(durable))
    assert writer.flush(10) and released == [False, True]
    writer.close()
    assert count(sqlite_url) == 1


def test_the_journal_holds_before_its_bound_and_refuses_past_it(tmp_path: Path) -> None:
    dead = "postgresql://nobody@127.0.0.1:1/none"  # no database: everything stays journaled
    writer = InspectionWriter(dead, tmp_path / "archive", tmp_path / "journal", "line-1", batch_size=1,
                              flush_interval_s=0.05, limits=JournalLimits(max_entries=10, free_warn_bytes=0,
                                                                          free_hold_bytes=0))
    released = []
    for i in range(12):
        writer.submit(make_inspection(i), lambda inspection, durable: released.append(durable))
        writer.released_all(5)
        if i == 8:
            assert writer.hold_reason().startswith("journal nearly full")  # 9 of 10: HOLD, before the bound
    assert released == [True] * 10 + [False] * 2 and writer.unrecorded == 2
    writer.close(timeout=0.1)


def test_flush_returns_only_once_the_batch_is_counted_as_logged(sqlite_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh-clone CI run saw flush() True with db_ok still None: the batch left the pending list first."""
    writer = writer_for(sqlite_url, tmp_path)
    remove = writer.journal.remove

    def slow_remove(segments):  # widens the window between leaving the pending list and the rest of the commit
        time.sleep(0.5)
        return remove(segments)

    monkeypatch.setattr(writer.journal, "remove", slow_remove)
    writer.submit(make_inspection(0))
    assert writer.flush(10)
    assert (writer.db_ok, writer.logged) == (True, 1)
    writer.close()


def test_a_batch_of_pictures_is_made_durable_by_one_sync(sqlite_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector.storage import archive

    syncs, fsyncs = [], []
    real_syncfs, real_fsync = archive.SYNCFS, os.fsync
    assert real_syncfs is not None, "Linux has syncfs(2)"
    monkeypatch.setattr(archive, "SYNCFS", lambda fd: syncs.append(fd) or real_syncfs(fd))
    writer = writer_for(sqlite_url, tmp_path, batch_size=32, autostart=False, archive_policy=KEEP_EVERY_IMAGE)
    for i in range(12):
        writer.submit(make_inspection(i, size=64))
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd) or real_fsync(fd))
    writer.close()
    logged = rows(sqlite_url)
    assert len(logged) == 12 and all(r.artifacts == "written" for r in logged)
    assert all(writer.store.verify(r.image.sha256) for r in logged)
    # 12 inspections x 3 pictures: one syncfs; the fsyncs left are the journal's (append, link rewrite, removal)
    assert len(syncs) == 1 and len(fsyncs) < 12


def test_pictures_that_cannot_be_synced_are_recorded_missing(sqlite_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector.storage import archive

    def failing_syncfs(fd: int) -> int:
        import ctypes

        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(archive, "SYNCFS", failing_syncfs)
    writer = writer_for(sqlite_url, tmp_path, archive_policy=KEEP_EVERY_IMAGE)
    released = []
    for i in range(3):
        writer.submit(make_inspection(i), lambda inspection, durable: released.append(durable))
    assert writer.flush(10)
    writer.close()
    logged = rows(sqlite_url)
    assert released == [True] * 3 and len(logged) == 3  # the records are journaled: the verdicts stand
    assert all(r.artifacts == "missing" and "syncfs" in r.artifacts_error for r in logged)
    assert writer.artifacts_missing == 3


def test_without_syncfs_each_picture_and_folder_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from inspector.storage import archive

    monkeypatch.setattr(archive, "SYNCFS", None)
    store = ArtifactStore(tmp_path / "archive")
    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: fsynced.append(fd) or real_fsync(fd))
    with store.batch():
        stored = [store.put_png(np.full((8, 8), v, np.uint8)) for v in range(3)]
        assert fsynced == []  # nothing synced while the batch is open
    folders = {s.relpath.split("/")[0] for s in stored}
    assert len(fsynced) == 3 + len(folders) and all(store.verify(s) for s in stored)


def test_the_database_is_written_at_the_station_priority_while_pictures_wait(sqlite_url: str, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Pictures are encoded at a lower priority; commits are not: a station closing on a loaded machine still
    logs what it inspected. The commits happen on another thread than the encoding, at the process's nice."""
    encoded, committed = [], []
    real_commit = InspectionWriter._commit

    def spy_store(*args: object, **kwargs: object) -> object:
        encoded.append(threading.get_native_id())
        return store_artifacts(*args, **kwargs)

    def spy_commit(self: InspectionWriter, batch: list) -> None:
        committed.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return real_commit(self, batch)

    monkeypatch.setattr("inspector.storage.writer.archive_thread.store_artifacts", spy_store)
    monkeypatch.setattr(InspectionWriter, "_commit", spy_commit)
    writer = writer_for(sqlite_url, tmp_path)
    for i in range(5):
        writer.submit(make_inspection(i))
    assert writer.flush(10)
    writer.close()
    assert count(sqlite_url) == 5 and encoded and committed
    assert {tid for tid, _ in committed}.isdisjoint(encoded)
    assert all(nice == os.getpriority(os.PRIO_PROCESS, 0) for _, nice in committed)


def test_the_store_thread_waits_for_pictures_instead_of_spinning(sqlite_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Records due for the database whose pictures are still being written: the store thread sleeps until the
    archive thread settles them (it spun on the CPU inference needs, which cost the station a third of its rate)."""
    looks = []
    real_committable = InspectionWriter._committable

    def slow_store(*args: object, **kwargs: object) -> object:
        time.sleep(0.6)
        return store_artifacts(*args, **kwargs)

    monkeypatch.setattr("inspector.storage.writer.archive_thread.store_artifacts", slow_store)
    monkeypatch.setattr(InspectionWriter, "_committable", lambda self: looks.append(1) or real_committable(self))
    writer = writer_for(sqlite_url, tmp_path, batch_size=2)
    for i in range(4):  # due at once (batch size reached), settled only after the slow pictures
        writer.submit(make_inspection(i))
    time.sleep(0.5)
    assert len(looks) < 20, f"the store thread looked {len(looks)} times in 0.5 s"
    writer.close()
    assert count(sqlite_url) == 4


def test_pictures_that_lag_still_reach_the_database_in_full_batches(sqlite_url: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With the archive behind, records were overdue once their pictures settled, and each settled batch of
    3-4 records was its own transaction; a partial batch now waits from when its pictures were settled."""
    sizes = []
    real_commit = InspectionWriter._commit

    def slow_store(*args: object, **kwargs: object) -> object:
        time.sleep(0.02)
        return store_artifacts(*args, **kwargs)

    monkeypatch.setattr("inspector.storage.writer.archive_thread.store_artifacts", slow_store)
    monkeypatch.setattr(InspectionWriter, "_commit", lambda self, batch: sizes.append(len(batch)) or
                        real_commit(self, batch))
    writer = writer_for(sqlite_url, tmp_path, batch_size=16, flush_interval_s=0.3)
    for i in range(64):  # 100 a second, pictures at 50 a second: the archive falls behind at once
        writer.submit(make_inspection(i))
        time.sleep(0.01)
    assert wait_for(lambda: writer.logged == 64, 10)
    writer.close()
    assert count(sqlite_url) == 64
    assert len(sizes) <= 8, f"{len(sizes)} transactions: {sizes}"
