"""The network guard used by the training tests really refuses outside connections."""

from __future__ import annotations

import socket

import pytest


def test_guard_refuses_and_records_outside_addresses(no_network) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="network guard"):
        sock.connect(("192.0.2.1", 80))
    assert no_network.attempts == [("192.0.2.1", 80)]


def test_guard_lets_loopback_through(no_network) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert no_network.attempts == []
