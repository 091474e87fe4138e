"""Anomaly-detection datasets (MVTec AD and plain good/defect folders), validated file by file."""

from training.datasets.images import IMAGE_EXTENSIONS, ImageReadError, MaskError, read_image, read_mask
from training.datasets.loader import load_anomaly_dataset
from training.datasets.model import AnomalyDataset, DatasetError, DatasetIssue, Sample

__all__ = [
    "IMAGE_EXTENSIONS",
    "AnomalyDataset",
    "DatasetError",
    "DatasetIssue",
    "ImageReadError",
    "MaskError",
    "Sample",
    "load_anomaly_dataset",
    "read_image",
    "read_mask",
]
