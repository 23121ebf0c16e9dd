"""The check-changes step: stop a retraining when the data, code and settings equal production's."""

from components.changes.step import run

__all__ = ["run"]
