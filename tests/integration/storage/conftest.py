"""PostgreSQL (tests/postgres_server.py): a throw-away schema per test; a TCP proxy to cut it off."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import skip_without
from tests.postgres_server import PostgresServer, postgres_server


def pg() -> PostgresServer:
    """The test server (127.0.0.1:5432, else a private one); skips, or fails under CI, when there is none."""
    server = postgres_server()
    if isinstance(server, str):
        skip_without(server)
    return server


def pg_url(port: int | None = None, schema: str | None = None) -> str:
    return pg().url(port=port, schema=schema)


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    return pg()


@pytest.fixture
def schema(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty schema in the ``test`` database, dropped (with everything in it) afterwards."""
    import psycopg

    name = f"inspector_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**postgres.connect_kwargs(), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(**postgres.connect_kwargs(), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


class TcpProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; ``down()`` closes the port and every open connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(self.target, timeout=3)
            except OSError:
                return
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(postgres: PostgresServer) -> Iterator[TcpProxy]:
    proxy = TcpProxy((postgres.host, postgres.port))
    proxy.up()
    yield proxy
    proxy.down()
