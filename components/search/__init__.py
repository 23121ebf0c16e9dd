"""The search step: architecture search of the detector with KerasTuner.

``run`` is imported on first use, so ``nasdet search --help`` and a usage error answer without
importing TensorFlow.
"""

from __future__ import annotations

__all__ = ["run"]


def __getattr__(name: str):
    """Return ``run`` (from ``components.search.step``) on first access."""
    if name == "run":
        from components.search.step import run

        return run
    raise AttributeError(f"module 'components.search' has no attribute {name!r}")
