"""Who may review: users and their roles in the inspection database (qa and admin may open the QA review)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from inspector.storage.database import check_connection, make_engine, make_session_factory
from inspector.storage.migrate import upgrade
from inspector.storage.orm import ROLES, UserRow
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

REVIEW_ROLES = ("qa", "admin")


class UnknownRole(ValueError):
    """A role that is not one of ``ROLES``."""


@dataclass(frozen=True)
class User:
    name: str
    role: str


def _uow(url: str) -> tuple[SqlAlchemyUnitOfWork, object]:
    check_connection(url)
    upgrade(url)
    engine = make_engine(url)
    return SqlAlchemyUnitOfWork(make_session_factory(engine)), engine


def set_role(url: str, name: str, role: str) -> User:
    """Create the user, or change an existing user's role; the change is written to the audit log."""
    if role not in ROLES:
        raise UnknownRole(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if not name.strip():
        raise UnknownRole("user name: expected a non-empty name")
    uow, engine = _uow(url)
    try:
        with uow:
            user = uow.users.get(name)
            before = None if user is None else user.role
            if user is None:
                user = uow.users.get_or_create(name, role)
            user.role = role
            uow.audit.add("set_role", "user", name, {"from": before, "to": role})
            uow.commit()
            return User(name, role)
    finally:
        engine.dispose()


def list_users(url: str) -> Sequence[User]:
    uow, engine = _uow(url)
    try:
        with uow:
            rows = uow.session.scalars(select(UserRow).order_by(UserRow.name)).all()
            return [User(row.name, row.role) for row in rows]
    finally:
        engine.dispose()


def may_review(url: str, name: str | None) -> bool:
    """True when ``name`` is a user with the qa or admin role; False for anyone else or an unreachable database."""
    if not name:
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            role = conn.execute(select(UserRow.role).where(UserRow.name == name)).scalar_one_or_none()
    except Exception:  # noqa: BLE001 - no database or no users table yet: nobody gets the review
        return False
    finally:
        engine.dispose()
    return role in REVIEW_ROLES
