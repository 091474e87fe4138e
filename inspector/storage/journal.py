"""A local write-ahead journal: one fsynced JSON file per inspection not yet committed to the database."""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from inspector.storage.archive import fsync_dir, write_atomic

log = logging.getLogger(__name__)

SUFFIX = ".json"


class Journal:
    """Entries are files ``<time_ns>-<seq>.json`` (so names sort in append order), written atomically.

    Unreadable entries (a damaged disk, a hand-edited file) are moved to ``quarantine/`` with a log line,
    never silently dropped; :meth:`quarantine` does the same for entries the database refuses for good.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.quarantine_folder = self.folder / "quarantine"
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._last_ns = 0
        for stale in self.folder.glob(".tmp-*"):  # a crash mid-write: the entry was never acknowledged
            stale.unlink(missing_ok=True)

    def _next_id(self) -> str:
        with self._lock:
            now = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = now
            return f"{now:020d}-{next(self._seq) % 1_000_000:06d}"

    def append(self, entry: dict[str, Any]) -> str:
        """Write ``entry`` durably (fsync file and folder) and return its id."""
        entry_id = self._next_id()
        data = json.dumps(entry, separators=(",", ":")).encode("utf-8")
        write_atomic(self.folder / f"{entry_id}{SUFFIX}", data)
        return entry_id

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.ids())

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """Every entry still journaled, oldest first."""
        entries = []
        for entry_id in self.ids():
            path = self.folder / f"{entry_id}{SUFFIX}"
            try:
                entries.append((entry_id, json.loads(path.read_text(encoding="utf-8"))))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                self.quarantine(entry_id, f"unreadable journal entry: {exc}")
        return entries

    def remove(self, ids: Iterable[str]) -> None:
        """Delete entries (after their database commit)."""
        removed = False
        for entry_id in ids:
            (self.folder / f"{entry_id}{SUFFIX}").unlink(missing_ok=True)
            removed = True
        if removed:
            fsync_dir(self.folder)

    def quarantine(self, entry_id: str, reason: str) -> Path:
        """Move an entry aside (kept for a person to look at) with the reason next to it."""
        self.quarantine_folder.mkdir(exist_ok=True)
        source = self.folder / f"{entry_id}{SUFFIX}"
        target = self.quarantine_folder / source.name
        log.error("journal entry %s quarantined in %s: %s", entry_id, self.quarantine_folder, reason)
        if source.exists():
            os.replace(source, target)
        write_atomic(target.with_suffix(".reason.txt"), (reason + "\n").encode("utf-8"))
        fsync_dir(self.folder)
        return target
