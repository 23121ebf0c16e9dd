"""Does the search's proxy rank architectures the way the final training does?

For each dataset: sample architectures of the ``small`` space as the search samples them
(``screening.sample_values``), keep the first ``--archs`` whose latency, timed beside
``tiny``'s (``latency_limit.PairedReference``; the first few timed, the others predicted as the
screening predicts them), is within ``tiny``'s: the band the search picks from. ``tiny``
itself is added. Each is then

- scored by every training-free score (``components.detector.zero_cost``), its parameters,
  multiply-adds and its measured latency (timed again, beside ``tiny``);
- trained as a search trial trains it (``--trial-epochs`` at the serving size with the
  preset's recipe) and scored on ``val``: the short-training proxy;
- trained as the pipeline trains the pick (the final recipe for ``--budget-s`` CPU seconds at
  the serving size, ``nasdet train``'s budget) and scored on ``test``: the truth.

The table is Kendall's tau-b between the final test AP and each proxy, per dataset. Several
processes may run at once on the same ``--work-dir`` and ``--results`` (each claims the next
architecture not yet claimed); rows already in the results are not run again, nor are
architectures the ``small`` space no longer holds (selected before it changed; their rows stay
in the report). Run again with another ``--seed`` on the same ``--work-dir``, the same
architectures are trained with that seed (``--truth-only``: only the final training), and a
further table judges the proxies of the first seed against the median final AP over the seeds,
beside how well one seed's final AP ranks another's: the noise any proxy is judged through.

    .venv/bin/python benchmarks/search_calibration.py --datasets raccoon bccd microcontroller
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from quality import append_result, datasets, ingest, load_results  # noqa: E402

# latency_ratio, not latency_ms: each process measures tiny's latency once, and two processes
# on this machine measured it up to 2x apart; the paired ratio to tiny is comparable across them.
PROXIES = ("budget_trial_AP", "trial_AP", "naswot", "synflow", "params", "FLOPs", "latency_ratio")


def _claim(path: str) -> bool:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _hypermodel(examples: str, work: str, args):
    from components.search.latency_limit import reference_ms
    from components.search.search_loop import make_hypermodel
    from components.search.tuners import SearchSpec

    spec = SearchSpec(
        examples_dir=examples,
        directory=work,
        space="small",
        epochs=args.trial_epochs,
        serving_size=args.size,
        seed=args.seed,
        latency_weight=0.0,
    )
    hypermodel = make_hypermodel(spec)
    ref = reference_ms("tiny", hypermodel.num_classes, args.size)
    hypermodel = make_hypermodel(dataclasses.replace(spec, reference_ms=ref))
    hypermodel.limit_ms = None  # every architecture is trained, whatever its latency
    return hypermodel, ref


def select(hypermodel, ref: float, path: str, args) -> list[dict]:
    """The architectures of one dataset (written once to ``path``; other processes wait)."""
    from components.search import screening
    from components.search.hypermodel import base_values

    lock = path + ".lock"
    if not _claim(lock):
        while not os.path.exists(path):
            time.sleep(5)
        with open(path) as f:
            return json.load(f)
    candidates, _ = screening.screen(
        hypermodel, args.sample, args.sample, "params", ref, seed=args.seed
    )
    order = {
        json.dumps(v, sort_keys=True): i
        for i, v in enumerate(screening.sample_values(hypermodel, args.sample, args.seed))
    }
    candidates.sort(key=lambda c: order[json.dumps(c.values, sort_keys=True)])
    within = [c for c in candidates if not c.over_limit][: args.archs]
    archs = [{"values": base_values(hypermodel.space, args.size), "base": True}]
    archs += [{"values": c.values, "base": False} for c in within]
    with open(path + ".tmp", "w") as f:
        json.dump(archs, f)
    os.replace(path + ".tmp", path)
    return archs


def zero_cost_scores(hypermodel, values: dict) -> dict:
    import keras
    import keras_tuner

    from components.detector import zero_cost
    from components.detector.flops import count_macs
    from components.detector.model import build_detector
    from components.search.screening import _minibatch

    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    config = hypermodel.config(hp)
    keras.backend.clear_session()
    keras.utils.set_random_seed(hypermodel.seed)
    detector = build_detector(config)
    images = _minibatch(hypermodel, config.image_size)
    scores = {name: zero_cost.compute(name, detector, images) for name in zero_cost.score_names()}
    latency = hypermodel.measure_latency(config, detector)
    return {
        **scores,
        "FLOPs": float(count_macs(detector)),
        "latency_ms": latency["median_ms"],
        "latency_ratio": latency.get("ratio", math.nan),
    }


def trial(hypermodel, values: dict) -> dict:
    """The search's own trial: build, train ``trial_epochs``, score on val."""
    import keras
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    keras.backend.clear_session()
    keras.utils.set_random_seed(hypermodel.seed)
    started = time.process_time()
    metrics = hypermodel.fit(hp, hypermodel.build(hp))
    return {"trial_AP": metrics["AP"], "trial_cpu_s": time.process_time() - started}


