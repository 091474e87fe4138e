"""A local write-ahead journal: fsynced segments of inspection records not yet committed to the database.

A segment is one file ``<time_ns>-<seq>.jsonl`` holding a batch of records, one JSON object per line, written
atomically with one fsync for the whole batch (group commit). Names sort in append order. Segments written by
earlier versions (``.json``, one record each) are read the same way.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from inspector.storage.archive import fsync_dir, write_atomic

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
_READABLE = (SUFFIX, ".json")


class Journal:
    """Unreadable segments (a damaged disk, a hand-edited file) are moved to ``quarantine/`` with a log line,
    never silently dropped; :meth:`quarantine` does the same for records the database refuses for good."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.quarantine_folder = self.folder / "quarantine"
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._last_ns = 0
        self._sizes: dict[str, int] = {}
        for stale in self.folder.glob(".tmp-*"):  # a crash mid-write: that batch was never acknowledged
            try:
                stale.unlink()
            except OSError as exc:
                log.warning("journal %s: cannot remove %s (%s)", self.folder, stale.name, exc)

    def _next_id(self) -> str:
        with self._lock:
            now = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = now
            return f"{now:020d}-{next(self._seq) % 1_000_000:06d}"

    def _path(self, segment: str) -> Path:
        path = self.folder / f"{segment}{SUFFIX}"
        old = self.folder / f"{segment}.json"  # a segment written by an earlier version
        return old if not path.exists() and old.exists() else path

    @staticmethod
    def _encode(entries: Sequence[dict[str, Any]]) -> bytes:
        return b"".join(json.dumps(e, separators=(",", ":"), allow_nan=True).encode("utf-8") + b"\n" for e in entries)

    def append_batch(self, entries: Sequence[dict[str, Any]]) -> str:
        """Write ``entries`` durably as one segment (one fsync of the file and one of the folder); its id."""
        segment = self._next_id()
        data = self._encode(entries)
        write_atomic(self.folder / f"{segment}{SUFFIX}", data)
        self._sizes[segment] = len(data)
        return segment

    def append(self, entry: dict[str, Any]) -> str:
        return self.append_batch([entry])

    def rewrite(self, segment: str, entries: Sequence[dict[str, Any]]) -> None:
        """Replace a segment's records atomically (the same records, completed: their artifacts were written)."""
        data = self._encode(entries)
        write_atomic(self.folder / f"{segment}{SUFFIX}", data)
        self._sizes[segment] = len(data)

    def probe(self) -> None:
        """Write and remove a small file, fsynced: raises ``OSError`` when the journal cannot take records."""
        path = self.folder / ".probe"
        write_atomic(path, b"probe\n")
        path.unlink()
        fsync_dir(self.folder)

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.iterdir()
                      if p.suffix in _READABLE and p.is_file() and not p.name.startswith("."))

    def __len__(self) -> int:
        """Records in the journal (every line of every segment)."""
        return len(self.pending())

    @property
    def bytes(self) -> int:
        """Bytes of the segments this journal wrote or read (a cheap running total)."""
        return sum(self._sizes.values())

    def pending(self, segments: Iterable[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Every record still journaled (in ``segments``, default all) as (segment id, record), oldest first."""
        entries = []
        for segment in self.ids() if segments is None else segments:
            path = self._path(segment)
            try:
                raw = path.read_bytes()
                lines = [raw] if path.suffix == ".json" else [line for line in raw.splitlines() if line.strip()]
                records = [json.loads(line) for line in lines]
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                self.quarantine(segment, f"unreadable journal segment: {exc}")
                continue
            self._sizes[segment] = len(raw)
            entries.extend((segment, record) for record in records)
        return entries

    def remove(self, segments: Iterable[str]) -> None:
        """Delete segments (every record in them is committed to the database)."""
        removed = False
        for segment in segments:
            self._path(segment).unlink(missing_ok=True)
            self._sizes.pop(segment, None)
            removed = True
        if removed:
            fsync_dir(self.folder)

    def quarantine(self, segment: str, reason: str, record: dict[str, Any] | None = None) -> Path:
        """Set a segment aside (or, with ``record``, a copy of that one record) with the reason next to it."""
        self.quarantine_folder.mkdir(exist_ok=True)
        log.error("journal %s quarantined in %s: %s", segment, self.quarantine_folder, reason)
        if record is not None:
            target = self.quarantine_folder / f"{segment}-{record.get('uid', 'record')}{SUFFIX}"
            write_atomic(target, self._encode([record]))
        else:
            source = self._path(segment)
            target = self.quarantine_folder / source.name
            if source.exists():
                os.replace(source, target)
            self._sizes.pop(segment, None)
            fsync_dir(self.folder)
        write_atomic(target.with_suffix(".reason.txt"), (reason + "\n").encode("utf-8"))
        return target
