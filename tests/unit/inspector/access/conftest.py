"""Accounts of every role in a migrated SQLite database per test."""

from __future__ import annotations

import pytest

from inspector.access.service import AccessService
from tests.accounts import accounts
from tests.unit.inspector.storage.conftest import engine, sessions, sqlite_url  # noqa: F401 - fixtures


@pytest.fixture
def access(sqlite_url: str) -> AccessService:  # noqa: F811
    return accounts(sqlite_url, max_failures=3)
