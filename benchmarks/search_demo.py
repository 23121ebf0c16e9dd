"""Does the quick search pay for itself? Its pick against ``tiny`` and against random search.

For each dataset (as ``benchmarks/quality.py`` finds them) and seed, three arms, each ending in
the same final training (``--budget-s`` CPU seconds at ``--size`` px from scratch, the epoch
picked on ``val``) and scored on ``test`` by the evaluate step's code:

- ``tiny``: the hand-designed preset (a result ``quality.py`` already has for the very same
  config, seed and budget is reused);
- ``search``: the quick preset's search (``nasdet run``'s settings: screening by the zero-cost
  proxy, ``tiny`` trained first as the reference, the latency limit at ``tiny``'s measured
  latency), then its pick;
- ``random``: the same search with the screening's ranking replaced by a random order (a
  score registered here, a seeded hash of the network): the same candidates sampled, the same
  latency filter, ``tiny`` first, the same trials and epochs, so the same CPU budget; only the
  proxy's choice is missing. Then its pick.

With ``--search-budget-s B`` both searches get a time budget of ``B`` seconds instead of the
quick preset's 3 trials (``search_budget_s``: no trial starts once the screening and the
trials have taken ``B`` seconds; the trials stay the quick preset's 20-CPU-second ones unless
``--trial-budget-s`` says otherwise), so they run as many trials as fit; the search then
confirms its ``--confirm`` leading networks at the end of the budget (``search_confirm``,
default the pipeline's), random order never does (plain random search: its best single
trial). The rows of each setting are kept apart.

Each search runs in a folder of its own (dataset, size, seed, arm, budget), so no search reuses
another's trials. The search's own CPU seconds (this process's user + system time) are
reported beside. A pick that is ``tiny`` itself (the search's trial 0 won) reuses ``tiny``'s
result: the same network trained with the same recipe, seed and budget.

    .venv/bin/python benchmarks/search_demo.py --datasets raccoon bccd --seeds 3
    .venv/bin/python benchmarks/search_demo.py --datasets cards --search-budget-s 1800
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from quality import (  # noqa: E402
    FLOOR,
    append_result,
    config_digest,
    datasets,
    geometric_mean,
    ingest,
    load_results,
    train_eval,
)

ARMS = ("search", "random")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quick_search_settings() -> dict:
    """The quick preset's search, as ``components.search.run`` keywords."""
    from pipelines.parameters import DEFAULTS
    from pipelines.run_local import PRESETS

    merged = {**DEFAULTS, **PRESETS["quick"]}
    return {
        "algorithm": merged["search_algorithm"],
        "max_trials": merged["search_max_trials"],
        "epochs": merged["search_epochs"],
        "space": merged["search_space"],
        "latency_weight": merged["search_latency_weight"],
        "screen": merged["search_screen"],
        "proxy": merged["search_proxy"],
        "trial_budget_s": merged["search_trial_budget_s"],
        "confirm": merged["search_confirm"],
    }


def arm_confirm(arm: str, search_budget_s: float, confirm: int) -> int:
    """The leading networks an arm's search trains again at the end (``search_confirm``):
    random search is plain, its pick the best single trial; only a time budget confirms."""
    return 0 if arm == "random" or not search_budget_s else confirm


RANDOM_SCORE = "random_order"


def register_random_order(seed: int) -> None:
    """Register the zero-cost score ``random_order``: a hash of the network's layers and weight
    shapes with the seed, i.e. a random ranking that is the same for the same network."""
    import hashlib

    from components.detector import zero_cost

    def random_order(detector, images) -> float:
        text = repr([(w.path, tuple(w.shape)) for w in detector.weights]) + f"/{seed}"
        return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16**12

    zero_cost._SCORES.pop(RANDOM_SCORE, None)  # re-registered per seed
    zero_cost.register_score(RANDOM_SCORE)(random_order)


# With a time budget the budget decides how many trials run; this only caps them.
BUDGETED_MAX_TRIALS = 1000


def run_search(
    examples: str,
    out: str,
    arm: str,
    size: int,
    seed: int,
    search_budget_s: float = 0.0,
    trial_budget_s: float | None = None,
    confirm: int = 0,
) -> dict:
    from components.search import run as search

    settings = quick_search_settings()
    if search_budget_s:
        settings.update(budget_s=search_budget_s, max_trials=BUDGETED_MAX_TRIALS)
    if trial_budget_s is not None:
        settings["trial_budget_s"] = trial_budget_s
    settings["confirm"] = arm_confirm(arm, search_budget_s, confirm)
    if arm == "random":
        register_random_order(seed)
        settings["proxy"] = RANDOM_SCORE
    before = cpu_seconds()
    summary = search(examples, out, seed=seed, serving_size=size, **settings)
    return {"settings": settings, "summary": summary, "search_cpu_s": cpu_seconds() - before}


