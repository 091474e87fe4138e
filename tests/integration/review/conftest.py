"""The review queries on SQLite and on PostgreSQL: one fresh database (or schema) per backend per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from inspector.review.context import ReviewContext
from inspector.storage.archive import ArtifactStore
from inspector.storage.audit import GENESIS
from inspector.storage.database import default_sqlite_url, make_engine, make_session_factory
from inspector.storage.migrate import upgrade
from inspector.storage.records import InspectionRecord
from tests.integration.storage.conftest import pg, pg_url
from tests.unit.inspector.review.factories import add_reviewers, fill, make_records

TABLES = ("reviews", "defect_regions", "inspection_models", "inspections", "audit_log", "recipe_signatures", "users",
          "artifacts", "model_bundles", "recipes", "stations")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh schema in PostgreSQL's ``test`` database."""
    if request.param == "sqlite":
        url = default_sqlite_url(tmp_path_factory.mktemp("review-sqlite"))
        upgrade(url)
        yield url
        return
    server = pg()
    import psycopg

    schema = f"review_test_{uuid.uuid4().hex[:10]}"
    connect = dict(server.connect_kwargs(), autocommit=True)
    with psycopg.connect(**connect) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = pg_url(schema=schema)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(**connect) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("review-archive"))


@pytest.fixture(scope="session")
def records(archive: ArtifactStore) -> list[InspectionRecord]:
    return make_records(archive, 40)


def _empty(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            else:
                for table in TABLES:
                    connection.execute(text(f"DELETE FROM {table}"))
            connection.execute(text("UPDATE audit_head SET seq = 0, last_hash = :genesis"), {"genesis": GENESIS})
    finally:
        engine.dispose()


@pytest.fixture
def filled(backend_url: str, archive: ArtifactStore, records: list[InspectionRecord]) -> Iterator[
        tuple[ReviewContext, dict[str, int]]]:
    """A review context over the 40 standard records (tables emptied first); ids by uid."""
    _empty(backend_url)
    engine = make_engine(backend_url)
    ids = fill(make_session_factory(engine), records)
    add_reviewers(make_session_factory(engine))
    engine.dispose()
    ctx = ReviewContext(backend_url, "ana", Path(archive.root), migrate=False, check=False)
    yield ctx, ids
    ctx.close()
