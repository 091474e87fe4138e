"""Users and roles on a real SQLite database: who may open the QA review, and the audited role changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspector.cli import app
from inspector.review.access import UnknownRole, list_users, may_review, set_role
from inspector.storage.database import default_sqlite_url, make_engine, make_session_factory
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork


def test_roles_decide_who_may_review_and_changes_are_audited(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    assert may_review(url, "quinn") is False  # no database yet
    set_role(url, "olga", "operator")
    set_role(url, "quinn", "operator")
    assert may_review(url, "quinn") is False
    set_role(url, "quinn", "qa")
    set_role(url, "ada", "admin")
    assert [(u.name, u.role) for u in list_users(url)] == [("ada", "admin"), ("olga", "operator"), ("quinn", "qa")]
    assert may_review(url, "quinn") and may_review(url, "ada")
    assert not may_review(url, "olga") and not may_review(url, "nobody") and not may_review(url, "")
    engine = make_engine(url)
    with SqlAlchemyUnitOfWork(make_session_factory(engine)) as uow:
        changes = [(a.entity_id, a.detail) for a in uow.audit.list("user")]
    engine.dispose()
    assert ("quinn", {"from": "operator", "to": "qa"}) in changes


def test_unknown_role_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    set_role(url, "quinn", "qa")
    with pytest.raises(UnknownRole, match="role 'boss': expected one of operator, qa, ml, admin"):
        set_role(url, "quinn", "boss")
    assert [(u.name, u.role) for u in list_users(url)] == [("quinn", "qa")]


def test_users_cli_sets_lists_and_reports_a_bad_role_in_one_line(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["users", "set", "quinn", "--role", "qa", "--database", url])
    assert result.exit_code == 0 and "quinn: qa" in result.output
    result = runner.invoke(app, ["users", "list", "--database", url])
    assert result.exit_code == 0 and "quinn" in result.output and "qa" in result.output
    result = runner.invoke(app, ["users", "set", "quinn", "--role", "boss", "--database", url])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.strip()] == [
        "error: role 'boss': expected one of operator, qa, ml, admin"]
