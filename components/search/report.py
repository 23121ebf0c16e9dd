"""``report.md`` of a search: the trial table and the Pareto fronts of AP against measured latency
(the latency limit drawn) and against multiply-adds, the base preset as reference point and the
pick ringed; the trials refused over the latency limit listed."""

from __future__ import annotations

import math
import os
import statistics

from components.artifacts.architecture import PLOT_FILE, REPORT_FILE
from components.search.artifact import COMPLETED, TrialRow
from components.search.confirm import pick_rows

LABEL_ALL_UP_TO = 15  # trials per panel named by id; beyond, the front, the pick and the base


def pareto_front(rows: list[TrialRow], cost: str = "FLOPs") -> list[TrialRow]:
    """Return the completed trials no other completed trial beats on both AP and ``cost``
    (``FLOPs`` or ``latency_ms``).

    A trial is dominated when another has AP >= and cost <= with one of them strictly better.
    The front is returned by increasing cost.
    """
    done = [r for r in rows if r.status == COMPLETED and not math.isnan(r.AP + getattr(r, cost))]
    front = []
    for r in done:
        c = getattr(r, cost)
        dominated = any(
            o.AP >= r.AP and getattr(o, cost) <= c and (o.AP > r.AP or getattr(o, cost) < c)
            for o in done
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (getattr(r, cost), -r.AP))


