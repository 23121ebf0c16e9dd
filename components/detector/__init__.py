"""The detector library: config and presets, backbones, BiFPN, heads, anchors, losses, NMS."""
