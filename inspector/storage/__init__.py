"""Persistence: the inspection database (SQLAlchemy + Alembic), artifacts on disk, the write-ahead journal.

Imports only ``inspector.domain``, ``inspector.render``, SQLAlchemy/Alembic/psycopg, numpy, OpenCV and the
standard library.
The station talks to storage through :class:`InspectionWriter`; the QA review through a unit of work.
"""

from inspector.storage.archive import ArtifactStore, StoredArtifact, thumbnail
from inspector.storage.database import DatabaseUnavailable, check_connection, default_sqlite_url, make_engine
from inspector.storage.journal import Journal
from inspector.storage.records import InspectionRecord
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork
from inspector.storage.writer import InspectionWriter, WriterStats

__all__ = [
    "ArtifactStore", "DatabaseUnavailable", "InspectionRecord", "InspectionWriter", "Journal",
    "SqlAlchemyUnitOfWork", "StoredArtifact", "WriterStats", "check_connection", "default_sqlite_url",
    "make_engine", "thumbnail",
]
