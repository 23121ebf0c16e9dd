"""The search step: run (or resume) an architecture search and write the Architecture artifact.

The KerasTuner project lives in a persistent working directory (``<output>.work`` unless
``work_dir`` is given; a URI is staged in a local copy and synced up after every trial,
``components.local_copy``) so that the same command run again continues the search; the output
directory is written atomically at the end. With ``reuse_architecture`` the search is skipped
and the given architecture (a file or a preset name) is passed on.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import shutil
import time

from components import files
from components.artifacts import architecture as architecture_files
from components.artifacts.examples import data_fingerprint
from components.errors import UserError
from components.files import atomic_output_dir, write_atomically
from components.local_copy import local_work_dir
from components.search import artifact, report
from components.search.space import get_space
from components.search.tuners import ORACLE_FILE, PROJECT_NAME, SearchSpec
from components.tuner_settings import STEP

SPEC_FILE = "search_spec.json"
_BEST_NUMBERS = ("score", "AP", "AP50", "FLOPs", "params", "latency_ms")
WORKER_BACKENDS = ("auto", "local", "kubernetes")


def _check_resume(spec: SearchSpec, work_dir: str) -> SearchSpec | None:
    """Refuse a working directory that holds a search with other settings, or whose saved
    state cannot be read back; record ours.

    ``spec.directory`` is where it is read (the local copy of a URI ``work_dir``), ``work_dir``
    what the messages name. Returns the spec found there (None when it holds no search yet).
    """
    os.makedirs(spec.directory, exist_ok=True)
    _check_state_files(spec.directory, work_dir)
    path = os.path.join(spec.directory, SPEC_FILE)
    previous = None
    if os.path.exists(path):
        with open(path) as f:
            previous = SearchSpec.from_json(f.read())
        if previous.resume_key() != spec.resume_key():
            changed = sorted(
                k for k, v in spec.resume_key().items() if previous.resume_key()[k] != v
            )
            if "data_digest" in changed:
                raise UserError(
                    f"the working directory {work_dir} holds a search on other data (examples "
                    f"{previous.data_digest or 'unrecorded'}, now {spec.data_digest}); remove it "
                    "or choose another output"
                )
            if changed == ["space_digest"]:
                raise UserError(
                    f"the working directory {work_dir} holds a search in another definition of "
                    f"the {spec.space} space (an earlier release's); remove it or choose another "
                    "output"
                )
            raise UserError(
                f"the working directory {work_dir} holds a search with other settings "
                f"({', '.join(changed)} differ); remove it or choose another output"
            )
    _write_spec(spec, spec.directory)
    return previous


def _check_state_files(directory: str, work_dir: str) -> None:
    """Refuse a search whose saved state cannot be read back: the JSON files a resumed search
    reads (the spec and the screening's summary, KerasTuner's oracle and tuner files and every
    ``trial.json``) must parse. They are written atomically; a release before that could leave
    one cut short when killed. (KerasTuner's ``build_config.json`` is not read on resume.)"""
    patterns = ("*.json", os.path.join(PROJECT_NAME, "*.json"))
    patterns += (os.path.join(PROJECT_NAME, "trial_*", "trial.json"),)
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(directory, pattern))):
            try:
                with open(path) as f:
                    json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as cut:
                reason = getattr(cut, "msg", None) or "not UTF-8 text"
                raise UserError(
                    f"the working directory {work_dir} holds a search whose "
                    f"{os.path.relpath(path, directory)} cannot be read ({reason}: cut short?); "
                    "remove it or choose another output"
                ) from None


def _with_reference(spec: SearchSpec, previous: SearchSpec | None, num_classes: int) -> SearchSpec:
    """``spec`` with the base preset's latency: the resumed search's, else measured here."""
    if not spec.needs_reference:
        return spec
    if previous is not None and previous.reference_ms is not None:
        return dataclasses.replace(spec, reference_ms=previous.reference_ms)
    from components.search.latency_limit import reference_ms

    base = get_space(spec.space).base_preset
    return dataclasses.replace(
        spec, reference_ms=reference_ms(base, num_classes, spec.serving_size)
    )


def _write_spec(spec: SearchSpec, work_dir: str) -> None:
    write_atomically(os.path.join(work_dir, SPEC_FILE), spec.to_json())