def search_folder_name(
    arm: str,
    dataset: str,
    size: int,
    seed: int,
    search_budget_s: float,
    trial_budget_s,
    confirm: int = 0,
) -> str:
    """The folder a search runs in, under ``--work-dir`` (the trial budget named only when the
    command line set one, the confirmed leaders only when there are some)."""
    name = f"{arm}-{dataset}-{size}-s{seed}"
    if search_budget_s:
        name += f"-b{search_budget_s:g}"
    if trial_budget_s is not None:
        name += f"-t{trial_budget_s:g}"
    if confirm:
        name += f"-c{confirm}"
    return name


def same_confirm(row: dict, args) -> bool:
    """Whether a result row's search confirmed as many leaders as the command line asks of
    its arm (rows from before confirmation existed confirmed none)."""
    wanted = arm_confirm(row["arm"], args.search_budget_s, args.confirm)
    return row.get("search_confirm", 0) == wanted


def search_setting(row_or_args) -> tuple[float, float]:
    """The search's budget and trial budget of a result row or of the command line (rows
    without a trial budget ran the quick preset's)."""
    quick = quick_search_settings()["trial_budget_s"]
    if isinstance(row_or_args, dict):
        trial = row_or_args.get("search_trial_budget_s")
        return (row_or_args.get("search_budget_s", 0.0), quick if trial is None else trial)
    trial = row_or_args.trial_budget_s
    return (row_or_args.search_budget_s, quick if trial is None else trial)


