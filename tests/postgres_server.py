"""The PostgreSQL server the tests use.

127.0.0.1:5432 (or ``INSPECTOR_TEST_PG_PORT``) when it answers. Otherwise a private throw-away cluster started
from the installed PostgreSQL binaries (``initdb``/``pg_ctl``) for this test session. Otherwise a reason to skip.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DB = "test"  # never the ``postgres`` database


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    private: bool = False

    def url(self, database: str = DB, port: int | None = None, schema: str | None = None) -> str:
        options = f"?options=-csearch_path%3D{schema}" if schema else ""
        return f"postgresql://{self.user}@{self.host}:{port or self.port}/{database}{options}"

    def connect_kwargs(self, database: str = DB) -> dict:
        return dict(host=self.host, port=self.port, user=self.user, dbname=database)


def _answers(port: int, user: str) -> str | None:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            pass
    except OSError as exc:
        return f"PostgreSQL not reachable on {HOST}:{port} ({exc})"
    try:
        import psycopg

        with psycopg.connect(host=HOST, port=port, user=user, dbname=DB, connect_timeout=3):
            return None
    except Exception as exc:  # wrong auth, no ``test`` database, ...
        return f"PostgreSQL on {HOST}:{port} refused {user}@{DB}: {str(exc).splitlines()[0]}"


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """A throw-away PostgreSQL cluster from the installed binaries, on a free port; ``stop()`` and ``start()``
    again make a real outage (fault tests). As root the cluster runs as the postgres user."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl) to start a private server")
        self.run_as: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="inspector-pg-"))
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root with no postgres user for a private server") from exc
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.folder.chmod(0o700)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = self.folder / "data", _free_port()
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        import psycopg

        with psycopg.connect(host=HOST, port=self.port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB}"')
        atexit.register(self.remove)

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, timeout=120)

    @property
    def server(self) -> PostgresServer:
        return PostgresServer(HOST, self.port, "postgres", private=True)

    def start(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-w", "-l", str(self.folder / "log"), "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.run_as, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def _start_private(reason: str) -> PostgresServer | str:
    """initdb + pg_ctl start on a free port in a temporary folder; stopped and removed at exit."""
    try:
        return PrivateCluster().server
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"{reason}; starting a private server failed: {exc} {detail.decode(errors='replace')[-300:]}"


@functools.cache
def postgres_server() -> PostgresServer | str:
    """The server, or why there is none. Started at most once per test session."""
    port = int(os.environ.get("INSPECTOR_TEST_PG_PORT", "5432"))
    user = os.environ.get("INSPECTOR_TEST_PG_USER", "postgres")
    reason = _answers(port, user)
    if reason is None:
        return PostgresServer(HOST, port, user)
    return _start_private(reason)
