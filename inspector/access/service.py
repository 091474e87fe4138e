"""Accounts, logins, permission checks and electronic signatures, each audited in the hash-chained trail.

21 CFR Part 11: this supports §11.10(d) (limited access), (e) (audit trail), (g) (authority checks), §11.50
(signature manifestations: name, time, meaning) and §11.200 (signatures by user name and password). It does not
by itself make a system compliant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.access import passwords
from inspector.access.roles import ROLES, Permission, allowed, roles_with
from inspector.storage.orm import UserRow
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

MAX_FAILURES = 5
LOCK_MINUTES = 15


class AccessError(ValueError):
    """An account or permission problem; the message is one line for the user."""


class AuthenticationFailed(AccessError):
    pass


class PermissionDenied(AccessError):
    pass


@dataclass(frozen=True)
class UserSession:
    """Who is logged in (checked against the database at login)."""

    user_id: int
    name: str
    role: str
    at: datetime

    def may(self, permission: Permission) -> bool:
        return allowed(self.role, permission)


@dataclass(frozen=True)
class Signature:
    """An electronic signature: the signer, the time and the meaning (§11.50), given with the password."""

    user_id: int
    name: str
    role: str
    at: datetime
    meaning: str

    def manifestation(self) -> dict[str, str]:
        return {"signed_by": self.name, "role": self.role, "signed_at": self.at.isoformat(), "meaning": self.meaning}


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    disabled: bool
    has_password: bool
    locked_until: datetime | None


class AccessService:
    """One unit of work per call; ``uow_factory`` gives a fresh :class:`SqlAlchemyUnitOfWork`."""

    def __init__(self, uow_factory: Callable[[], SqlAlchemyUnitOfWork], *, max_failures: int = MAX_FAILURES,
                 lock_minutes: float = LOCK_MINUTES) -> None:
        self.uow_factory = uow_factory
        self.max_failures, self.lock_for = max_failures, timedelta(minutes=lock_minutes)

    @classmethod
    def for_database(cls, sessions: Callable[[], Session], security: object | None = None) -> AccessService:
        """On a session factory, with the config's ``security`` section (lockout) when there is one."""
        kwargs = {} if security is None else {"max_failures": security.max_failed_logins,
                                              "lock_minutes": security.lockout_minutes}
        return cls(lambda: SqlAlchemyUnitOfWork(sessions), **kwargs)

    # ---- logins ------------------------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, where: str = "cli") -> UserSession:
        """A session for ``name``, or :class:`AuthenticationFailed` (audited either way, locked after
        ``max_failures`` wrong passwords in a row)."""
        now = datetime.now(UTC)
        with self.uow_factory().writing() as uow:
            user = uow.users.get(name)
            problem = self._refusal(user, password, now)
            if problem is not None:
                reason, locked_now = problem
                uow.audit.add("login.failure", "user", name, {"reason": reason, "where": where,
                                                              "locked": locked_now}, user=user)
                if locked_now:
                    uow.audit.add("user.locked", "user", name, {"until": user.locked_until.isoformat(),
                                                                "failures": user.failed_logins}, user=user)
                uow.commit()
                message = {"locked": f"user {name!r} is locked until {user.locked_until:%H:%M} UTC after "
                                     f"{self.max_failures} failed logins" if user and user.locked_until else "",
                           "disabled": f"user {name!r} is disabled"}.get(reason, "wrong user name or password")
                raise AuthenticationFailed(message)
            user.failed_logins, user.locked_until = 0, None
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
            uow.audit.add("login.success", "user", name, {"where": where, "role": user.role}, user=user)
            session = UserSession(user.id, user.name, user.role, now)
            uow.commit()
        return session

    def _refusal(self, user: UserRow | None, password: str, now: datetime) -> tuple[str, bool] | None:
        if user is None:
            passwords.verify(passwords.hash_password("timing"), password)  # as slow as a real check
            return "unknown user", False
        if user.disabled:
            return "disabled", False
        if user.locked_until is not None and user.locked_until > now:
            return "locked", False
        if passwords.verify(user.password_hash, password):
            return None
        user.failed_logins += 1
        if user.failed_logins >= self.max_failures:
            user.locked_until = now + self.lock_for
            return "wrong password", True
        return "wrong password", False

    def require(self, session: UserSession | None, permission: Permission, detail: str = "") -> None:
        """Refuse (one line, and an audit row) unless the session's role grants ``permission``."""
        if session is not None and session.may(permission):
            return
        who = "nobody is logged in" if session is None else f"{session.name} ({session.role})"
        needs = " or ".join(roles_with(permission))
        with self.uow_factory().writing() as uow:
            user = uow.users.get(session.name) if session else None
            uow.audit.add("access.denied", "permission", permission.name, {"detail": detail, "who": who},
                          user=user)
            uow.commit()
        raise PermissionDenied(f"{who} may not {permission.value}{f' ({detail})' if detail else ''}: "
                               f"that needs the {needs} role")

    def record(self, action: str, entity: str, session: UserSession | None, detail: dict | None = None) -> None:
        """An audit row for an action that needs no signature (start, stop, a counter reset), by whom."""
        with self.uow_factory().writing() as uow:
            user = uow.users.get(session.name) if session else None
            uow.audit.add(action, entity, None, {"by": session.name if session else "system", **(detail or {})},
                          user=user)
            uow.commit()

    def sign(self, session: UserSession, password: str, meaning: str) -> Signature:
        """An electronic signature by the logged-in user: the password again, and what the signature means."""
        meaning = " ".join(meaning.split())
        if len(meaning) < 3:
            raise AccessError("a signature needs its meaning, e.g. \"approved threshold change\"")
        now = datetime.now(UTC)
        with self.uow_factory().writing() as uow:
            user = uow.users.get(session.name)
            problem = self._refusal(user, password, now)
            if problem is not None:
                uow.audit.add("signature.failure", "user", session.name, {"reason": problem[0], "meaning": meaning},
                              user=user)
                uow.commit()
                raise AuthenticationFailed(f"signature refused for {session.name}: wrong password"
                                           if problem[0] == "wrong password" else f"signature refused: {problem[0]}")
            user.failed_logins = 0
            uow.commit()
        return Signature(session.user_id, session.name, session.role, now, meaning)

    # ---- accounts ----------------------------------------------------------------------------------------------
    def bootstrap(self, name: str, password: str) -> Account:
        """The first admin; refused once any admin exists."""
        passwords.check_policy(password, name)
        with self.uow_factory().writing() as uow:
            if uow.session.scalars(select(UserRow.id).where(UserRow.role == "admin")).first() is not None:
                raise AccessError("an admin exists already: new users come from `inspector users add` by an admin")
            user = uow.users.get(name)
            if user is None:
                user = UserRow(name=name, role="admin")
                uow.session.add(user)
            user.role, user.disabled = "admin", False
            self._set_password(user, password)
            uow.audit.add("user.bootstrap", "user", name, {"role": "admin"}, user=user)
            uow.commit()
            return _account(user)

    def add_user(self, actor: UserSession, name: str, role: str, password: str) -> Account:
        self.require(actor, Permission.USERS_MANAGE, f"add user {name}")
        _check_role(role)
        if not name.strip() or len(name) > 128:
            raise AccessError("user name: expected 1 to 128 characters")
        passwords.check_policy(password, name)
        with self.uow_factory().writing() as uow:
            if uow.users.get(name) is not None:
                raise AccessError(f"user {name!r} exists already (use `inspector users role` or `passwd`)")
            user = UserRow(name=name, role=role)
            uow.session.add(user)
            self._set_password(user, password)
            uow.audit.add("user.add", "user", name, {"role": role}, user=uow.users.get(actor.name))
            uow.commit()
            return _account(user)

    def set_role(self, actor: UserSession, name: str, role: str) -> Account:
        self.require(actor, Permission.USERS_MANAGE, f"change the role of {name}")
        _check_role(role)
        with self.uow_factory().writing() as uow:
            user = _existing(uow, name)
            before, user.role = user.role, role
            uow.audit.add("user.role", "user", name, {"from": before, "to": role}, user=uow.users.get(actor.name))
            uow.commit()
            return _account(user)

    def set_password(self, actor: UserSession, name: str, new_password: str) -> Account:
        """A user's own password, or anyone's by an admin (which also lifts a lockout)."""
        if actor.name != name:
            self.require(actor, Permission.USERS_MANAGE, f"set the password of {name}")
        passwords.check_policy(new_password, name)
        with self.uow_factory().writing() as uow:
            user = _existing(uow, name)
            self._set_password(user, new_password)
            user.failed_logins, user.locked_until = 0, None
            uow.audit.add("user.password", "user", name, {"by": actor.name}, user=uow.users.get(actor.name))
            uow.commit()
            return _account(user)

    def disable(self, actor: UserSession, name: str) -> Account:
        self.require(actor, Permission.USERS_MANAGE, f"disable {name}")
        if actor.name == name:
            raise AccessError("an admin cannot disable their own account")
        with self.uow_factory().writing() as uow:
            user = _existing(uow, name)
            user.disabled = True
            uow.audit.add("user.disable", "user", name, {}, user=uow.users.get(actor.name))
            uow.commit()
            return _account(user)

    def accounts(self) -> Sequence[Account]:
        with self.uow_factory() as uow:
            return [_account(u) for u in uow.session.scalars(select(UserRow).order_by(UserRow.name))]

    def user(self, name: str) -> UserRow | None:
        with self.uow_factory() as uow:
            return uow.users.get(name)

    @staticmethod
    def _set_password(user: UserRow, password: str) -> None:
        user.password_hash = passwords.hash_password(password)
        user.password_changed_at = datetime.now(UTC)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccessError(f"role {role!r}: expected one of {', '.join(ROLES)}")


def _existing(uow: SqlAlchemyUnitOfWork, name: str) -> UserRow:
    user = uow.users.get(name)
    if user is None:
        raise AccessError(f"no user {name!r}")
    return user


def _account(user: UserRow) -> Account:
    return Account(user.name, user.role, bool(user.disabled), bool(user.password_hash), user.locked_until)
