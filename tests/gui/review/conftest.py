"""A real SQLite database with rendered parts for the review window, copied fresh for every test."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest

from inspector.gui.review.qt_review_window import QtReviewWindow
from inspector.review.context import ReviewContext
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import default_sqlite_url, make_engine, make_session_factory
from inspector.storage.migrate import upgrade
from inspector.storage.records import InspectionRecord
from tests.unit.inspector.review.factories import add_reviewers, fill, make_records


@pytest.fixture(scope="session")
def review_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[InspectionRecord]]:
    """(database file, artifact root, records): 40 inspections over a day, built once."""
    root = tmp_path_factory.mktemp("review-gui")
    store = ArtifactStore(root / "artifacts")
    records = make_records(store, 40)
    url = default_sqlite_url(root)
    upgrade(url)
    engine = make_engine(url)
    fill(make_session_factory(engine), records)
    add_reviewers(make_session_factory(engine))
    engine.dispose()
    return root / "inspector.db", store.root, records


@pytest.fixture
def review_url(review_template, tmp_path: Path) -> str:
    db, _, _ = review_template
    shutil.copy(db, tmp_path / "inspector.db")
    return default_sqlite_url(tmp_path)


@pytest.fixture
def make_review_window(qtbot, review_template, review_url: str) -> Iterator[Callable[..., QtReviewWindow]]:
    """Build shown review windows over a fresh copy of the database (UTC times, so labels are stable)."""
    _, artifacts, _ = review_template
    contexts: list[ReviewContext] = []

    def make(url: str = review_url, page_size: int = 200, size: tuple[int, int] = (1600, 1000)) -> QtReviewWindow:
        ctx = ReviewContext(url, "ana", artifacts)
        contexts.append(ctx)
        window = QtReviewWindow(ctx, tz=UTC, page_size=page_size)
        qtbot.addWidget(window)
        window.resize(*size)
        window.show()
        qtbot.waitUntil(lambda: window.model.rowCount() > 0 and window.worker.idle() and window.slow_worker.idle(),
                        timeout=10_000)
        return window

    yield make
    for ctx in contexts:
        ctx.close()
