"""Users of every role in a database, with their passwords (the test's own, never the demo's)."""

from __future__ import annotations

from inspector.access.service import AccessService, UserSession
from inspector.storage.database import make_engine, make_session_factory
from inspector.storage.migrate import upgrade

PASSWORDS = {"ada": "admin-pass-123", "olga": "operator-pass-1", "quinn": "qa-review-pass-1",
             "eve": "engineer-pass-1"}
ROLE = {"ada": "admin", "olga": "operator", "quinn": "qa", "eve": "engineer"}
USER_OF = {role: name for name, role in ROLE.items()}


def accounts(url: str, **kwargs) -> AccessService:
    """Migrate ``url`` and add an admin (ada, by bootstrap), an operator (olga), QA (quinn) and an engineer (eve)."""
    upgrade(url)
    access = AccessService.for_database(make_session_factory(make_engine(url)))
    if kwargs:
        access = AccessService(access.uow_factory, **kwargs)
    access.bootstrap("ada", PASSWORDS["ada"])
    admin = access.authenticate("ada", PASSWORDS["ada"])
    for name in ("olga", "quinn", "eve"):
        access.add_user(admin, name, ROLE[name], PASSWORDS[name])
    return access


def login(access: AccessService, role: str) -> UserSession:
    name = USER_OF[role]
    return access.authenticate(name, PASSWORDS[name])
