"""The search step: neural architecture search of the detector with KerasTuner."""

from components.search.step import run

__all__ = ["run"]
