"""Without a PostgreSQL on the configured port, the tests start a private server from the installed binaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import skip_without
from tests.postgres_server import _binary

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import psycopg
from tests.postgres_server import postgres_server
server = postgres_server()
assert not isinstance(server, str), server
with psycopg.connect(**server.connect_kwargs()) as conn:
    print(server.private, server.port, conn.execute("select current_database()").fetchone()[0])
"""


def test_a_private_server_starts_when_none_answers_and_is_gone_at_exit() -> None:
    if not (_binary("initdb") and _binary("pg_ctl")):
        skip_without("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    env = dict(os.environ, INSPECTOR_TEST_PG_PORT=str(dead))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    private, port, database = done.stdout.split()
    assert private == "True" and int(port) != dead and database == "test"
    leftover = subprocess.run(["pgrep", "-f", "--", f"-p {port} "], capture_output=True, text=True)
    assert leftover.returncode == 1 and leftover.stdout == "", f"the private server on port {port} still runs"
