"""Passwords: argon2id hashes (argon2-cffi), a minimum length, reading them from a prompt or standard input."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory parameters


class WeakPassword(ValueError):
    """A new password that does not meet the policy."""


def check_policy(password: str, name: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters (got {len(password)})")
    if name and name.lower() in password.lower():
        raise WeakPassword("a password may not contain the user name")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """True when ``password`` matches the stored argon2id hash; False for any mismatch or malformed hash."""
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
