"""Real faults for the station: subprocesses killed with SIGKILL, a slowed fsync, tiny and read-only mounts."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from inspector.storage.database import make_engine
from tests.conftest import ROOT, skip_without

FSYNC_DELAY_C = textwrap.dedent("""
    #define _GNU_SOURCE
    #include <dlfcn.h>
    #include <stdlib.h>
    #include <time.h>
    static void pause_ms(void) {
        const char *ms = getenv("FSYNC_DELAY_MS");
        long v = ms ? atol(ms) : 0;
        struct timespec t = {v / 1000, (v % 1000) * 1000000L};
        if (v > 0) nanosleep(&t, NULL);
    }
    int fsync(int fd) { pause_ms(); int (*real)(int) = dlsym(RTLD_NEXT, "fsync"); return real(fd); }
    int fdatasync(int fd) { pause_ms(); int (*real)(int) = dlsym(RTLD_NEXT, "fdatasync"); return real(fd); }
""")


@pytest.fixture(scope="session")
def fsync_delay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared library that makes every fsync and fdatasync wait FSYNC_DELAY_MS (LD_PRELOAD): a slow disk."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        skip_without("no C compiler to build the fsync-delay library")
    folder = tmp_path_factory.mktemp("fsync-delay")
    (folder / "delay.c").write_text(FSYNC_DELAY_C)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(folder / "delay.so"), str(folder / "delay.c"), "-ldl"],
                   check=True, capture_output=True)
    return folder / "delay.so"


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (root only), remounted read-only when asked; unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        skip_without("tmpfs mounts need root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if result.returncode != 0:
        skip_without(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path, leave_bytes: int) -> None:
    """Fill the file system of ``path`` until ``leave_bytes`` are free."""
    free = shutil.disk_usage(path).free
    with (path / "filler").open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))


def station_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "inspector.cli", "run", "--config", str(config), "--headless", *args]


def station_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **extra}


class VerdictListener:
    """Reads a station's ``--line stdout`` pipe on a thread: every line there has left the station."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.verdicts: list[dict] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.verdicts) < count:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"only {len(self.verdicts)} verdicts in {timeout:.0f} s") from None
            if line is None:
                raise AssertionError(f"the station ended after {len(self.verdicts)} verdicts")
            self.verdicts.append(json.loads(line))

    def rest(self) -> None:
        """Everything still in the pipe (written before the station died or ended)."""
        while (line := self.lines.get(timeout=60)) is not None:
            self.verdicts.append(json.loads(line))


def query(url: str, sql: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    except sa.exc.DBAPIError:  # not there yet (no table, no server)
        return []
    finally:
        engine.dispose()
