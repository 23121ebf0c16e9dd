"""The train step: train a detector on Examples and write the Model artifact."""

from components.train.trainer import run

__all__ = ["run"]
