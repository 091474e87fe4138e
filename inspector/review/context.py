"""One review session: engine, sessions, artifact store, reviewer; queries, charts and reviews on them."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL

from inspector.review.aggregates import ChartQueries
from inspector.review.detail import DetailPictures, InspectionDetail, load_detail, load_pictures
from inspector.review.queries import ReviewQueries
from inspector.review.service import ReviewService
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import check_connection, make_engine, make_session_factory, normalize_url
from inspector.storage.migrate import upgrade
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

ARTIFACTS_ENV = "INSPECTOR_ARTIFACTS"
DEFAULT_DATA_DIR = Path("data/station")


def default_artifacts_root(url: str | URL) -> Path:
    """Where the station stored the pictures: $INSPECTOR_ARTIFACTS, else next to a SQLite file, else the data dir."""
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV]).expanduser()
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).expanduser().resolve().parent / "artifacts"
    return Path(os.environ.get("INSPECTOR_STATION__DATA_DIR", str(DEFAULT_DATA_DIR))) / "artifacts"


class ReviewContext:
    """Everything a review window or an export needs; thread-safe (each call opens its own session)."""

    def __init__(self, url: str | URL, reviewer: str, artifacts: str | Path | None = None, *,
                 migrate: bool = True, check: bool = True) -> None:
        if check:
            check_connection(url)  # DatabaseUnavailable, one line, before anything else
        if migrate:
            upgrade(url)  # additive: the reviews table and the paging indexes (as the station does on start)
        self.url = url
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.store = ArtifactStore(artifacts if artifacts is not None else default_artifacts_root(url))
        self.queries = ReviewQueries(self.sessions)
        self.charts = ChartQueries(self.queries)
        self.reviews = ReviewService(self.uow, reviewer)

    @property
    def reviewer(self) -> str:
        return self.reviews.reviewer

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.sessions)

    def detail(self, inspection_id: int) -> InspectionDetail | None:
        return load_detail(self.sessions, inspection_id)

    def detail_with_pictures(self, inspection_id: int) -> tuple[InspectionDetail | None, DetailPictures | None]:
        detail = self.detail(inspection_id)
        return detail, None if detail is None else load_pictures(self.store, detail)

    def close(self) -> None:
        self.engine.dispose()