def budget_trial(hypermodel, values: dict, budget_s: float) -> dict:
    """The search's trial with a CPU-seconds budget (``search_trial_budget_s``), scored on val."""
    hypermodel.trial_budget_s = budget_s
    saved, hypermodel.epochs = hypermodel.epochs, 1000  # the budget decides
    try:
        out = trial(hypermodel, values)
    finally:
        hypermodel.trial_budget_s, hypermodel.epochs = 0.0, saved
    return {"budget_trial_AP": out["trial_AP"], "budget_trial_cpu_s": out["trial_cpu_s"]}


def add_budget_trials(args) -> None:
    """Give every calibrated architecture a budgeted trial (rows in ``--budget-results``)."""
    rows = load_results(args.results)
    for name in dict.fromkeys(r["dataset"] for r in rows):
        examples = os.path.join(args.work_dir, f"{name}-examples")
        hypermodel, _ = _hypermodel(examples, os.path.join(args.work_dir, name), args)
        # Rows of --truth-only seeds have no proxies to add a trial beside.
        for r in [r for r in rows if r["dataset"] == name and "trial_AP" in r]:
            claim = os.path.join(
                args.work_dir, f"{name}-{r['seed']}-{r['arch']}-b{args.trial_budget_s:g}.claim"
            )
            if not _claim(claim):
                continue
            row = {
                "dataset": name,
                "arch": r["arch"],
                "seed": r["seed"],
                "trial_budget_s": args.trial_budget_s,
            }
            row.update(budget_trial(hypermodel, r["values"], args.trial_budget_s))
            append_result(args.budget_results, row)
            print(json.dumps(row), flush=True)


def final(hypermodel, values: dict, examples: str, work: str, args) -> dict:
    """Train as the pipeline trains the pick (budget, final recipe); score on test."""
    import keras

    from components.evaluate import run as evaluate
    from components.search.hypermodel import production_config
    from components.train import run as train

    config = production_config(
        values, hypermodel.space, hypermodel.num_classes, 30, image_size=args.size
    )
    folder = tempfile.mkdtemp(prefix="cal-", dir=work)
    path = os.path.join(folder, "architecture.json")
    config.save(path)
    model = os.path.join(folder, "model")
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    summary = train(examples, path, model, budget_s=args.budget_s, seed=args.seed, verbose=0)
    metrics = evaluate(model, examples, model + ".eval")["metrics"]
    return {"AP": metrics["AP"], "AP50": metrics["AP50"], "epochs": summary.get("epochs")}


