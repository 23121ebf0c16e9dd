"""``report.png`` of the ingest report: boxes per class and the box-size histogram, drawn with Pillow.

Pillow is already loaded by the validation, so the plot costs a few milliseconds; a plotting
library would cost more start-up time than a small ingest's whole work.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 880, 380
_PANEL_TOP, _PANEL_BOTTOM = 48, 230  # bar area; labels below
_MAX_BAR = 48  # widest bar, px
_MARGIN = 40
_COLORS = ((31, 119, 180), (255, 127, 14))  # the two panels
_MAX_CLASSES = 30


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Return Pillow's bundled scalable font (raises ``ImportError`` without FreeType)."""
    return ImageFont.load_default(size=size)


def _vertical_text(text: str, font) -> Image.Image:
    """Return ``text`` drawn on a transparent mask, rotated to read bottom to top."""
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(right - left, 1) + 2, max(bottom - top, 1) + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, fill=255, font=font)
    return mask.rotate(90, expand=True)


def _panel(image: Image.Image, box: tuple[int, int], title: str, bars: list, color) -> None:
    """Draw one bar chart of ``bars`` (``(label, value)``) between x = ``box[0]`` and ``box[1]``."""
    draw = ImageDraw.Draw(image)
    x0, x1 = box
    small, large = _font(10), _font(13)
    draw.text(((x0 + x1) // 2, 8), title, fill="black", font=large, anchor="mt")
    draw.line((x0, _PANEL_BOTTOM, x1, _PANEL_BOTTOM), fill="black")
    largest = max((value for _, value in bars), default=0)
    if not bars or largest <= 0:
        draw.text(
            ((x0 + x1) // 2, _PANEL_BOTTOM - 20), "no boxes", fill="gray", font=small, anchor="mm"
        )
        return
    step = (x1 - x0) / len(bars)
    half = max(0.5, min(step * 0.35, _MAX_BAR / 2))
    counts_fit = all(small.getlength(str(value)) < step - 1 for _, value in bars)
    for i, (label, value) in enumerate(bars):
        height = round((_PANEL_BOTTOM - _PANEL_TOP) * value / largest)
        center = x0 + (i + 0.5) * step
        left, right = round(center - half), round(center + half)
        draw.rectangle((left, _PANEL_BOTTOM - height, right, _PANEL_BOTTOM), fill=color)
        if counts_fit:
            draw.text(
                (round(center), _PANEL_BOTTOM - height - 2),
                str(value),
                fill="black",
                font=small,
                anchor="md",
            )
        text = _vertical_text(str(label)[:24], small)
        x = round(center - text.width / 2)
        image.paste((0, 0, 0), (x, _PANEL_BOTTOM + 4), text)


def render_plot(stats: dict) -> bytes:
    """Return the PNG bytes of the plot for the ``stats.json`` dict ``stats``."""
    classes = sorted(stats["classes"].items(), key=lambda kv: (-kv[1]["boxes"], kv[1]["id"]))
    title = "boxes per class" + (f" (top {_MAX_CLASSES})" if len(classes) > _MAX_CLASSES else "")
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    middle = WIDTH // 2
    _panel(
        image,
        (_MARGIN, middle - _MARGIN // 2),
        title,
        [(name, c["boxes"]) for name, c in classes[:_MAX_CLASSES]],
        _COLORS[0],
    )
    sizes = stats["box_size"]["sqrt_area_histogram"]
    _panel(
        image,
        (middle + _MARGIN // 2, WIDTH - _MARGIN),
        "sqrt(box area), px",
        list(sizes.items()),
        _COLORS[1],
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