def _reuse(reuse_architecture: str, examples_dir: str | None, output_dir: str) -> dict:
    from components.detector.config_load import load_architecture

    config = load_architecture(reuse_architecture)
    if examples_dir and os.path.isdir(examples_dir):
        from components.artifacts.examples import read_labels

        config = config.replace(num_classes=len(read_labels(examples_dir)["classes"]))
    with atomic_output_dir(output_dir) as tmp:
        architecture_files.write_architecture(tmp, config.to_json(), {})
        architecture_files.write_trials_csv([], os.path.join(tmp, architecture_files.TRIALS_FILE))
        with open(os.path.join(tmp, architecture_files.REPORT_FILE), "w") as f:
            f.write(
                "# Architecture search\n\nSkipped: the architecture "
                f"`{reuse_architecture}` was reused as given ({config.name}).\n"
            )
    return {
        "output_dir": os.path.abspath(output_dir),
        "reused": reuse_architecture,
        "architecture": os.path.join(
            os.path.abspath(output_dir), architecture_files.ARCHITECTURE_FILE
        ),
        "trials": 0,
    }


def _run_workers(spec: SearchSpec, workers: int, backend: str) -> dict:
    import shlex

    from components.search import distributed, k8s_job

    if backend not in WORKER_BACKENDS:
        raise UserError(f"unknown worker backend {backend!r} (choose from {WORKER_BACKENDS})")
    if backend == "kubernetes" or (backend == "auto" and k8s_job.in_cluster()):
        return distributed.run_kubernetes(spec, workers)
    launcher = shlex.split(os.environ.get(distributed.LAUNCHER_ENV, ""))
    return distributed.run_local(spec, workers, launcher=launcher if backend == "auto" else ())


def _report_interrupted(rows: list, events: list[dict], result: dict) -> None:
    """Mark the trials a distributed search left running as failed, naming their worker.

    Once every worker has exited and the chief is stopped, a trial still ``RUNNING`` has no
    process left: its worker died (or was stopped) during it. It is reported, not lost.
    """
    exits = dict(enumerate(result.get("worker_exits", [])))
    runner = {}
    for event in events:
        if event.get("event") == "begin":
            runner[event["trial_id"]] = event.get("tuner_id", "?")
    for row in rows:
        if row.status != "RUNNING":
            continue
        tuner = runner.get(row.trial_id, "its worker")
        index = tuner[len("worker") :] if tuner.startswith("worker") else ""
        code = exits.get(int(index)) if index.isdigit() else None
        status = f" (exit status {code})" if code is not None else ""
        row.status = "FAILED"
        row.error = f"interrupted: {tuner} stopped before the trial ended{status}"


