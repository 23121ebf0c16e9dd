"""Cheap screening before the search: many sampled architectures, a training-free score, the
best few trained.

``screen(...)`` samples ``count`` architectures of the space (as the oracle samples them),
builds each untrained, computes every zero-cost score of ``components.detector.zero_cost`` on
one minibatch of training images, drops those over the latency limit and ranks the rest by
the chosen score; the first ``top`` are handed to the oracle, which proposes them before any
draw of its own (``tuners.ScreenedFirst``). The table is ``screening.csv`` in the search's
working folder (the step copies it into the Architecture artifact).

Latency: timing the served function of one candidate costs seconds (mostly tracing), so
timing hundreds would cost more than the screening itself. The first ``LATENCY_SAMPLES``
candidates are timed (``hypermodel.measure_latency``: beside the base preset when its latency
is known, at the serving size); a least-squares line
in multiply-adds and layer count, fitted on them, predicts the latency of the others. A
candidate whose latency (measured or predicted) is over the limit, less a margin for timing
noise (``SELECT_MARGIN``), is dropped. The trials time
their candidate again before training and refuse it over the limit, so a prediction that is
wrong costs at most a refused trial, never a slow pick.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time

from components import progress
from components.artifacts.architecture import SCREENING_FILE
from components.files import write_atomically

LATENCY_SAMPLES = 12
# Selected only below this fraction of the limit: the trial times its candidate again, and
# two paired timings of one network differ by a few percent; without a margin a candidate at
# the limit would be selected and then refused, a trial spent on nothing.
SELECT_MARGIN = 0.97
SCREEN_BATCH = 16  # images of the minibatch the scores see (at most the training images)
PROGRESS_EVERY = 10
SUMMARY_FILE = "screening.json"
MEASURED, PREDICTED = "measured", "predicted"


@dataclasses.dataclass
class Candidate:
    """One screened architecture: its values, cost, scores, and where the screening put it."""

    values: dict
    architecture: str
    FLOPs: float
    params: float
    layers: int
    latency_ms: float = math.nan
    latency_source: str = ""
    over_limit: bool = False
    scores: dict = dataclasses.field(default_factory=dict)
    seconds: float = math.nan
    rank: int = 0  # 1.. among those within the limit, by the proxy; 0: dropped
    selected: bool = False


def sample_values(hypermodel, count: int, seed: int) -> list[dict]:
    """``count`` distinct value sets of the hypermodel's space, sampled as KerasTuner's oracle
    samples (every active hyperparameter uniformly in its range), deterministic in ``seed``."""
    import keras_tuner

    space = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(space)
    seen, out = set(), []
    state = seed * 1_000_003 + 1
    for _ in range(count * 20):
        if len(out) == count:
            break
        hps = keras_tuner.HyperParameters()
        for hp in space.space:
            hps.merge([hp])
            if hps.is_active(hp):
                hps.values[hp.name] = hp.random_sample(state)
                state += 1
        key = json.dumps(hps.values, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(dict(hps.values))
    return out


def _minibatch(hypermodel, size: int):
    """One minibatch of training images at ``size`` px (float32 0..255, not augmented)."""
    from components.artifacts.examples import TRAIN_SPLIT
    from components.data import input_pipeline

    batch = max(2, min(SCREEN_BATCH, hypermodel.train_count))
    dataset = input_pipeline.make_dataset(
        hypermodel.examples_dir, TRAIN_SPLIT, size, batch, False, seed=hypermodel.seed
    )
    images, _ = next(iter(dataset.take(1)))
    return images.numpy()


def _layer_count(model) -> int:
    return sum(_layer_count(layer) if hasattr(layer, "layers") else 1 for layer in model.layers)


def _build_and_score(hypermodel, values: dict, images: dict, seed: int, time_it: bool):
    import keras
    import keras_tuner

    from components.detector import zero_cost
    from components.detector.flops import count_macs
    from components.detector.model import build_detector
    from components.search.artifact import describe_values

    started = time.time()
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    config = hypermodel.config(hp)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    detector = build_detector(config)
    if config.image_size not in images:
        images[config.image_size] = _minibatch(hypermodel, config.image_size)
    batch = images[config.image_size]
    candidate = Candidate(
        values=values,
        architecture=describe_values(values),
        FLOPs=float(count_macs(detector)),
        params=float(detector.count_params()),
        layers=_layer_count(detector),
        scores={name: zero_cost.compute(name, detector, batch) for name in zero_cost.score_names()},
    )
    if time_it:
        latency = hypermodel.measure_latency(config, detector)
        candidate.latency_ms, candidate.latency_source = latency["median_ms"], MEASURED
    candidate.seconds = time.time() - started
    return candidate


def fit_latency(candidates: list[Candidate]) -> tuple[list[float], float]:
    """Least-squares ``ms = a + b * MFLOPs + c * layers`` on the measured candidates.

    Returns the coefficients and the mean absolute error on those candidates (ms).
    """
    import numpy as np

    timed = [c for c in candidates if c.latency_source == MEASURED]
    x = np.array([[1.0, c.FLOPs / 1e6, float(c.layers)] for c in timed])
    y = np.array([c.latency_ms for c in timed])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return [float(v) for v in coef], float(np.mean(np.abs(x @ coef - y)))


def screen(
    hypermodel,
    count: int,
    top: int,
    proxy: str,
    limit_ms: float | None,
    seed: int = 0,
) -> tuple[list[Candidate], dict]:
    """Screen ``count`` sampled architectures; return them (ranked, the first ``top`` selected)
    and a summary (the latency fit, counts, seconds)."""
    from components.detector import zero_cost

    zero_cost.check_name(proxy)
    started = time.time()
    images: dict = {}
    candidates = []
    sampled = sample_values(hypermodel, count, seed)
    for i, values in enumerate(sampled):
        timed = i < LATENCY_SAMPLES
        candidates.append(_build_and_score(hypermodel, values, images, seed, timed))
        if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == len(sampled):
            per = (time.time() - started) / (i + 1)
            progress.report("screen", i + 1, len(sampled), {}, per * (len(sampled) - i - 1))
    summary = {"sampled": len(candidates), "measured": min(len(candidates), LATENCY_SAMPLES)}
    if len(candidates) > LATENCY_SAMPLES:
        coef, error = fit_latency(candidates)
        summary.update({"latency_fit": coef, "latency_fit_mae_ms": error})
        for c in candidates[LATENCY_SAMPLES:]:
            c.latency_ms = coef[0] + coef[1] * c.FLOPs / 1e6 + coef[2] * c.layers
            c.latency_source = PREDICTED
    for c in candidates:
        c.over_limit = limit_ms is not None and c.latency_ms > SELECT_MARGIN * limit_ms
    within = sorted(
        (c for c in candidates if not c.over_limit), key=lambda c: c.scores[proxy], reverse=True
    )
    for rank, c in enumerate(within, 1):
        c.rank, c.selected = rank, rank <= top
    summary.update(
        {
            "proxy": proxy,
            "over_limit": sum(c.over_limit for c in candidates),
            "selected": sum(c.selected for c in candidates),
            "seconds": time.time() - started,
        }
    )
    return sorted(candidates, key=lambda c: (c.rank == 0, c.rank)), summary


def fields() -> list[str]:
    """The columns of ``screening.csv``: rank, selection, cost, latency, every score, values."""
    from components.detector.zero_cost import score_names

    head = ["rank", "selected", "architecture", "FLOPs", "params", "layers", "latency_ms"]
    tail = ["latency_source", "over_limit", *score_names(), "seconds", "values"]
    return head + tail


def write_csv(candidates: list[Candidate], path: str) -> None:
    """Write the screened candidates to ``path`` (ranked first, the dropped after)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields())
        writer.writeheader()
        for c in candidates:
            row = {k: getattr(c, k) for k in fields() if hasattr(c, k)}
            row.update(c.scores)
            row.update(
                values=json.dumps(c.values, sort_keys=True),
                selected="yes" if c.selected else "",
                over_limit="yes" if c.over_limit else "",
                rank=c.rank or "",
            )
            writer.writerow(row)


