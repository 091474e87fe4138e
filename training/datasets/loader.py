"""Find, split and validate MVTec-AD and plain-folder anomaly datasets."""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from training.datasets.images import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    MaskError,
    is_image_file,
    read_image,
    read_mask,
)
from training.datasets.model import GOOD, AnomalyDataset, DatasetError, DatasetIssue, Sample, format_issues

MVTEC_LAYOUT = (
    "MVTec layout: <category>/train/good/<image>, <category>/test/<good or defect type>/<image>, "
    "<category>/ground_truth/<defect type>/<stem>_mask.png"
)
FOLDER_LAYOUT = (
    "folder layout: good/<image>, defect/<image> or defect/<type>/<image>, "
    "optional masks/[<type>/]<stem>_mask.png or <stem>.png"
)
EXTENSIONS_TEXT = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))
TEST_GOOD_FRACTION = 0.2
SPLIT_SEED = 0
_MASK_EXT_ORDER = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass(frozen=True)
class _Candidate:
    sample: Sample
    warn_missing_mask: str | None = None  # expected mask location, when a missing mask is worth reporting


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def _layout_of(folder: Path) -> str | None:
    if (folder / "train").is_dir() or (folder / "test").is_dir():
        return "mvtec"
    if (folder / "good").is_dir() or (folder / "defect").is_dir():
        return "folder"
    return None


def _resolve(root: Path, category: str | None) -> tuple[Path, str | None]:
    """The data folder and the category name (None when ``root`` is itself the dataset)."""
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetError(f"{root}: dataset root {what}; expected {MVTEC_LAYOUT}, or {FOLDER_LAYOUT}")
    candidates = [d for d in _subdirs(root) if _layout_of(d)]
    if category is not None:
        data_dir = root / category
        if not data_dir.is_dir():
            known = ", ".join(d.name for d in candidates) or "none found"
            raise DatasetError(f"{data_dir}: category '{category}' does not exist; available: {known}")
        return data_dir, category
    if _layout_of(root):
        return root, None
    if len(candidates) == 1:
        return candidates[0], candidates[0].name
    if candidates:
        names = ", ".join(d.name for d in candidates)
        raise DatasetError(f"{root}: holds several categories ({names}); pass category= to choose one")
    raise DatasetError(f"{root}: no dataset found; expected {MVTEC_LAYOUT}, or {FOLDER_LAYOUT}")


class _MaskFinder:
    """Looks up ``<stem>_mask.<ext>`` (then ``<stem>.<ext>``) in mask folders, case-insensitively."""

    def __init__(self) -> None:
        self._index: dict[Path, dict[str, Path]] = {}

    def _files(self, folder: Path) -> dict[str, Path]:
        if folder not in self._index:
            files = _images(folder) if folder.is_dir() else []
            self._index[folder] = {p.name.lower(): p for p in reversed(files)}
        return self._index[folder]

    def find(self, folders: list[Path], stem: str, allow_plain: bool) -> Path | None:
        names = [f"{stem}_mask"] + ([stem] if allow_plain else [])
        for folder in folders:
            files = self._files(folder)
            for name in names:
                for ext in _MASK_EXT_ORDER:
                    if (hit := files.get(f"{name}{ext}".lower())) is not None:
                        return hit
        return None


_Found = tuple[list[_Candidate], list[_Candidate], list[DatasetIssue]]  # train, test, listing issues


def _mvtec(data_dir: Path, require_test: bool) -> _Found:
    train_dir = data_dir / "train" / GOOD
    if not train_dir.is_dir():
        raise DatasetError(f"{train_dir}: missing folder of good training images; expected {MVTEC_LAYOUT}")
    train = [_Candidate(Sample(p, 0, GOOD)) for p in _images(train_dir)]
    test_dir = data_dir / "test"
    if not test_dir.is_dir():
        if require_test:
            raise DatasetError(f"{test_dir}: missing test folder; expected {MVTEC_LAYOUT}")
        return train, [], []
    issues = [
        DatasetIssue(p, "image directly in test/ is ignored; expected test/<good or defect type>/<image>")
        for p in _images(test_dir)
    ]
    masks = _MaskFinder()
    test: list[_Candidate] = []
    for type_dir in _subdirs(test_dir):
        kind = type_dir.name
        for path in _images(type_dir):
            if kind == GOOD:
                test.append(_Candidate(Sample(path, 0, GOOD)))
                continue
            gt_dir = data_dir / "ground_truth" / kind
            mask = masks.find([gt_dir], path.stem, allow_plain=False)
            test.append(_Candidate(Sample(path, 1, kind, mask), str(gt_dir / f"{path.stem}_mask.png")))
    return train, test, issues