def run(
    examples_dir: str,
    output_dir: str,
    algorithm: str = STEP.algorithm,
    max_trials: int = STEP.max_trials,
    epochs: int = STEP.epochs,
    workers: int = STEP.workers,
    seed: int = STEP.seed,
    space: str = STEP.space,
    objective: str = STEP.objective,
    reuse_architecture: str | None = None,
    *,
    work_dir: str | None = None,
    latency_weight: float = STEP.latency_weight,
    max_latency_ms: float | None = STEP.max_latency_ms,
    serving_size: int = 0,
    screen: int = STEP.screen,
    proxy: str = STEP.proxy,
    trial_budget_s: float = STEP.trial_budget_s,
    budget_s: float = STEP.budget_s,
    confirm: int = STEP.confirm,
    train_images: int | None = None,
    eval_images: int | None = None,
    worker_backend: str = "auto",
    verbose: int | str = 0,
) -> dict:
    """Search a detector architecture on ``examples_dir``; write the Architecture artifact.

    Args:
        examples_dir: an Examples artifact.
        output_dir: where the Architecture artifact is written.
        algorithm: random | bayesian | hyperband (``choices.ALGORITHMS``).
        max_trials: trials to run, in all (a resumed search counts those already finished).
        epochs: epochs per trial (Hyperband: the most epochs any trial gets).
        workers: 0 runs the trials here; more runs KerasTuner's distributed mode (local
            subprocesses, or worker pods inside a cluster).
        seed: the oracle's and the trials' seed.
        space: the search space (``space.SPACES``: small | large).
        objective: AP | AP50 on the val split.
        reuse_architecture: a file or preset that skips the search.
        work_dir: keeps the tuner project (default ``<output_dir>.work``; a path, or a URI
            when ``workers`` is 0): the same call again resumes.
        latency_weight: the exponent of the latency-aware reward ``(latency / reference) ** w``
            that multiplies the objective (MnasNet uses -0.07; 0: the objective alone); the
            reference is the measured latency of the space's base preset.
        max_latency_ms: the hard latency limit: a trial whose measured latency is over it is
            refused before training. None: the base preset's latency; <= 0: no limit.
        serving_size: the input size latencies are measured at, the one the pick will be
            trained and served at (0: each architecture's own).
        screen: architectures to screen with the zero-cost score ``proxy`` before the search
            (``components.search.screening``): those over the latency limit are dropped, the
            best ``max_trials`` of the others are the first trials. 0: no screening.
        proxy: the zero-cost score that ranks them (``components.detector.zero_cost``).
        trial_budget_s: CPU seconds of training per trial (the epochs, at most ``epochs``,
            and the schedule fitted to them, as the train step fits the pick's); 0: ``epochs``
            epochs per trial. Hyperband ignores it (it sets the epochs itself).
        budget_s: the search's time budget in seconds: no trial starts once the screening
            and the trials have taken that long (a resumed search counts the earlier runs'
            time); 0: none, ``max_trials`` alone bounds the search (it caps it either way).
        confirm: with ``budget_s`` (random and Bayesian search): the end of the budget trains
            the ``confirm`` networks with the best scores again with another seed, and the
            pick is the best mean of those trained twice (``components.search.confirm``);
            0: the best single trial.
        train_images: caps the images a trial trains on (None: all).
        eval_images: caps the images a trial is scored on (None: all).
        worker_backend: auto | local | kubernetes: where the workers run.
        verbose: passed to ``Model.fit`` in the trials.

    Returns:
        A summary dict: the best trial and its numbers, counts, paths; ``resumed_trials``
        (trials finished before this call, not run again), ``trials_run`` (trials started by
        this call) and, with workers, ``distributed`` (exit statuses, trials per tuner).

    Raises:
        UserError: bad input, or no trial completed.
    """
    if reuse_architecture:
        return _reuse(reuse_architecture, examples_dir, output_dir)
    started = time.time()
    if not os.path.isdir(examples_dir):
        raise UserError(f"--examples {examples_dir}: not a directory")
    if workers < 0:
        raise UserError(f"--workers must be >= 0, got {workers}")
    search_space = get_space(space)
    home = files.absolute(work_dir or f"{os.path.abspath(output_dir).rstrip('/')}.work")
    if workers > 0 and files.is_remote(home):
        raise UserError(
            f"--workers {workers}: the workers share the search's work folder, which must be a "
            f"path they all mount (a volume), not the URI {home}"
        )
    with local_work_dir(home, last=(ORACLE_FILE,)) as work:
        spec = SearchSpec(
            examples_dir=os.path.abspath(examples_dir),
            directory=work.local,
            algorithm=algorithm,
            max_trials=max_trials,
            epochs=epochs,
            seed=seed,
            space=space,
            objective=objective,
            latency_weight=latency_weight,
            max_latency_ms=max_latency_ms,
            serving_size=serving_size,
            screen=screen,
            proxy=proxy,
            trial_budget_s=trial_budget_s,
            budget_s=budget_s,
            confirm=confirm,
            train_images=train_images,
            eval_images=eval_images,
            data_digest=data_fingerprint(examples_dir),
            space_digest=search_space.digest(),
        )
        previous = _check_resume(spec, home)
        from components.search.search_loop import make_hypermodel, search_in_process

        spec = _with_reference(spec, previous, make_hypermodel(spec).num_classes)
        _write_spec(spec, work.local)
        screened = None
        if spec.screen:
            from components.search import screening

            screened = screening.run_once(spec, make_hypermodel(spec, verbose))
        work.sync()  # the spec, its reference latency and the screening: kept before any trial
        from components.search.tuners import read_events

        # A resumed search (the same work folder: a rerun, or a retried pod) keeps finished trials:
        # completed ones and failed ones (e.g. refused over the latency limit) alike.
        finished_before = {
            r.trial_id
            for r in artifact.read_trials(spec.project_dir)
            if r.status in (artifact.COMPLETED, artifact.FAILED)
        }

        distributed_result = None
        if workers > 0:
            make_hypermodel(spec)  # bad input fails here, before any process starts
            distributed_result = _run_workers(spec, workers, worker_backend)
        else:
            search_in_process(spec, verbose, after_trial=work.sync)

        rows = artifact.read_trials(spec.project_dir)
        events = read_events(spec.project_dir)
        if distributed_result is not None:
            _report_interrupted(rows, events, distributed_result)
        limit = spec.limit_ms
        for row in rows:
            row.max_latency_ms = math.nan if limit is None else limit
        best = artifact.best_trial(rows)
        all_too_slow = bool(rows) and all(r.over_limit for r in rows)
        if best is None and not all_too_slow:
            errors = "; ".join(sorted({r.error for r in rows if r.error})) or "no trial ran"
            raise UserError(f"no search trial completed ({len(rows)} trials): {errors}")
        from components.detector.config_load import get_preset
        from components.search.hypermodel import base_values, production_config

        num_classes = make_hypermodel(spec).num_classes
        if best is None:  # every candidate was slower than the limit: the base preset is not
            base = search_space.base_preset
            config = get_preset(base).with_overrides({"num_classes": num_classes})
        else:
            config = production_config(
                best.values, search_space, num_classes, epochs, spec.serving_size
            )
        settings = {
            "algorithm": algorithm,
            "max trials": max_trials,
            "epochs per trial": epochs
            if not spec.trial_budget_s or algorithm == "hyperband"
            else f"as many as {spec.trial_budget_s:g} CPU s buy (at most {epochs})",
            "workers": workers,
            "seed": seed,
            "search space": space,
            "objective": objective
            if not latency_weight
            else f"{objective} * (latency / {spec.reference_ms:.2f} ms)^{latency_weight}",
            "latency limit": _limit_words(spec),
        }
        if spec.budget_s:
            settings["time budget"] = (
                f"{spec.budget_s:g} s of screening and trials (no trial starts after it)"
            )
            if spec.confirm and algorithm != "hyperband":
                settings["confirmation"] = (
                    f"the end of the budget trains the {spec.confirm} best networks again; "
                    "the pick is the best mean of those trained twice"
                )
        base_point = base_values(search_space, spec.serving_size)
        base_ids = [
            r.trial_id
            for r in rows
            if base_point
            and {k: v for k, v in r.values.items() if not k.startswith("tuner/")} == base_point
        ]
        base_row = (base_ids[0], search_space.base_preset) if base_ids else None
        if best is not None and base_row and best.trial_id == base_row[0]:
            settings["pick"] = (
                f"the base preset {search_space.base_preset} (trained first as the reference): "
                "no candidate scored higher"
            )
        if best is None:
            settings["pick"] = (
                f"none of the {len(rows)} trials was within the latency limit: the base preset "
                f"{search_space.base_preset} is passed on"
            )
        with atomic_output_dir(output_dir) as tmp:
            architecture_files.write_architecture(
                tmp, config.to_json(), best.values if best else {}
            )
            architecture_files.write_trials_csv(
                rows, os.path.join(tmp, architecture_files.TRIALS_FILE)
            )
            if screened is not None:
                name = architecture_files.SCREENING_FILE
                shutil.copyfile(os.path.join(work.local, name), os.path.join(tmp, name))
            report.write_report(tmp, rows, best, settings, screened, base_row)
    started_here = {
        e["trial_id"] for e in events if e.get("event") == "begin" and e.get("time", 0) >= started
    }
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    out = os.path.abspath(output_dir)
    summary = {
        "output_dir": out,
        "architecture": os.path.join(out, architecture_files.ARCHITECTURE_FILE),
        "work_dir": home,
        "best_trial": best.trial_id if best else None,
        **{k: getattr(best, k) if best else math.nan for k in _BEST_NUMBERS},
        "fallback": None if best else search_space.base_preset,
        "pick_is_base": best is None or bool(base_row and best.trial_id == base_row[0]),
        "max_latency_ms": limit,
        "reference_ms": spec.reference_ms,
        "over_limit_trials": sum(r.over_limit for r in rows),
        "screening": screened,
        "trials": len(rows),
        "resumed_trials": len(finished_before),
        "trials_run": len(started_here),
        "status_counts": counts,
        "seconds": round(time.time() - started, 1),
    }
    if distributed_result is not None:
        ended: dict[str, int] = {}
        for e in events:
            if e.get("event") == "end" and e.get("time", 0) >= started:
                ended[e.get("tuner_id", "?")] = ended.get(e.get("tuner_id", "?"), 0) + 1
        summary["distributed"] = {**distributed_result, "trials_by_tuner": ended}
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}


def _limit_words(spec: SearchSpec) -> str:
    """The latency limit as the report states it."""
    size = f"{spec.serving_size} px" if spec.serving_size else "each architecture's own size"
    where = f"measured at {size}, batch 1, served function with NMS"
    if spec.limit_ms is None:
        return "none"
    if spec.max_latency_ms is None:
        base = get_space(spec.space).base_preset
        return f"{spec.limit_ms:.2f} ms (the base preset {base}'s latency, {where})"
    return f"{spec.limit_ms:.2f} ms ({where})"


def summary_json(summary: dict) -> str:
    """Return ``summary`` as one line of JSON (what the command line prints)."""
    return json.dumps(summary, sort_keys=True, default=str)
