"""Storage against a real PostgreSQL: migrations match the models; the writer logs, rides out an outage."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from sqlalchemy import func, select, text

from inspector.review.context import ReviewContext
from inspector.review.queries import ReviewFilter
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import make_engine
from inspector.storage.journal import Journal
from inspector.storage.migrate import current, differences, head, upgrade
from inspector.storage.orm import InspectionRow
from inspector.storage.writer import InspectionWriter
from tests.integration.storage.conftest import TcpProxy, pg_url
from tests.unit.inspector.storage.factories import make_inspection

FAST = {"batch_size": 4, "flush_interval_s": 0.05, "retry_initial_s": 0.05, "retry_max_s": 0.3}


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(InspectionRow))
    finally:
        engine.dispose()


def test_migration_to_head_matches_the_models(schema: str) -> None:
    url = pg_url(schema=schema)
    assert current(url) is None
    upgrade(url)
    assert current(url) == head()
    assert differences(url) == []
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(text("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = :s"), {"s": schema}).scalars().all()
            kind = connection.execute(text("SELECT data_type FROM information_schema.columns WHERE table_schema = :s "
                                           "AND table_name = 'inspections' AND column_name = 'acquired_at'"),
                                      {"s": schema}).scalar()
    finally:
        engine.dispose()
    assert "inspections" in tables and "alembic_version" in tables  # created in the test schema, not public
    assert kind == "timestamp with time zone"


def test_writer_logs_inspections_and_the_review_can_filter_them(schema: str, tmp_path: Path) -> None:
    url = pg_url(schema=schema)
    upgrade(url)
    writer = InspectionWriter(url, tmp_path / "archive", tmp_path / "journal", "line-1", **FAST)
    for i in range(12):
        writer.submit(make_inspection(i, station="line-1" if i < 8 else "line-2"))
    assert writer.flush(15)
    writer.close()
    assert (writer.logged, writer.journaled, writer.failed_attempts, writer.db_ok) == (12, 0, 0, True)
    store = ArtifactStore(tmp_path / "archive")
    ctx = ReviewContext(url, "qa", tmp_path / "archive", migrate=False)
    try:
        assert ctx.queries.count() == 12
        assert ctx.queries.count(ReviewFilter(verdict="FAIL", station="line-1")) == 4
        kept = []
        for row in ctx.queries.iter_rows():
            detail = ctx.detail(row.id)
            assert detail.acquired_at.tzinfo is not None and detail.bundle == "bundle-a"
            assert [(m.position, m.bundle) for m in detail.models] == [(0, "bundle-a")]
            if detail.image is not None:
                assert all(store.verify(a) for a in (detail.image, detail.heatmap))
                kept.append((detail.frame_id, detail.verdict))
            else:  # the default archive policy: every FAIL and 1 PASS in 50 keep their pictures
                assert (detail.verdict, detail.artifacts) == ("PASS", "not_kept")
        assert sorted(kept) == [(0, "PASS"), *((i, "FAIL") for i in range(1, 12, 2))]
    finally:
        ctx.close()


def test_outage_at_runtime_is_journaled_and_recovered(schema: str, proxy: TcpProxy, tmp_path: Path) -> None:
    upgrade(pg_url(schema=schema))
    writer = InspectionWriter(pg_url(proxy.port, schema), tmp_path / "archive", tmp_path / "journal", "line-1",
                              **FAST)
    writer.submit(make_inspection(0))
    assert writer.flush(10) and writer.db_ok
    proxy.down()  # the server "goes away": open connections are cut and the port is closed
    for i in range(1, 7):
        writer.submit(make_inspection(i))
    assert wait_for(lambda: writer.failed_attempts >= 2 and writer.journaled == 6)
    assert writer.db_ok is False and writer.last_error
    assert len(Journal(tmp_path / "journal")) == 6 and count(pg_url(schema=schema)) == 1
    proxy.up()
    assert writer.flush(15)
    writer.close()
    assert (writer.logged, writer.journaled, writer.db_ok) == (7, 0, True)
    assert count(pg_url(schema=schema)) == 7 and len(Journal(tmp_path / "journal")) == 0


def test_unreachable_at_start_then_replayed_by_the_next_writer(schema: str, tmp_path: Path) -> None:
    upgrade(pg_url(schema=schema))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    dead = InspectionWriter(pg_url(closed, schema), tmp_path / "archive", tmp_path / "journal", "line-1", **FAST)
    for i in range(4):
        dead.submit(make_inspection(i))
    assert wait_for(lambda: dead.failed_attempts >= 1 and dead.journaled == 4)
    dead.close(timeout=0.2)
    assert len(Journal(tmp_path / "journal")) == 4
    live = InspectionWriter(pg_url(schema=schema), tmp_path / "archive", tmp_path / "journal", "line-1", **FAST)
    live.close(timeout=10)
    assert live.logged == 4 and count(pg_url(schema=schema)) == 4 and len(Journal(tmp_path / "journal")) == 0
