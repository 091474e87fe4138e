"""The installed PySide6 must not leak references to None (PySide6 6.12.0 on CPython 3.11 does, and aborts)."""

import sys

from PySide6.QtCore import QObject


def test_void_calls_keep_the_reference_count_of_none() -> None:
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(1000):
        probe.setObjectName("probe")
    assert sys.getrefcount(None) > before - 100, "this PySide6 build releases None on void calls; pin another"
