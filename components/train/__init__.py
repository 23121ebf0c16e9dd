"""The train step: train a detector on Examples and write the Model artifact.

``run`` is imported on first use, so ``nasdet train --help`` and a usage error answer without
importing TensorFlow.
"""

from __future__ import annotations

__all__ = ["run"]


def __getattr__(name: str):
    """Return ``run`` (from ``components.train.trainer``) on first access."""
    if name == "run":
        from components.train.trainer import run

        return run
    raise AttributeError(f"module 'components.train' has no attribute {name!r}")
