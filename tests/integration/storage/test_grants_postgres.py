"""On PostgreSQL, the role stations log in as (``inspector db grant``) cannot rewrite the evidence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from inspector.access.service import AccessService
from inspector.cli import app as cli
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import make_engine, make_session_factory
from inspector.storage.orm import AuditRow, InspectionRow
from inspector.storage.quota import evict
from tests.accounts import PASSWORDS, accounts
from tests.integration.storage.conftest import PostgresServer
from tests.unit.inspector.storage.factories import make_inspection
from tests.unit.inspector.storage.test_writer import writer_for


@pytest.fixture
def station_role(postgres: PostgresServer, schema: str) -> Iterator[str]:
    role = f"station_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**postgres.connect_kwargs(), autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        with psycopg.connect(**postgres.connect_kwargs(), autocommit=True) as connection:
            connection.execute(f'DROP OWNED BY "{role}"')  # its grants; the schema fixture drops the schema
            connection.execute(f'DROP ROLE "{role}"')


def _as(postgres: PostgresServer, role: str, schema: str) -> str:
    return f"postgresql://{role}@{postgres.host}:{postgres.port}/test?options=-csearch_path%3D{schema}"


def test_the_station_role_inserts_but_cannot_update_or_delete_evidence(postgres: PostgresServer, schema: str,
                                                                      station_role: str, tmp_path: Path) -> None:
    owner = postgres.url(schema=schema)
    accounts(owner)
    granted = CliRunner().invoke(cli, ["db", "grant", station_role, "--database", owner])
    assert granted.exit_code == 0, granted.output
    station = _as(postgres, station_role, schema)

    # What a station does works as that role: write inspections (sealed in the audit trail), log in, review.
    writer = writer_for(station, tmp_path)
    for i in range(4):
        writer.submit(make_inspection(i))
    assert writer.flush(20)
    writer.close()
    assert writer.stats().logged == 4
    access = AccessService.for_database(make_session_factory(make_engine(station)))
    assert access.authenticate("quinn", PASSWORDS["quinn"]).role == "qa"
    engine = make_engine(station)
    with engine.begin() as conn:
        conn.execute(update(InspectionRow).where(InspectionRow.id == 2).values(review_status="confirmed"))
    # ... and its archive quota: evict the PASS and the reviewed FAIL, keep the unreviewed FAIL's pictures.
    done = evict(make_session_factory(engine), ArtifactStore(tmp_path / "archive"), "line-1", 0)
    assert (done.passes, done.reviewed) == (2, 1) and done.files > 0  # the 2nd PASS had a thumbnail only
    with engine.connect() as conn:
        states = conn.execute(select(InspectionRow.id, InspectionRow.artifacts).order_by(InspectionRow.id)).all()
    assert [tuple(s) for s in states] == [(1, "evicted"), (2, "evicted"), (3, "evicted"), (4, "written")]

    # What would rewrite the evidence fails.
    for statement in (update(AuditRow).where(AuditRow.seq == 1).values(action="nothing"),
                      delete(AuditRow).where(AuditRow.seq == 1),
                      update(InspectionRow).where(InspectionRow.verdict == "FAIL").values(verdict="PASS"),
                      delete(InspectionRow)):
        with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(statement)
    engine.dispose()
    verified = CliRunner().invoke(cli, ["audit", "verify", "--database", station])
    assert verified.exit_code == 0, verified.output


def test_grants_refuse_sqlite_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "grant", "station", "--database", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2 and "grants apply to PostgreSQL" in result.output
