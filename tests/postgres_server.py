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


def _start_private(reason: str) -> PostgresServer | str:
    """initdb + pg_ctl start on a free port in a temporary folder; stopped and removed at exit."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not (initdb and pg_ctl):
        return f"{reason}; no PostgreSQL binaries (initdb, pg_ctl) to start a private server"
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="inspector-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            return f"{reason}; running as root with no postgres user for a private server"
        os.chown(folder, account.pw_uid, account.pw_gid)
        folder.chmod(0o700)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                        f"-p {port} -k {folder} -c listen_addresses={HOST} -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        return f"{reason}; starting a private server failed: {exc} {detail.decode(errors='replace')[-300:]}"

    def stop() -> None:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    import psycopg

    with psycopg.connect(host=HOST, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB}"')
    return PostgresServer(HOST, port, "postgres", private=True)


@functools.cache
def postgres_server() -> PostgresServer | str:
    """The server, or why there is none. Started at most once per test session."""
    port = int(os.environ.get("INSPECTOR_TEST_PG_PORT", "5432"))
    user = os.environ.get("INSPECTOR_TEST_PG_USER", "postgres")
    reason = _answers(port, user)
    if reason is None:
        return PostgresServer(HOST, port, user)
    return _start_private(reason)