def read_selected(directory: str) -> list[dict]:
    """The values of the selected candidates in ``directory``'s ``screening.csv``, by rank
    (empty when there is none)."""
    path = os.path.join(directory, SCREENING_FILE)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["selected"] == "yes"]
    return [json.loads(r["values"]) for r in sorted(rows, key=lambda r: int(r["rank"]))]


def screening_seconds(directory: str) -> float:
    """The seconds the screening in ``directory`` took (0 when there is none)."""
    path = os.path.join(directory, SUMMARY_FILE)
    if not os.path.exists(path):
        return 0.0
    with open(path) as f:
        return float(json.load(f).get("seconds", 0.0))


def run_once(spec, hypermodel) -> dict:
    """Screen as ``spec`` says (``screen``, ``proxy``, its latency limit, the best
    ``max_trials`` selected) into ``screening.csv`` / ``screening.json`` of ``spec.directory``
    and return the summary; a search resumed there keeps the screening it has."""
    path = os.path.join(spec.directory, SCREENING_FILE)
    summary_path = os.path.join(spec.directory, SUMMARY_FILE)
    if os.path.exists(path) and os.path.exists(summary_path):
        with open(summary_path) as f:
            return json.load(f)
    candidates, summary = screen(
        hypermodel,
        spec.screen,
        spec.max_trials,
        spec.proxy,
        spec.limit_ms,
        spec.seed,
    )
    write_csv(candidates, path + ".tmp")
    os.replace(path + ".tmp", path)
    # Written last and atomically: a resumed search finds both files whole, or screens again.
    write_atomically(summary_path, json.dumps(summary, indent=2, sort_keys=True))
    return summary
