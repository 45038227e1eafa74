"""The loss: binaries relaxed, anchors sampled and valued, the metric interpolated between them."""
