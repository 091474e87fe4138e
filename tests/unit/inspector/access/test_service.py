"""Logins, lockout, the permission of each role and the audit rows they leave, on a real SQLite database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inspector.access.passwords import WeakPassword
from inspector.access.roles import Permission
from inspector.access.service import AccessError, AccessService, AuthenticationFailed, PermissionDenied
from inspector.storage.orm import AuditRow, UserRow
from tests.accounts import PASSWORDS, login

# What the README's permission table says, written out here so that a change to the roles fails this test.
MAY = {
    "operator": {"STATION_RUN", "COUNTERS_RESET", "ALARMS_ACKNOWLEDGE"},
    "qa": {"REVIEW", "EXPORT"},
    "engineer": {"RECIPE_CHANGE", "MODEL_DEPLOY", "STATION_RUN", "COUNTERS_RESET", "ALARMS_ACKNOWLEDGE"},
    "admin": {"USERS_MANAGE"},
}


def _actions(access: AccessService) -> list[tuple[str, str | None]]:
    with access.uow_factory() as uow:
        return [(r.action, r.entity_id) for r in uow.session.scalars(select(AuditRow).order_by(AuditRow.seq))]


def test_passwords_are_stored_as_argon2id_hashes(access: AccessService) -> None:
    with access.uow_factory() as uow:
        hashes = list(uow.session.scalars(select(UserRow.password_hash)))
    assert len(hashes) == 4 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(p in h for h in hashes for p in PASSWORDS.values())


@pytest.mark.parametrize(("password", "says"), [("short-1", "at least"), ("zoe-is-long-enough", "user name")])
def test_a_weak_password_is_refused(access: AccessService, password: str, says: str) -> None:
    with pytest.raises(WeakPassword, match=says):
        access.add_user(login(access, "admin"), "zoe", "operator", password)
    assert access.user("zoe") is None


def test_the_first_admin_comes_only_from_bootstrap_and_only_once(access: AccessService) -> None:
    with pytest.raises(AccessError, match="an admin exists already"):
        access.bootstrap("mallory", "wants-in-please-1")
    assert access.user("mallory") is None


def test_wrong_passwords_are_audited_and_lock_the_account(access: AccessService) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationFailed, match="wrong user name or password"):
            access.authenticate("olga", "not-her-password")
    with pytest.raises(AuthenticationFailed, match="locked until"):
        access.authenticate("olga", PASSWORDS["olga"])  # the right password, but locked
    actions = _actions(access)
    assert actions.count(("login.failure", "olga")) == 4 and ("user.locked", "olga") in actions
    admin = login(access, "admin")
    access.set_password(admin, "olga", "operator-pass-2")  # an admin lifts the lock
    assert access.authenticate("olga", "operator-pass-2").role == "operator"
    assert actions[-1] != ("login.success", "olga") and _actions(access)[-1] == ("login.success", "olga")


def test_an_unknown_user_is_refused_and_never_created(access: AccessService) -> None:
    with pytest.raises(AuthenticationFailed):
        access.authenticate("mallory", "anything-at-all")
    assert access.user("mallory") is None and ("login.failure", "mallory") in _actions(access)


def test_a_disabled_user_cannot_log_in(access: AccessService) -> None:
    access.disable(login(access, "admin"), "olga")
    with pytest.raises(AuthenticationFailed, match="disabled"):
        access.authenticate("olga", PASSWORDS["olga"])


@pytest.mark.parametrize("role", list(MAY))
@pytest.mark.parametrize("permission", list(Permission), ids=lambda p: p.name)
def test_each_role_may_do_exactly_its_actions(access: AccessService, role: str, permission: Permission) -> None:
    session = login(access, role)
    before = len(_actions(access))
    if permission.name in MAY[role]:
        access.require(session, permission, "test")
        assert len(_actions(access)) == before
    else:
        with pytest.raises(PermissionDenied) as refused:
            access.require(session, permission, "test")
        message = str(refused.value)
        assert "\n" not in message and f"({role})" in message and permission.value in message
        assert _actions(access)[before:] == [("access.denied", permission.name)]


def test_nobody_logged_in_may_do_nothing(access: AccessService) -> None:
    with pytest.raises(PermissionDenied, match="nobody is logged in"):
        access.require(None, Permission.STATION_RUN)


@pytest.mark.parametrize("role", list(MAY))
def test_only_an_admin_adds_changes_and_disables_users(access: AccessService, role: str) -> None:
    session = login(access, role)
    other = "quinn" if role == "operator" else "olga"  # someone else: one's own password is one's own business
    calls = [lambda: access.add_user(session, "zed", "operator", "new-user-pass-1"),
             lambda: access.set_role(session, other, "engineer"),
             lambda: access.set_password(session, other, "other-pass-999"),
             lambda: access.disable(session, other)]
    for call in calls:
        if role == "admin":
            call()
        else:
            with pytest.raises(PermissionDenied, match="that needs the admin role"):
                call()
    assert (access.user("zed") is not None) == (role == "admin")
    assert (access.user(other).role == "engineer") == (role == "admin")
    assert access.user(other).disabled == (role == "admin")


def test_everyone_sets_their_own_password(access: AccessService) -> None:
    access.set_password(login(access, "operator"), "olga", "operator-pass-2")
    assert access.authenticate("olga", "operator-pass-2").name == "olga"


def test_a_signature_needs_the_password_again_and_a_meaning(access: AccessService) -> None:
    session = login(access, "engineer")
    with pytest.raises(AuthenticationFailed, match="wrong password"):
        access.sign(session, "guess", "approved threshold change")
    with pytest.raises(AccessError, match="meaning"):
        access.sign(session, PASSWORDS["eve"], " ")
    signature = access.sign(session, PASSWORDS["eve"], "approved  threshold change")
    assert signature.manifestation()["meaning"] == "approved threshold change"
    assert signature.manifestation()["signed_by"] == "eve" and ("signature.failure", "eve") in _actions(access)
