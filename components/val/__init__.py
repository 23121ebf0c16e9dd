"""``nasdet val``: score a model on raw COCO / VOC / YOLO labels, without a pipeline run.

``run`` is imported on first use, so ``nasdet val --help`` answers without TensorFlow.
"""

from __future__ import annotations

__all__ = ["run"]


def __getattr__(name: str):
    """Return ``run`` (from ``components.val.step``) on first access."""
    if name == "run":
        from components.val.step import run

        return run
    raise AttributeError(f"module 'components.val' has no attribute {name!r}")
