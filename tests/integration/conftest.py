"""Fixtures every integration test may use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.integration.storage.conftest import pg


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the test server (tests/postgres_server.py), dropped afterwards."""
    server = pg()
    name = f"inspector_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server.url("postgres").replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    yield server.url(name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()
