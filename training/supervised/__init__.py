"""Supervised defect models by transfer learning: classification, detection (FCOS) and segmentation on the
offline EfficientNet-Lite backbones, exported as verified bundles (``inspector-train classify|detect|segment``)."""
