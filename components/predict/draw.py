"""Annotated pictures of ``nasdet predict``: each box with its class name and score."""

from __future__ import annotations

import colorsys

import numpy as np

from components.predict.records import Detection


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A bright colour per class, stable across runs (golden-ratio hues)."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def _ink(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black text on a light label, white on a dark one."""
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def annotate(image: np.ndarray, detections: list[Detection]):
    """Return a PIL image of ``image`` (uint8 [H, W, 3]) with ``detections`` drawn on it."""
    from PIL import Image, ImageDraw, ImageFont

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(pil)
    width = max(1, round(max(pil.size) / 300))
    font = ImageFont.load_default(size=max(11, round(max(pil.size) / 45)))
    for det in sorted(detections, key=lambda d: d.score):  # the best drawn last, on top
        colour = class_colour(det.class_id)
        xmin, ymin, xmax, ymax = det.box_xyxy
        draw.rectangle([xmin, ymin, xmax, ymax], outline=colour, width=width)
        text = f"{det.class_name} {det.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        lift = bottom + 4
        y = ymin - lift if ymin - lift >= 0 else ymin
        draw.rectangle([xmin, y, xmin + right - left + 6, y + lift], fill=colour)
        draw.text((xmin + 3, y + 2), text, fill=_ink(colour), font=font)
    return pil
