"""What a written bundle's export-time check measured: its runtimes' milliseconds per image."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from inspector.bundle.equivalence import EquivalenceRecord, describe_latency
from inspector.bundle.manifest import EQUIVALENCE_NAME


def print_latency(out: Console, bundle: Path) -> None:
    """The bundle's per-image times at batch 1, as its export-time check measured them on this machine.

    ``bundle`` is the folder training has just written and verified: only its record is read, not hashed again."""
    record = EquivalenceRecord.model_validate_json((Path(bundle) / EQUIVALENCE_NAME).read_text(encoding="utf-8"))
    timed = describe_latency(record)
    if timed:
        out.print(f"station latency per image (batch 1, measured on this machine at export): {timed}",
                  highlight=False, soft_wrap=True)