def _split_good(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Seeded shuffle of the sorted paths into (train 80 %, test 20 % and at least one when possible)."""
    shuffled = sorted(paths)
    random.Random(SPLIT_SEED).shuffle(shuffled)
    n_test = max(1, round(len(shuffled) * TEST_GOOD_FRACTION)) if len(shuffled) >= 2 else 0
    return sorted(shuffled[n_test:]), sorted(shuffled[:n_test])


def _folder(data_dir: Path) -> _Found:
    good_dir, defect_dir, masks_dir = data_dir / GOOD, data_dir / "defect", data_dir / "masks"
    if not good_dir.is_dir():
        raise DatasetError(f"{good_dir}: missing folder of good images; expected {FOLDER_LAYOUT}")
    train_paths, test_good = _split_good(_images(good_dir))
    train = [_Candidate(Sample(p, 0, GOOD)) for p in train_paths]
    test = [_Candidate(Sample(p, 0, GOOD)) for p in test_good]
    if not defect_dir.is_dir():
        return train, test, []
    groups = [("defect", defect_dir, [masks_dir])]
    groups += [(d.name, d, [masks_dir / d.name, masks_dir]) for d in _subdirs(defect_dir)]
    finder = _MaskFinder()
    for kind, folder, mask_dirs in groups:
        for path in _images(folder):
            mask = finder.find(mask_dirs, path.stem, allow_plain=True)
            expected = str(mask_dirs[0] / f"{path.stem}_mask.png") if masks_dir.is_dir() else None
            test.append(_Candidate(Sample(path, 1, kind, mask), expected))
    return train, sorted(test, key=lambda c: c.sample.path), []


def _check(candidate: _Candidate) -> tuple[Sample | None, list[DatasetIssue]]:
    """Decode image and mask; return the sample (None when skipped) and any issues."""
    sample = candidate.sample
    try:
        image = read_image(sample.path)
    except ImageReadError as exc:
        return None, [DatasetIssue(sample.path, f"unreadable or corrupt image ({exc.reason}); skipped")]
    if sample.mask_path is None:
        if candidate.warn_missing_mask:
            problem = f"no ground-truth mask (expected {candidate.warn_missing_mask}); pixel metrics skip it"
            return sample, [DatasetIssue(sample.path, problem)]
        return sample, []
    try:
        read_mask(sample.mask_path, image.shape[:2])
    except MaskError as exc:
        return None, [DatasetIssue(sample.mask_path, f"{exc.reason}; sample {sample.path.name} skipped")]
    except ImageReadError as exc:
        problem = f"unreadable or corrupt mask ({exc.reason}); sample {sample.path.name} skipped"
        return None, [DatasetIssue(sample.mask_path, problem)]
    return sample, []


def _validate(
    candidates: list[_Candidate], issues: list[DatasetIssue]
) -> tuple[list[Sample], list[DatasetIssue]]:
    """Decode every file (in parallel, order kept); returns kept samples and this split's issues."""
    workers = max(1, min(8, os.cpu_count() or 1, len(candidates)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_check, candidates))
    split_issues = [issue for _, found in results for issue in found]
    issues.extend(split_issues)
    return [sample for sample, _ in results if sample is not None], split_issues


def _empty_error(
    folder: Path, what: str, n_found: int, skipped: list[DatasetIssue], expected: str
) -> DatasetError:
    if n_found == 0:
        return DatasetError(f"{folder}: no {what} found (extensions {EXTENSIONS_TEXT}); expected {expected}")
    return DatasetError(
        f"{folder}: no usable {what}; all {n_found} were skipped:\n{format_issues(skipped, limit=20)}"
    )


def load_anomaly_dataset(
    root: Path, category: str | None = None, *, require_test: bool = True
) -> AnomalyDataset:
    """Load and validate a dataset in MVTec or plain-folder layout.

    Every image and mask is decoded once here; broken files are skipped and listed in ``issues``.
    Raises :class:`DatasetError` for a missing root/folder, ambiguous category or an empty split.
    """
    root = Path(root)
    data_dir, category = _resolve(root, category)
    layout = _layout_of(data_dir)
    if layout is None:
        raise DatasetError(f"{data_dir}: not a dataset folder; expected {MVTEC_LAYOUT}, or {FOLDER_LAYOUT}")
    train_c, test_c, issues = _mvtec(data_dir, require_test) if layout == "mvtec" else _folder(data_dir)
    train, train_issues = _validate(train_c, issues)
    test, test_issues = _validate(test_c, issues)
    expected = MVTEC_LAYOUT if layout == "mvtec" else FOLDER_LAYOUT
    if not train:
        train_dir = data_dir / "train" / GOOD if layout == "mvtec" else data_dir / GOOD
        raise _empty_error(train_dir, "training images", len(train_c), train_issues, expected)
    if require_test and not test:
        test_dir = data_dir / "test" if layout == "mvtec" else data_dir
        raise _empty_error(test_dir, "test images", len(test_c), test_issues, expected)
    return AnomalyDataset(root=root, category=category, layout=layout, train=train, test=test, issues=issues)
