"""The same window over PostgreSQL: rows page in, a keyboard review is stored (fresh schema, dropped after)."""

from __future__ import annotations

import uuid
from datetime import UTC

from PySide6.QtCore import Qt
from sqlalchemy import select

from inspector.gui.review.qt_review_window import QtReviewWindow
from inspector.review.context import ReviewContext
from inspector.storage.database import make_engine, make_session_factory
from inspector.storage.orm import ReviewRow
from tests.integration.storage.conftest import pg, pg_url
from tests.unit.inspector.review.factories import add_reviewers, fill


def test_review_window_on_postgresql(qtbot, review_template) -> None:
    server = pg()
    import psycopg

    _, artifacts, records = review_template
    schema = f"review_gui_{uuid.uuid4().hex[:10]}"
    connect = dict(server.connect_kwargs(), autocommit=True)
    with psycopg.connect(**connect) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    ctx = None
    try:
        url = pg_url(schema=schema)
        ctx = ReviewContext(url, "ana", artifacts)  # migrates the empty schema
        engine = make_engine(url)
        fill(make_session_factory(engine), records)
        add_reviewers(make_session_factory(engine))
        engine.dispose()
        window = QtReviewWindow(ctx, tz=UTC)
        qtbot.addWidget(window)
        window.resize(1600, 1000)
        window.show()
        qtbot.waitUntil(lambda: window.model.total == 40 and window.worker.idle(), timeout=10_000)
        fail = next(i for i in range(window.model.rowCount()) if window.model.row(i).verdict == "FAIL")
        window.table.setFocus()
        window.table.select_row(fail)
        qtbot.keyClick(window.table, Qt.Key.Key_1)
        qtbot.waitUntil(lambda: window.worker.idle() and window.model.row(fail).review_status == "confirmed")
        with ctx.sessions() as session:
            assert session.scalars(select(ReviewRow.action)).all() == ["confirm"]
        window.close()
    finally:
        if ctx is not None:
            ctx.close()
        with psycopg.connect(**connect) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
