"""``nasdet predict``: run a model on images and write what it finds (pictures, JSON, labels).

``run`` is imported on first use, so ``nasdet predict --help`` answers without TensorFlow.
"""

from __future__ import annotations

__all__ = ["run"]


def __getattr__(name: str):
    """Return ``run`` (from ``components.predict.step``) on first access."""
    if name == "run":
        from components.predict.step import run

        return run
    raise AttributeError(f"module 'components.predict' has no attribute {name!r}")
