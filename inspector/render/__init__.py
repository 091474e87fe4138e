"""The one heatmap renderer (numpy + cv2): the live view, the archived overlay QA sees and the training report."""

from inspector.render.heatmap import DEFAULT_OPACITY, as_rgb, colour_scale, heat_layer, heatmap_of, overlay

__all__ = ["DEFAULT_OPACITY", "as_rgb", "colour_scale", "heat_layer", "heatmap_of", "overlay"]