def kendall(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import kendalltau

    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 3:
        return math.nan
    return float(kendalltau(*zip(*pairs, strict=True)).statistic)


def report(results: list[dict], args) -> None:
    """Print the tau table of every architecture measured, then of those the ``small`` space
    still holds when it has changed since (results are kept across space changes)."""
    from components.search.hypermodel import in_space
    from components.search.space import get_space

    if not results:
        print("no results yet")
        return
    space = get_space("small")
    now = [r for r in results if in_space(r["values"], space, args.size)]
    _seeds_table(now, args)
    first = min(r["seed"] for r in results)  # the tables of one seed: the first
    results = [r for r in results if r["seed"] == first]
    now = [r for r in now if r["seed"] == first]
    _tau_table(results, args, "every architecture measured")
    if len(now) < len(results):
        _tau_table(now, args, f"only the architectures the {space.name} space holds now")

        def run(r: dict) -> tuple:
            return r["dataset"], r["seed"], r["budget_s"]

        tiny = {run(r): r["AP"] for r in results if r["base"]}
        left = [r for r in results if r not in now and run(r) in tiny]
        beat = sum(r["AP"] > tiny[run(r)] for r in left)
        print(f"- the {len(left)} outside it: {beat} beat tiny (same dataset, seed and budget)")


def _seeds_table(results: list[dict], args) -> None:
    """The architectures trained with two or more seeds: Kendall tau between each proxy (as one
    search sees it: the first seed's) and the median final AP over the seeds, and between two
    seeds' final APs (how well the final training ranks itself: the noise every proxy is judged
    through)."""
    runs: dict[tuple, list[dict]] = {}
    for r in sorted(results, key=lambda r: r["seed"]):
        runs.setdefault((r["dataset"], r["arch"], r["budget_s"]), []).append(r)
    repeated = [v for v in runs.values() if len({r["seed"] for r in v}) > 1]
    if not repeated:
        return
    seeds = sorted({r["seed"] for v in repeated for r in v})
    rows = [
        {**v[0], "AP_median": statistics.median(r["AP"] for r in v), "AP_other": v[1]["AP"]}
        for v in repeated
    ]
    lines = [(proxy, proxy, "AP_median") for proxy in PROXIES]
    lines.append((f"final AP of seed {seeds[0]} against seed {seeds[1]}", "AP", "AP_other"))
    _print_taus(
        rows,
        f"the median final test AP over seeds {seeds} ({args.budget_s:.0f} CPU s at {args.size}"
        f" px) and each proxy of seed {seeds[0]}, the architectures of the space trained with two"
        " or more seeds",
        lines,
    )


def _tau_table(results: list[dict], args, which: str) -> None:
    _print_taus(
        results,
        f"the final test AP ({args.budget_s:.0f} CPU s at {args.size} px) and each proxy, {which}"
        " (latency: lower is faster, so a negative tau favours slow networks)",
        [(proxy, proxy, "AP") for proxy in PROXIES],
    )
    names = list(dict.fromkeys(r["dataset"] for r in results))
    for name in names:
        rows = [r for r in results if r["dataset"] == name]
        base = [r["AP"] for r in rows if r["base"]]
        others = sorted((r["AP"] for r in rows if not r["base"]), reverse=True)
        if base and others:
            better = sum(ap > base[0] for ap in others)
            print(
                f"- {name}: tiny {base[0]:.3f}; best other {others[0]:.3f}; "
                f"{better} of {len(others)} within tiny's latency beat it"
            )


def _print_taus(rows: list[dict], between: str, lines: list[tuple[str, str, str]]) -> None:
    """A markdown table: per ``(label, proxy, truth)`` line, Kendall tau-b of ``proxy`` against
    ``truth`` over each dataset's rows."""
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    print(f"\nKendall tau-b between {between}:\n")
    print("| proxy | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, proxy, truth in lines:
        cells = []
        for name in names:
            own = [r for r in rows if r["dataset"] == name]
            xs = [r.get(proxy, math.nan) for r in own]  # none in a --truth-only row
            cells.append(f"{kendall(xs, [r[truth] for r in own]):+.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    counts = [str(sum(r["dataset"] == n for r in rows)) for n in names]
    print("| architectures | " + " | ".join(counts) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["raccoon", "bccd", "microcontroller"])
    parser.add_argument("--archs", type=int, default=20, help="architectures besides tiny")
    parser.add_argument("--sample", type=int, default=60, help="architectures sampled to pick from")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--budget-s", type=float, default=90.0, help="final training CPU s")
    parser.add_argument("--trial-epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default=os.path.join(tempfile.gettempdir(), "calib.jsonl"))
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "nasdet-calib"))
    parser.add_argument("--trial-budget-s", type=float, default=20.0)
    parser.add_argument(
        "--budget-results", default=os.path.join(tempfile.gettempdir(), "calib-budget.jsonl")
    )
    parser.add_argument(
        "--add-budget-trials", action="store_true", help="only add budgeted trials to the rows"
    )
    parser.add_argument(
        "--truth-only",
        action="store_true",
        help="only the final training (another seed of the truth; the first seed's proxies)",
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    if args.add_budget_trials:
        add_budget_trials(args)
    elif not args.report_only:
        from components.search.hypermodel import in_space

        os.makedirs(args.work_dir, exist_ok=True)
        for name, source in datasets(args.datasets).items():
            lock = os.path.join(args.work_dir, f"{name}.ingest")
            if _claim(lock):
                examples = ingest(name, source, args.work_dir)
                open(lock + ".done", "w").close()
            else:
                while not os.path.exists(lock + ".done"):
                    time.sleep(5)
                examples = os.path.join(args.work_dir, f"{name}-examples")
            hypermodel, ref = _hypermodel(examples, os.path.join(args.work_dir, name), args)
            archs = select(hypermodel, ref, os.path.join(args.work_dir, f"{name}-archs.json"), args)
            done = {
                (r["dataset"], r["arch"])
                for r in load_results(args.results)
                if r["seed"] == args.seed and r["budget_s"] == args.budget_s
            }
            for i, arch in enumerate(archs):
                if not in_space(arch["values"], hypermodel.space, args.size):
                    continue  # selected before the space changed: kept in the report, not run
                claim = os.path.join(args.work_dir, f"{name}-{args.seed}-{i}.claim")
                if (name, i) in done or not _claim(claim):
                    continue
                row = {"dataset": name, "arch": i, "seed": args.seed, "budget_s": args.budget_s}
                row.update({"base": arch["base"], "values": arch["values"], "ref_ms": ref})
                if not args.truth_only:
                    row.update(zero_cost_scores(hypermodel, arch["values"]))
                    row.update(trial(hypermodel, arch["values"]))
                row.update(final(hypermodel, arch["values"], examples, args.work_dir, args))
                append_result(args.results, row)
                print(json.dumps({k: v for k, v in row.items() if k != "values"}), flush=True)
    results = load_results(args.results)
    extra = {
        (r["dataset"], r["arch"], r["seed"]): r["budget_trial_AP"]
        for r in load_results(args.budget_results)
        if r["trial_budget_s"] == args.trial_budget_s
    }
    for r in results:
        r["budget_trial_AP"] = extra.get((r["dataset"], r["arch"], r["seed"]), math.nan)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
