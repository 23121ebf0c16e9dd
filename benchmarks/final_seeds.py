"""How much of a search pick's lead over ``tiny`` is the final training's seed?

``search_demo.py`` trains each pick and ``tiny`` once, with the search's seed. On datasets of
150-360 images one training seed can move test AP by more than the search gains. This trains
the picks of finished searches (the rows of a ``search_demo.py`` results file, of the arms
``--arms`` names, their architecture files in its work folder) and ``tiny`` again with further
final-training seeds (1, 2, ...; seed 0 is the row's own training, reused), the same recipe,
size and CPU budget, and reports the median over the seeds, the search itself unchanged; where
a dataset has both arms, the search's median pick against random order's and (with
``--work-dirs``) how many networks the two searches both tried, how alike the two trials of
the same network scored, and what each pick scored in the other search's trials.
The search arm's rows are those whose search confirmed ``--confirm`` leading networks
(``search_demo.py --confirm``; default the pipeline's ``search_confirm``); rows from before
confirmation existed confirmed none (``--confirm 0``). Random order never confirms.

    .venv/bin/python benchmarks/final_seeds.py --seeds 3 --search-budget-s 3600 \\
        --trial-budget-s 120 --work-dirs /tmp/nasdet-demo
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from quality import append_result, load_results, train_eval  # noqa: E402
from search_calibration import kendall  # noqa: E402
from search_demo import (  # noqa: E402
    ARMS,
    quick_search_settings,
    same_confirm,
    search_folder_name,
    search_setting,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_RESULTS = os.path.join(HERE, "results", "search_demo.jsonl")


def search_folder(row: dict, work_dirs: list[str]) -> str | None:
    """The output folder ``search_demo.py`` gave the row's search (with or without the trial
    budget in its name: it is there only when the command line set one), or None."""
    budget, trial = search_setting(row)
    confirm = row.get("search_confirm", 0)
    names = [
        search_folder_name(row["arm"], row["dataset"], row["size"], row["seed"], budget, t, confirm)
        for t in (trial, None)
    ]
    for work in work_dirs:
        for name in names:
            path = os.path.join(work, name)
            if os.path.isfile(os.path.join(path, "architecture.json")):
                return path
    return None


def _examples(row: dict, work_dirs: list[str]) -> str | None:
    for work in work_dirs:
        path = os.path.join(work, f"{row['dataset']}-examples")
        if os.path.isdir(path):
            return path
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-results", default=DEMO_RESULTS, help="search_demo.py's results")
    parser.add_argument("--work-dirs", nargs="+", default=[], help="search_demo.py's --work-dir")
    parser.add_argument("--seeds", type=int, default=3, help="final-training seeds, 0 included")
    parser.add_argument("--search-budget-s", type=float, default=0.0)
    parser.add_argument("--trial-budget-s", type=float, default=20.0)
    parser.add_argument("--datasets", nargs="*", help="default: every dataset with a row")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument(
        "--confirm",
        type=int,
        default=quick_search_settings()["confirm"],
        help="the search arm's confirmed leaders (search_demo.py --confirm)",
    )
    parser.add_argument(
        "--results", default=os.path.join(HERE, "results", "final_seeds.jsonl"), help="output"
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = [
        r
        for r in load_results(args.demo_results)
        if r.get("arm") in args.arms
        and search_setting(r) == (args.search_budget_s, args.trial_budget_s)
        and same_confirm(r, args)
        and (not args.datasets or r["dataset"] in args.datasets)
    ]
    done = load_results(args.results)
    # a tiny pick is tiny: nothing to train, it scores tiny's AP whatever the seed
    for row in [] if args.report_only else [r for r in rows if not r["pick_is_tiny"]]:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(row["threads"])
        os.environ["TF_NUM_INTEROP_THREADS"] = str(row["threads"])
        folder, examples = search_folder(row, args.work_dirs), _examples(row, args.work_dirs)
        if folder is None or examples is None:
            print(
                f"error: no search folder or examples for {row['arm']} {row['dataset']} "
                f"seed {row['seed']} "
                f"under {' '.join(args.work_dirs) or '(no --work-dirs)'}",
                file=sys.stderr,
            )
            return 2
        work = tempfile.mkdtemp(prefix="nasdet-seeds-")
        for final_seed in range(1, args.seeds):
            for model, architecture in (
                ("tiny", "tiny"),
                ("pick", os.path.join(folder, "architecture.json")),
            ):
                key = {**_key(row, model), "final_seed": final_seed}
                if any(all(d.get(k) == v for k, v in key.items()) for d in done):
                    continue
                measured = train_eval(
                    examples, architecture, {}, row["size"], row["budget_s"], final_seed, work
                )
                append_result(args.results, {**key, **measured})
                done.append({**key, **measured})
                print(key, f"AP {measured['AP']:.3f}", flush=True)
    report(rows, done)
    overlaps(rows, args.work_dirs)
    return 0


def _key(row: dict, model: str) -> dict:
    """What a training of ``model`` for ``row`` is found by: ``tiny``'s does not depend on the
    search, so one training per final seed serves every search and arm on the dataset."""
    key = {
        "dataset": row["dataset"],
        "size": row["size"],
        "budget_s": row["budget_s"],
        "threads": row["threads"],
        "model": model,
    }
    if model == "pick":
        key.update(
            arm=row["arm"],
            seed=row["seed"],
            search_budget_s=search_setting(row)[0],
            search_trial_budget_s=search_setting(row)[1],
            search_confirm=row.get("search_confirm", 0),
            pick=row["pick"],
        )
    return key


def arm_label(row: dict) -> str:
    """The arm, with the leading networks its search confirmed when there were some."""
    confirmed = row.get("search_confirm", 0)
    return f"{row['arm']} (confirms {confirmed})" if confirmed else row["arm"]


def report(rows: list[dict], done: list[dict]) -> None:
    print(
        "\n| dataset | arm | search seed | final seeds | tiny AP | pick AP | pick / tiny per seed |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    medians: dict[tuple[str, int], dict[str, float]] = {}
    for row in rows:
        ap = {"tiny": {0: row["tiny_AP"]}, "pick": {0: row["AP"]}}
        for model, found in ap.items():
            key = _key(row, model)
            for d in done:
                if all(d.get(k) == v for k, v in key.items()):
                    found[d["final_seed"]] = d["AP"]
        if row.get("pick_is_tiny"):
            ap["pick"] = ap["tiny"]
        seeds = sorted(set(ap["tiny"]) & set(ap["pick"]))
        tiny = statistics.median(ap["tiny"][s] for s in seeds)
        pick = statistics.median(ap["pick"][s] for s in seeds)
        medians.setdefault((row["dataset"], row["seed"]), {})[row["arm"]] = pick
        per_seed = ", ".join(f"{ap['pick'][s] / ap['tiny'][s]:.2f}" for s in seeds)
        print(
            f"| {row['dataset']} | {arm_label(row)} | {row['seed']} | {len(seeds)} | {tiny:.3f} | "
            f"{pick:.3f} ({pick / tiny:.2f}x) | {per_seed} |"
        )
    pairs = {k: v for k, v in medians.items() if set(ARMS) <= set(v)}
    if pairs:
        print("\nSearch against random order (median pick AP over the final seeds):\n")
    for (dataset, seed), ap in pairs.items():
        search, random = ap["search"], ap["random"]
        print(
            f"- {dataset} (search seed {seed}): {search:.3f} against {random:.3f} "
            f"({search / random:.2f}x)"
        )


def _trials(folder: str) -> list[dict]:
    """A search's trials (``trials.csv``), each with its network (its values as sorted JSON)."""
    with open(os.path.join(folder, "trials.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["network"] = json.dumps(json.loads(r["values"]), sort_keys=True)
    return rows


def _first(trials: list[dict], network: str) -> dict | None:
    return next((t for t in trials if t["network"] == network), None)


def _scored(trial: dict | None) -> str:
    if trial is None:
        return "not tried"
    if trial["status"] != "COMPLETED":
        why = "over the latency limit" if "latency limit" in trial["error"] else "failed"
        return f"trial {trial['trial_id']} {why}"
    return f"trial {trial['trial_id']} AP {float(trial['AP']):.3f}"


def overlaps(rows: list[dict], work_dirs: list[str]) -> None:
    """Per dataset and search seed with both arms' folders found: the networks both searches
    tried, how alike the two trials of each network trained in both scored (the trial's own
    noise: the same network, recipe and budget), and each pick's trial in its own search and
    in the other."""
    found: dict[tuple[str, int], dict[str, tuple[str, dict]]] = {}
    for row in rows:
        folder = search_folder(row, work_dirs)
        if folder is not None:
            found.setdefault((row["dataset"], row["seed"]), {})[row["arm"]] = (folder, row)
    pairs = {k: v for k, v in found.items() if set(ARMS) <= set(v)}
    if pairs:
        print("\nNetworks both searches tried, and each pick's trials (AP on val):\n")
    for (dataset, seed), arms in pairs.items():
        trials = {arm: _trials(folder) for arm, (folder, _) in arms.items()}
        networks = {arm: {t["network"] for t in found} for arm, found in trials.items()}
        common = networks["search"] & networks["random"]
        line = [
            f"- {dataset} (search seed {seed}): {len(common)} networks in both "
            f"({len(networks['search'])} and {len(networks['random'])} tried)"
        ]
        trained = [
            (float(a["AP"]), float(b["AP"]))
            for network in sorted(common)
            if (a := _first(trials["search"], network))["status"] == "COMPLETED"
            and (b := _first(trials["random"], network))["status"] == "COMPLETED"
        ]
        if trained:
            first, second = zip(*trained, strict=True)
            line.append(
                f"{len(trained)} trained in both, their two trials' AP: Kendall tau "
                f"{kendall(list(first), list(second)):+.2f}, median difference "
                f"{statistics.median(abs(x - y) for x, y in trained):.3f}"
            )
        for arm, other in (("search", "random"), ("random", "search")):
            pick = next(t for t in trials[arm] if t["trial_id"] == arms[arm][1]["pick"])
            line.append(
                f"{arm}'s pick: {_scored(pick)} in its search, "
                f"{_scored(_first(trials[other], pick['network']))} in the {other} one"
            )
        print("; ".join(line))


if __name__ == "__main__":
    sys.exit(main())
