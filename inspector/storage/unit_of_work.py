"""The unit of work: one session, one transaction, repositories on it; nothing is kept without ``commit()``."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import event
from sqlalchemy.orm import Session

from inspector.storage.repositories import AuditRepository, InspectionRepository, UserRepository


class SqlAlchemyUnitOfWork:
    """``with uow: ...; uow.commit()`` — leaving the block without commit (or by an exception) rolls back."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory
        self._session: Session | None = None
        self._write = False  # see writing()

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use it as a context manager")
        return self._session

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self._session is not None:
            raise RuntimeError("the unit of work is already open")
        self._session = session = self.session_factory()
        self._uncommitted = False
        if self._write:
            from inspector.storage.database import WRITE_INTENT

            session.connection(execution_options={WRITE_INTENT: True})
        event.listen(session, "after_flush", self._flushed)
        self.inspections = InspectionRepository(session)
        self.stations = self.inspections.stations
        self.recipes = self.inspections.recipes
        self.bundles = self.inspections.bundles
        self.artifacts = self.inspections.artifacts
        self.users = UserRepository(session)
        self.audit = AuditRepository(session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        session, self._session = self.session, None
        try:
            if exc is not None or self._uncommitted or session.new or session.dirty or session.deleted:
                session.rollback()  # discards (and expires) everything not committed
        finally:
            session.close()  # rows only read stay usable, detached

    def writing(self) -> SqlAlchemyUnitOfWork:
        """Say before ``with`` that this unit of work writes (SQLite: BEGIN IMMEDIATE, which waits its turn for
        the lock, where a transaction that read first would fail at once on its first write)."""
        self._write = True
        return self

    def _flushed(self, *_args: object) -> None:
        self._uncommitted = True

    def commit(self) -> None:
        self.session.commit()
        self._uncommitted = False

    def rollback(self) -> None:
        self.session.rollback()

