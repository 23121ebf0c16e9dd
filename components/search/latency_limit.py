"""The search's cost: measured serving latency, the base preset's as reference, the hard limit.

A candidate's latency is that of its served detection function (``components.detector.latency``:
resize, network, NMS; batch 1, median after warm-up) at the serving size, measured right after
it is built, before any training: a candidate over the limit is never trained. The serving
size is the input size the train step will give the pick (``serving_size``; 0: each
architecture's own). The reference is the space's base preset (``tiny`` for ``small``) built
and measured the same way at the start of the search, on the same machine: it is the target
of the latency-aware reward and, unless another limit is given, the limit itself, so the
search has to find something at least as fast as the preset. Candidates are timed in
alternation with the reference (``PairedReference``): on a shared machine that is what makes
"faster than the preset" a measurement rather than a draw. Both are measured untrained (the
network's cost does not depend on its weights; NMS sees the few boxes an untrained head scores
above the serving threshold, for the reference as for the candidates).
"""

from __future__ import annotations

import math

from keras_tuner.errors import FailedTrialError

from components.detector.config import DetectorConfig


class OverLatencyLimit(FailedTrialError):
    """A trial refused before training: its measured latency is over the search's limit.

    ``metrics`` (latency, FLOPs, parameters) are recorded on the trial all the same.
    """

    def __init__(self, latency_ms: float, limit_ms: float, metrics: dict) -> None:
        super().__init__(
            f"over the latency limit: {latency_ms:.2f} ms > {limit_ms:.2f} ms (not trained)"
        )
        self.metrics = metrics


def at_serving_size(config: DetectorConfig, serving_size: int) -> DetectorConfig:
    """``config`` at the serving size (itself when ``serving_size`` is 0 or its own size)."""
    if not serving_size or serving_size == config.image_size:
        return config
    return config.with_overrides({"image_size": int(serving_size)})


def measure(config: DetectorConfig, serving_size: int = 0, detector=None) -> dict:
    """``latency.measure_ms`` of ``config`` served at ``serving_size``.

    ``detector`` (a built detector of ``config``) is measured as it is when the sizes agree;
    otherwise a detector is built at the serving size.
    """
    from components.detector.latency import measure_ms

    served = at_serving_size(config, serving_size)
    if detector is None or served is not config:
        from components.detector.model import build_detector

        detector = build_detector(served)
    return measure_ms(detector, served)


def reference_ms(base_preset: str, num_classes: int, serving_size: int = 0) -> float:
    """The measured latency (median ms) of ``base_preset`` with ``num_classes`` at the serving size."""
    from components.detector.config_load import get_preset

    config = get_preset(base_preset).with_overrides({"num_classes": num_classes})
    return float(measure(config, serving_size)["median_ms"])


class PairedReference:
    """The base preset's served function, kept so candidates are timed beside it.

    ``measure`` times a candidate and the reference in alternation
    (``latency.measure_paired_ms``): the candidate's latency is the median ratio times
    ``reference_ms``, the reference's latency measured when the search started. The base
    preset itself so measures at ``reference_ms`` within a few percent, where two separate
    medians on a loaded machine differ by tens of percent (and a limit equal to the base
    preset's latency refused the base preset's equals by chance).
    """

    def __init__(self, base_preset: str, num_classes: int, serving_size: int, reference_ms: float):
        from components.detector.config_load import get_preset

        base = get_preset(base_preset).with_overrides({"num_classes": num_classes})
        self.config = at_serving_size(base, serving_size)
        self.serving_size = serving_size
        self.reference_ms = float(reference_ms)
        self._call = None

    def measure(self, config: DetectorConfig, detector=None) -> dict:
        """The latency of ``config`` (``detector`` when built) at the serving size, paired."""
        from components.detector.latency import measure_paired_ms, serving_call
        from components.detector.model import build_detector

        served = at_serving_size(config, self.serving_size)
        if detector is None or served is not config:
            detector = build_detector(served)
        if self._call is None:
            self._call = serving_call(build_detector(self.config), self.config)
        return measure_paired_ms(detector, served, self._call, self.reference_ms)


def resolve_limit(requested: float | None, reference: float | None) -> float | None:
    """The limit in ms: ``requested`` when positive, None when <= 0 (no limit), else ``reference``."""
    if requested is None:
        return reference
    if requested <= 0 or math.isnan(requested):
        return None
    return float(requested)
