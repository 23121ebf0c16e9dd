"""``nasdet export``: a model in another serving format (ONNX, OpenVINO, LiteRT), checked for
parity with its SavedModel and timed beside it.

``formats.FORMATS`` is the one table of formats. ``run`` is imported on first use, so
``nasdet export --help`` and ``--list`` answer without TensorFlow.
"""

from __future__ import annotations

__all__ = ["run"]


def __getattr__(name: str):
    """Return ``run`` (from ``components.export.step``) on first access."""
    if name == "run":
        from components.export.step import run

        return run
    raise AttributeError(f"module 'components.export' has no attribute {name!r}")
