"""Dataset records: samples, skipped-file issues and the loaded dataset."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

GOOD = "good"
MAX_LISTED_ISSUES = 5
_LAYOUT_NAMES = {"mvtec": "MVTec-layout", "folder": "Folder-layout"}


class DatasetError(Exception):
    """A fatal dataset problem; the message names the path, what is wrong and what was expected."""


@dataclass(frozen=True)
class DatasetIssue:
    """A file that was skipped (or a sample kept with reduced use), and why."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class Sample:
    """One image: label 0 good / 1 defect, its defect type and optional ground-truth mask."""

    path: Path
    label: int
    defect_type: str
    mask_path: Path | None = None


def format_issues(issues: list[DatasetIssue], limit: int = MAX_LISTED_ISSUES) -> str:
    """Issues as indented lines, at most ``limit`` of them plus an 'and N more' line."""
    lines = [f"  - {issue}" for issue in issues[:limit]]
    if len(issues) > limit:
        lines.append(f"  ... and {len(issues) - limit} more")
    return "\n".join(lines)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class AnomalyDataset:
    """A validated anomaly-detection dataset: every listed file decoded successfully at load time."""

    root: Path
    category: str | None
    layout: str
    train: list[Sample]
    test: list[Sample]
    issues: list[DatasetIssue] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        """The folder holding the data: ``root/category``, or ``root`` itself."""
        return self.root / self.category if self.category else self.root

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.data_dir).as_posix()
        except ValueError:
            return Path(os.path.relpath(path, self.data_dir)).as_posix()

    def fingerprint(self) -> str:
        """SHA-256 hex over split, relative path and content hash of every used image and mask."""
        digest = hashlib.sha256(f"layout={self.layout}\n".encode())
        for split, samples in (("train", self.train), ("test", self.test)):
            for sample in samples:
                files = [sample.path] + ([sample.mask_path] if sample.mask_path else [])
                for path in files:
                    digest.update(f"{split}\t{self._relative(path)}\t{_file_sha256(path)}\n".encode())
        return digest.hexdigest()

    def summary(self) -> str:
        """One paragraph: where, which layout, split counts per type, masks and skipped files."""
        name = f"category '{self.category}' of " if self.category else ""
        test_good = sum(1 for s in self.test if s.label == 0)
        defects = Counter(s.defect_type for s in self.test if s.label == 1)
        per_type = ", ".join(f"{kind} {count}" for kind, count in sorted(defects.items()))
        masks = sum(1 for s in self.test if s.mask_path is not None)
        layout = _LAYOUT_NAMES.get(self.layout, self.layout)
        text = (
            f"{layout} dataset {name}{self.root}: {len(self.train)} training images (good); "
            f"{len(self.test)} test images ({test_good} good, {sum(defects.values())} defect"
            f"{': ' + per_type if per_type else ''}), {masks} with ground-truth masks."
        )
        if self.issues:
            listed = "; ".join(str(issue) for issue in self.issues[:MAX_LISTED_ISSUES])
            hidden = len(self.issues) - MAX_LISTED_ISSUES
            more = f"; and {hidden} more" if hidden > 0 else ""
            text += f" {len(self.issues)} issue(s) with files: {listed}{more}."
        else:
            text += " No problems found."
        return text
