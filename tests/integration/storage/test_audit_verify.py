"""`inspector audit verify` finds every kind of tampering, on SQLite and on PostgreSQL, and names the row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update
from typer.testing import CliRunner

from inspector.cli import app as cli
from inspector.storage.database import make_engine
from inspector.storage.orm import AuditRow, InspectionRow
from tests.accounts import accounts
from tests.integration.storage.conftest import pg_url
from tests.unit.inspector.storage.factories import make_inspection
from tests.unit.inspector.storage.test_writer import writer_for


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with users, logins and six sealed inspections (three FAIL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = pg_url(schema=request.getfixturevalue("schema"))
    accounts(url)
    writer = writer_for(url, tmp_path)
    for i in range(6):
        writer.submit(make_inspection(i))
    assert writer.flush(20)
    writer.close()
    yield url


def verify(url: str):
    return CliRunner().invoke(cli, ["audit", "verify", "--database", url])


def _run(url: str, *statements) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        engine.dispose()


def _scalar(url: str, query):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


def test_an_intact_database_verifies(url: str) -> None:
    result = verify(url)
    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output and "every inspection sealed" in result.output


def _edit(url: str) -> None:
    _run(url, update(AuditRow).where(AuditRow.seq == 2).values(detail={"where": "station", "role": "admin"}))


def _delete(url: str) -> None:
    _run(url, delete(AuditRow).where(AuditRow.seq == 2))


def _delete_last(url: str) -> None:
    last = _scalar(url, select(func.max(AuditRow.seq)))
    _run(url, delete(AuditRow).where(AuditRow.seq == last))


def _insert(url: str) -> None:
    """A forged row slipped in as seq 2: the rows after it moved up one (highest first: seq is unique)."""
    last = _scalar(url, select(func.max(AuditRow.seq)))
    for seq in range(last, 1, -1):
        _run(url, update(AuditRow).where(AuditRow.seq == seq).values(seq=seq + 1))
    _run(url, insert(AuditRow).values(seq=2, prev_hash="0" * 64, row_hash="f" * 64, action="user.add",
                                      entity="user", entity_id="mallory", detail={"role": "admin"}))


def _reorder(url: str) -> None:
    _run(url, update(AuditRow).where(AuditRow.seq == 2).values(seq=-1),
         update(AuditRow).where(AuditRow.seq == 3).values(seq=2),
         update(AuditRow).where(AuditRow.seq == -1).values(seq=3))


def _flip(url: str) -> None:
    first_fail = _scalar(url, select(func.min(InspectionRow.id)).where(InspectionRow.verdict == "FAIL"))
    _run(url, update(InspectionRow).where(InspectionRow.id == first_fail).values(verdict="PASS"))


def _delete_inspection(url: str) -> None:
    first_fail = _scalar(url, select(func.min(InspectionRow.id)).where(InspectionRow.verdict == "FAIL"))
    _run(url, delete(InspectionRow).where(InspectionRow.id == first_fail))


TAMPERING: dict[str, tuple[Callable[[str], None], str]] = {
    "edited row": (_edit, "audit row seq 2 (id 2): edited (login.success user ada)"),
    "deleted row": (_delete, "audit row seq 3 (id 3): deleted (expected seq 2 here)"),
    "deleted last row": (_delete_last, "audit head"),
    "inserted row": (_insert, "audit row seq 2"),
    "reordered rows": (_reorder, "audit row seq 2 (id 3)"),
    "flipped verdict": (_flip, "inspection changed (its evidence no longer matches its seal (verdict now PASS))"),
    "deleted inspection": (_delete_inspection, "inspection deleted"),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_found_and_named(url: str, kind: str) -> None:
    tamper, named = TAMPERING[kind]
    tamper(url)
    result = verify(url)
    assert result.exit_code == 1, result.output
    first = result.output.strip().splitlines()[0]
    assert first.startswith("audit trail broken:") and named in first, result.output
    assert "Traceback" not in result.output
