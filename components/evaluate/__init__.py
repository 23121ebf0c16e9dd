"""The evaluate step: COCO metrics of the exported model, blessing, Markdown and HTML reports."""

from components.evaluate.step import run

__all__ = ["run"]