def plot_ap_vs_flops(
    rows: list[TrialRow],
    path: str,
    objective: str = "AP",
    best: TrialRow | None = None,
    base: tuple[str, str] | None = None,
) -> bool:
    """Draw the search's Pareto fronts into PNG ``path``: AP against measured latency (the
    latency limit dashed) when the trials were timed, and AP against FLOPs; each front joined,
    ``best`` (the pick) ringed, ``base`` (``(trial id, preset name)``, the base preset trained
    as a trial) drawn as the reference point; trials named by id as ``labelled`` says.

    Returns False (and writes nothing) when no trial completed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.status == COMPLETED and not math.isnan(r.AP + r.FLOPs)]
    if not done:
        return False
    timed = [r for r in done if not math.isnan(r.latency_ms)]
    costs = (["latency_ms"] if timed else []) + ["FLOPs"]
    fig, axes = plt.subplots(1, len(costs), figsize=(6 * len(costs), 5.2), dpi=100, squeeze=False)
    for ax, cost in zip(axes[0], costs, strict=True):
        points = timed if cost == "latency_ms" else done
        front = pareto_front(points, cost)
        ax.scatter([getattr(r, cost) for r in points], [r.AP for r in points], label="trial")
        ax.plot(
            [getattr(r, cost) for r in front],
            [r.AP for r in front],
            color="tab:red",
            marker="o",
            label="Pareto front",
        )
        for r in labelled(points, front, best, base):
            ax.annotate(
                r.trial_id,
                (getattr(r, cost), r.AP),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        reference = next((r for r in points if base and r.trial_id == base[0]), None)
        if reference is not None:
            ax.scatter(
                [getattr(reference, cost)],
                [reference.AP],
                marker="*",
                s=260,
                color="tab:orange",
                edgecolors="black",
                zorder=3,
                label=f"{base[1]} (hand-designed preset)",
            )
        _ring(ax, best, cost)
        if cost == "latency_ms":
            limit = rows[0].max_latency_ms
            if not math.isnan(limit):
                ax.axvline(limit, color="tab:red", linestyle="--", label=f"limit {limit:.1f} ms")
            ax.set_xlabel("measured latency, ms (served function with NMS, batch 1)")
            ax.set_title("AP vs measured latency: Pareto front")
        else:
            ax.set_xscale("log")
            ax.set_xlabel("multiply-adds (log scale)")
            ax.set_title("AP vs multiply-adds: Pareto front")
        ax.set_ylabel("COCO AP on val")
        ax.grid(True, alpha=0.3)
        # Below the axes: inside, it hid points (the preset sits low and to the right).
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.suptitle(f"Search trials (objective: {objective})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return True


def labelled(
    points: list[TrialRow],
    front: list[TrialRow],
    best: TrialRow | None,
    base: tuple[str, str] | None,
) -> list[TrialRow]:
    """The trials a panel names by trial id: all of them up to ``LABEL_ALL_UP_TO``; beyond, only
    the front, the pick and the base preset (the ids of a one-hour search's 40 trials overlap
    into an unreadable blot; every trial stays in ``trials.csv``)."""
    if len(points) <= LABEL_ALL_UP_TO:
        return points
    keep = {r.trial_id for r in front} | {best.trial_id if best else None, base and base[0]}
    return [r for r in points if r.trial_id in keep]


def _ring(ax, best: TrialRow | None, x: str) -> None:
    """Mark the pick with a ring and a label."""
    if best is None or math.isnan(getattr(best, x) + best.AP):
        return
    ax.scatter([getattr(best, x)], [best.AP], s=220, facecolors="none", edgecolors="black")
    ax.annotate("pick", (getattr(best, x), best.AP), textcoords="offset points", xytext=(8, -14))


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def write_report(
    out_dir: str,
    rows: list[TrialRow],
    best: TrialRow | None,
    settings: dict,
    screening: dict | None = None,
    base: tuple[str, str] | None = None,
) -> str:
    """Write ``report.md`` (and the PNG plot) into ``out_dir``; return the report path.

    ``settings`` (algorithm, trials, epochs, space, objective, ...) is listed at the top;
    ``screening`` (the summary of ``screening.screen``, its table ``screening.csv`` in
    ``out_dir``) adds a section on the screening. ``base`` (trial id, preset) marks the trial
    that trained the space's base preset.
    """
    has_plot = plot_ap_vs_flops(
        rows, os.path.join(out_dir, PLOT_FILE), settings.get("objective", "AP"), best, base
    )
    front_ids = {r.trial_id for r in pareto_front(rows)}
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines = ["# Architecture search", ""]
    lines += [f"- {key}: {value}" for key, value in settings.items()]
    lines.append("- trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    if best is not None:
        lines.append(
            f"- best trial: {best.trial_id} (score {best.score:.4f}, AP {best.AP:.4f}, "
            f"AP50 {best.AP50:.4f}, {best.FLOPs / 1e6:.1f} M FLOPs)"
        )
        picked = pick_rows(rows)
        if len(picked) > 1:
            lines.append(
                f"- picked on the mean of its {len(picked)} trials "
                f"({', '.join(r.trial_id for r in picked)}): "
                f"score {statistics.fmean(r.score for r in picked):.4f}, "
                f"AP {statistics.fmean(r.AP for r in picked):.4f} (the leading networks were "
                "trained again with another seed at the end of the budget)"
            )
    lines += [
        "",
        "| trial | status | score | AP | AP50 | MFLOPs | params | latency ms | over limit "
        "| seconds | Pareto | architecture |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.trial_id}{f' (repeat {r.repeat})' if r.repeat else ''} | {r.status} | {_fmt(r.score, '.4f')} | {_fmt(r.AP, '.4f')} | "
            f"{_fmt(r.AP50, '.4f')} | {_fmt(r.FLOPs / 1e6, '.1f')} | {_fmt(r.params, '.0f')} | "
            f"{_fmt(r.latency_ms, '.1f')} | {'yes' if r.over_limit else ''} | "
            f"{_fmt(r.seconds, '.1f')} | "
            f"{'yes' if r.trial_id in front_ids else ''} | {r.architecture} |"
        )
    over = [r for r in rows if r.over_limit]
    if over:
        lines += [
            "",
            f"## Over the latency limit ({rows[0].max_latency_ms:.2f} ms): not trained",
            "",
        ]
        lines += [f"- {r.trial_id}: {r.latency_ms:.2f} ms, {r.architecture}" for r in over]
    failed = [r for r in rows if r.error and not r.over_limit]
    if failed:
        lines += ["", "## Failed trials", ""]
        lines += [f"- {r.trial_id}: {r.error}" for r in failed]
    if has_plot:
        lines += ["", f"![Pareto front: AP vs measured latency and multiply-adds]({PLOT_FILE})", ""]
        lines.append(
            "Multiply-adds at the trial's input size; red: the Pareto front; star: the base "
            "preset, trained as a trial for reference."
        )
    threads = {int(r.threads) for r in rows if not math.isnan(r.threads)}
    if threads:
        lines.append(
            "Latency: median of the served detection function (NMS included), batch 1, on the "
            f"machine that ran the trial ({', '.join(map(str, sorted(threads)))} threads)."
        )
    if screening is not None:
        lines += _screening_lines(out_dir, screening)
    path = os.path.join(out_dir, REPORT_FILE)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _screening_lines(out_dir: str, summary: dict) -> list[str]:
    """The report's screening section: what was screened, how, and the selected candidates."""
    import csv

    from components.artifacts.architecture import SCREENING_FILE
    from components.detector.zero_cost import score_names

    with open(os.path.join(out_dir, SCREENING_FILE), newline="") as f:
        chosen = [r for r in csv.DictReader(f) if r["selected"] == "yes"]
    lines = [
        "",
        "## Screening",
        "",
        f"{summary['sampled']} architectures sampled and scored untrained on one minibatch of "
        f"training images ({', '.join(score_names())}) in {summary['seconds']:.0f} s. Latency: "
        f"the first {summary['measured']} timed",
    ]
    if "latency_fit_mae_ms" in summary:
        lines[-1] += (
            ", the others predicted by a line in multiply-adds and layer count fitted on them "
            f"(mean error {summary['latency_fit_mae_ms']:.2f} ms on those timed)"
        )
    lines[-1] += (
        f"; {summary['over_limit']} over the latency limit dropped. Ranked by "
        f"`{summary['proxy']}`, the best {summary['selected']} are the first trials "
        f"(every one in `{SCREENING_FILE}`):"
    )
    names = list(score_names())
    lines += [
        "",
        "| rank | latency ms | " + " | ".join(names) + " | architecture |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for r in chosen:
        latency = f"{float(r['latency_ms']):.1f} ({r['latency_source']})"
        scores = " | ".join(f"{float(r[n]):.4g}" for n in names)
        lines.append(f"| {r['rank']} | {latency} | {scores} | {r['architecture']} |")
    return lines