def _find(results: list[dict], digest: str, key: dict) -> dict | None:
    for r in results:
        if r.get("config_digest") == digest and all(r.get(k) == v for k, v in key.items()):
            return r
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["raccoon", "bccd", "cards", "microcontroller", "coco128"]
    )
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--search-budget-s",
        type=float,
        default=0.0,
        help="give each search this many seconds (search_budget_s) instead of the quick "
        "preset's 3 trials (0: the quick search as it is)",
    )
    parser.add_argument(
        "--trial-budget-s",
        type=float,
        help="CPU seconds per search trial (default: the quick preset's)",
    )
    parser.add_argument("--results", default=os.path.join(tempfile.gettempdir(), "demo.jsonl"))
    parser.add_argument("--also-read", nargs="*", default=[], help="quality.py results to reuse")
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "nasdet-demo"))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument(
        "--confirm",
        type=int,
        default=quick_search_settings()["confirm"],
        help="with --search-budget-s: leading networks the search arm trains again at the end "
        "(search_confirm; random search never does)",
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    results = load_results(args.results)
    known = results + [r for path in args.also_read for r in load_results(path)]
    if not args.report_only:
        os.makedirs(args.work_dir, exist_ok=True)
        for dataset, source in datasets(args.datasets).items():
            examples = ingest(dataset, source, args.work_dir)
            tiny_digest = config_digest("tiny", {}, args.size, examples)
            for seed in range(args.seeds):
                key = {
                    "dataset": dataset,
                    "size": args.size,
                    "budget_s": args.budget_s,
                    "seed": seed,
                    "threads": args.threads,
                }
                tiny = _find(known, tiny_digest, key)
                if tiny is None:
                    tiny = {**key, "model": "tiny", "config_digest": tiny_digest}
                    tiny.update(
                        train_eval(
                            examples, "tiny", {}, args.size, args.budget_s, seed, args.work_dir
                        )
                    )
                    append_result(args.results, tiny)
                    known.append(tiny)
                for arm in args.arms:
                    if any(
                        r.get("arm") == arm
                        and search_setting(r) == search_setting(args)
                        and same_confirm(r, args)
                        and all(r.get(k) == v for k, v in key.items())
                        for r in results
                    ):
                        continue
                    confirm = arm_confirm(arm, args.search_budget_s, args.confirm)
                    name = search_folder_name(
                        arm,
                        dataset,
                        args.size,
                        seed,
                        args.search_budget_s,
                        args.trial_budget_s,
                        confirm,
                    )
                    out = os.path.join(args.work_dir, name)
                    found = run_search(
                        examples,
                        out,
                        arm,
                        args.size,
                        seed,
                        args.search_budget_s,
                        args.trial_budget_s,
                        confirm,
                    )
                    pick = found["summary"]["architecture"]
                    digest = config_digest(pick, {}, args.size, examples)
                    is_tiny = found["summary"]["pick_is_base"]  # tiny's network and recipe
                    same = tiny if is_tiny else _find(known, digest, key)
                    measured = same or train_eval(
                        examples, pick, {}, args.size, args.budget_s, seed, args.work_dir
                    )
                    row = {
                        **key,
                        "arm": arm,
                        "model": arm,
                        "search_budget_s": args.search_budget_s,
                        "search_trial_budget_s": found["settings"]["trial_budget_s"],
                        "search_confirm": confirm,
                        "config_digest": digest,
                        "AP": measured["AP"],
                        "AP50": measured["AP50"],
                        "tiny_AP": tiny["AP"],
                        "pick_is_tiny": is_tiny,
                        "pick_latency_ms": found["summary"]["latency_ms"],
                        "reference_ms": found["summary"]["reference_ms"],
                        "search_cpu_s": found["search_cpu_s"],
                        "search_seconds": found["summary"]["seconds"],
                        "trials": found["summary"]["status_counts"],
                        "pick": found["summary"]["best_trial"],
                        "settings": found["settings"],
                    }
                    append_result(args.results, row)
                    results.append(row)
                    known.append(row)
                    print(json.dumps(row), flush=True)
    report(results, args)
    return 0


def report(results: list[dict], args) -> None:
    budget = args.search_budget_s
    results = [
        r
        for r in results
        if not r.get("arm") or (search_setting(r) == search_setting(args) and same_confirm(r, args))
    ]
    search = f"Search of {budget:g} s" if budget else "Quick search"
    if args.trial_budget_s is not None:
        search += f", trials of {args.trial_budget_s:g} CPU s"
    confirmed = arm_confirm("search", budget, args.confirm)
    if confirmed:
        search += f", the search confirming its {confirmed} leading networks"
    print(f"\n## {search} at {args.size} px, {args.budget_s:g} CPU s of final training\n")
    print(
        "| dataset | seeds | tiny AP | search AP | random AP | search picked tiny "
        "| search pick's latency / tiny's | search CPU s | trials |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios: dict[str, dict[str, float]] = {arm: {} for arm in ARMS}
    for dataset in dict.fromkeys(r["dataset"] for r in results if r.get("arm")):
        rows = {
            arm: [r for r in results if r["dataset"] == dataset and r.get("arm") == arm]
            for arm in ARMS
        }
        if not rows["search"]:
            continue
        tiny = statistics.median(r["tiny_AP"] for r in rows["search"])
        cells = []
        for arm in ARMS:
            if not rows[arm]:
                cells.append("-")
                continue
            ap = statistics.median(r["AP"] for r in rows[arm])
            if max(ap, tiny) >= FLOOR and tiny > 0:
                ratios[arm][dataset] = ap / tiny
                cells.append(f"{ap:.3f} ({ap / tiny:.2f}x)")
            else:
                cells.append(f"{ap:.3f} (both < {FLOOR})")
        picks = sum(r["pick_is_tiny"] for r in rows["search"])
        cpu = statistics.median(r["search_cpu_s"] for r in rows["search"])
        ratios_ms = [  # tiny picked is tiny: its own latency, whatever a timing said
            1.0 if r["pick_is_tiny"] else r["pick_latency_ms"] / r["reference_ms"]
            for r in rows["search"]
        ]
        speed = max((x for x in ratios_ms if math.isfinite(x)), default=math.nan)
        trials = statistics.median(sum(r["trials"].values()) for r in rows["search"])
        print(
            f"| {dataset} | {len(rows['search'])} | {tiny:.3f} | {cells[0]} | {cells[1]} | "
            f"{picks} of {len(rows['search'])} | at most {speed:.2f} | {cpu:.0f} | {trials:g} |"
        )
    for arm in ARMS:
        values = list(ratios[arm].values())
        if values:
            print(
                f"- {arm}: {geometric_mean(values):.2f}x tiny "
                f"(>= tiny on {sum(v >= 1 for v in values)} of {len(values)} datasets)"
            )
    both = [d for d in ratios["search"] if d in ratios["random"]]
    if both:
        wins = sum(ratios["search"][d] > ratios["random"][d] for d in both)
        print(f"- search above random on {wins} of {len(both)} datasets (median AP)")


if __name__ == "__main__":
    sys.exit(main())
