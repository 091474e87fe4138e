"""The write-ahead journal: durable, ordered, removable; unreadable entries set aside, never lost."""

from __future__ import annotations

from pathlib import Path

from inspector.storage.journal import Journal


def test_append_pending_remove_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ids = [journal.append({"n": n, "nested": {"x": [1.5, None]}}) for n in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert [(i, e["n"]) for i, e in journal.pending()] == list(zip(ids, range(5), strict=True))
    journal.remove(ids[:3])
    assert [e["n"] for _, e in Journal(tmp_path).pending()] == [3, 4]  # a fresh instance sees the same
    assert not list(tmp_path.glob(".tmp-*"))


def test_order_survives_a_restart(tmp_path: Path) -> None:
    first = Journal(tmp_path).append({"n": 1})
    second = Journal(tmp_path).append({"n": 2})
    assert [i for i, _ in Journal(tmp_path).pending()] == [first, second]


def test_half_written_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc.json").write_text('{"n": ')
    journal = Journal(tmp_path)
    assert journal.pending() == [] and not (tmp_path / ".tmp-abc.json").exists()


def test_unreadable_entries_are_quarantined_not_dropped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    good = journal.append({"n": 1})
    (tmp_path / "00000000000000000001-000000.json").write_text("{broken")
    assert [i for i, _ in journal.pending()] == [good]
    kept = tmp_path / "quarantine" / "00000000000000000001-000000.json"
    assert kept.read_text() == "{broken"
    assert "unreadable" in kept.with_suffix(".reason.txt").read_text()
