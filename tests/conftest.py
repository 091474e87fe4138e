"""Test-wide set-up: offline hubs, no real network, a folder for test artefacts."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Bundles trained by the tests are signed with a key of this session (subprocesses inherit it), and stations
# trust its public key by default: never the developer's own key in ~/.config.
os.environ["INSPECTOR_SIGNING_KEY"] = str(Path(tempfile.mkdtemp(prefix="inspector-test-keys-")) / "signing.pem")

ROOT = Path(__file__).resolve().parents[1]
TEST_OUTPUT = ROOT / "test-output"


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    elif isinstance(address, str | bytes):
        return True  # AF_UNIX path
    else:
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Records (and refuses) every connection to a non-loopback address."""

    def __init__(self) -> None:
        self.attempts: list[object] = []

    def check(self, address: object) -> None:
        if not _is_loopback(address):
            self.attempts.append(address)
            raise ConnectionRefusedError(f"test network guard: connection to {address!r} refused")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Fail-closed socket guard; the test asserts ``guard.attempts == []`` at the end."""
    return install_network_guard(monkeypatch)


def install_network_guard(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Refuse and record connections to non-loopback addresses while ``monkeypatch`` is active."""
    guard = NetworkGuard()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(sock: socket.socket, address: object) -> None:
        guard.check(address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        guard.check(address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return guard



@pytest.fixture(scope="session")
def test_output() -> Path:
    """Folder for artefacts a person may want to look at after the run (screenshots, reports)."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PatchCore bundle trained on tiny synthetic washer data (128 px), shared by station tests."""
    from training.anomaly.models import ModelConfig
    from training.anomaly.train import TrainOptions, train_anomaly
    from training.synth import generate_dataset

    root = tmp_path_factory.mktemp("tiny-data")
    generate_dataset(root, seed=11, products=["washer"], n_train=24, n_test_good=16, n_test_per_defect=4, size=128)
    out = tmp_path_factory.mktemp("tiny-models") / "tiny-washer"
    train_anomaly(TrainOptions(data=root, out=out, category="washer", image_size=128,
                               model=ModelConfig(architecture="patchcore", backbone="lite0")))
    return out


REQUIRE_SERVICES = os.environ.get("INSPECTOR_REQUIRE_SERVICES") == "1"


def skip_without(reason: str) -> None:
    """Skip a test whose service or device is missing; fail instead where CI requires them (.ci/run sets
    INSPECTOR_REQUIRE_SERVICES=1, after .ci/services has started PostgreSQL and Mosquitto)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required by INSPECTOR_REQUIRE_SERVICES=1: {reason}", pytrace=False)
    pytest.skip(reason)

