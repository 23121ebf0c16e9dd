"""The ingest step: labelled images (COCO / VOC / YOLO) -> validated Examples, with Apache Beam.

``run`` is imported on first use, so ``python -m components.ingest`` can set up logging before
Apache Beam is imported.
"""

from __future__ import annotations

__all__ = ["run"]


def __getattr__(name: str):
    """Return ``run`` (from ``components.ingest.step``) on first access."""
    if name == "run":
        from components.ingest.step import run

        return run
    raise AttributeError(f"module 'components.ingest' has no attribute {name!r}")
