"""The review services stay Qt-free (the GUI is one consumer of them; the CLI and training are others)."""

from __future__ import annotations

import subprocess
import sys


def test_review_package_imports_no_qt() -> None:
    code = ("import sys, pkgutil, importlib, inspector.review as r\n"
            "for m in pkgutil.iter_modules(r.__path__): importlib.import_module(f'inspector.review.{m.name}')\n"
            "import training.dataset_from_db\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
