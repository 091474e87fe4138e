"""What a written bundle's export-time check measured: its runtimes' milliseconds per image."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from inspector.bundle.equivalence import describe_latency, read_equivalence
from inspector.bundle.store import open_bundle


def print_latency(out: Console, bundle: Path) -> None:
    """The bundle's per-image times at batch 1, as its export-time check measured them on this machine."""
    opened = open_bundle(bundle)
    try:
        timed = describe_latency(read_equivalence(opened).record)
    finally:
        opened.close()
    if timed:
        out.print(f"station latency per image (batch 1, measured on this machine at export): {timed}",
                  highlight=False, soft_wrap=True)
