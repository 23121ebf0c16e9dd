"""``benchmarks/final_seeds.py``'s report: medians over final-training seeds per arm, picks of
two arms kept apart even when their trial numbers are equal, search against random order, and
the networks both searches tried."""

from __future__ import annotations

import csv
import json
import pathlib
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import final_seeds  # noqa: E402


def _row(arm: str, ap: float, tiny_ap: float) -> dict:
    return {
        "dataset": "cards",
        "size": 128,
        "budget_s": 120.0,
        "threads": 1,
        "seed": 0,
        "arm": arm,
        "pick": "0007",  # the same trial number in both searches: different networks
        "AP": ap,
        "tiny_AP": tiny_ap,
        "search_budget_s": 3600.0,
        "search_trial_budget_s": 120.0,
    }


def _trained(row: dict, model: str, final_seed: int, ap: float) -> dict:
    return {**final_seeds._key(row, model), "final_seed": final_seed, "AP": ap}


def test_report_takes_medians_per_arm_and_compares_the_arms(capsys):
    search, random = _row("search", 0.30, 0.20), _row("random", 0.10, 0.20)
    done = [
        _trained(search, "tiny", 1, 0.22),
        _trained(search, "tiny", 2, 0.24),
        _trained(search, "pick", 1, 0.26),
        _trained(search, "pick", 2, 0.50),
        _trained(random, "pick", 1, 0.13),
        _trained(random, "pick", 2, 0.12),
    ]
    final_seeds.report([search, random], done)
    out = capsys.readouterr().out
    # tiny's trainings serve both arms: median of 0.20, 0.22, 0.24
    assert "| cards | search | 0 | 3 | 0.220 | 0.300 (1.36x) | 1.50, 1.18, 2.08 |" in out
    assert "| cards | random | 0 | 3 | 0.220 | 0.120 (0.55x) | 0.50, 0.59, 0.50 |" in out
    assert "- cards (search seed 0): 0.300 against 0.120 (2.50x)" in out


def test_a_tiny_pick_scores_tinys_ap_on_every_seed(capsys):
    search = {**_row("search", 0.20, 0.20), "pick_is_tiny": True}
    random = _row("random", 0.30, 0.20)
    done = [_trained(search, "tiny", 1, 0.22), _trained(random, "pick", 1, 0.44)]
    final_seeds.report([search, random], done)
    out = capsys.readouterr().out
    assert "| cards | search | 0 | 2 | 0.210 | 0.210 (1.00x) | 1.00, 1.00 |" in out
    assert "- cards (search seed 0): 0.210 against 0.370 (0.57x)" in out


def test_report_uses_only_the_seeds_both_models_have(capsys):
    search = _row("search", 0.30, 0.20)
    done = [_trained(search, "pick", 1, 0.40)]  # tiny's seed 1 missing
    final_seeds.report([search], done)
    out = capsys.readouterr().out
    assert "| cards | search | 0 | 1 | 0.200 | 0.300 (1.50x) | 1.50 |" in out
    assert "against" not in out  # one arm only: nothing to compare


def _write_search(folder: pathlib.Path, trials: list[tuple[str, str, dict, float | None]]):
    """A search folder as ``search_demo.py`` leaves it: ``architecture.json`` and the
    ``trials.csv`` columns the overlap reads (trial id, status, AP, values, error)."""
    folder.mkdir()
    (folder / "architecture.json").write_text("{}")
    with open(folder / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["trial_id", "status", "AP", "values", "error"])
        writer.writeheader()
        for trial_id, status, values, ap in trials:
            error = "" if status == "COMPLETED" else "over the latency limit: 5 ms > 4 ms"
            writer.writerow(
                {
                    "trial_id": trial_id,
                    "status": status,
                    "AP": "" if ap is None else ap,
                    "values": json.dumps(values),
                    "error": error,
                }
            )


def test_overlaps_names_the_networks_both_searches_tried(tmp_path, capsys):
    a, b, c = {"width": 8, "depth": 1}, {"depth": 2, "width": 16}, {"width": 24, "depth": 1}
    d, e = {"width": 32, "depth": 1}, {"width": 8, "depth": 3}
    name = {arm: f"{arm}-cards-128-s0-b3600-t120" for arm in ("search", "random")}
    _write_search(
        tmp_path / name["search"],
        [
            ("0000", "COMPLETED", a, 0.2),
            ("0001", "COMPLETED", b, 0.3),
            ("0002", "COMPLETED", d, 0.1),
            ("0003", "COMPLETED", e, 0.5),
        ],
    )
    # the same networks, keys in another order, one refused; and one the search did not try
    _write_search(
        tmp_path / name["random"],
        [
            ("0000", "COMPLETED", {"depth": 1, "width": 8}, 0.25),
            ("0001", "FAILED", {"width": 16, "depth": 2}, None),
            ("0002", "COMPLETED", c, 0.4),
            ("0003", "COMPLETED", e, 0.35),
            ("0004", "COMPLETED", d, 0.15),
        ],
    )
    search = {**_row("search", 0.3, 0.2), "pick": "0001"}
    random = {**_row("random", 0.3, 0.2), "pick": "0002"}
    final_seeds.overlaps([search, random], [str(tmp_path)])
    out = capsys.readouterr().out
    assert "- cards (search seed 0): 4 networks in both (4 and 5 tried)" in out
    # a, d and e trained in both, ranked alike; differences 0.05, 0.05, 0.15
    assert (
        "3 trained in both, their two trials' AP: Kendall tau +1.00, median difference 0.050" in out
    )
    assert (
        "search's pick: trial 0001 AP 0.300 in its search, "
        "trial 0001 over the latency limit in the random one" in out
    )
    assert "random's pick: trial 0002 AP 0.400 in its search, not tried in the search one" in out


def test_overlaps_says_nothing_without_both_search_folders(tmp_path, capsys):
    final_seeds.overlaps([_row("search", 0.3, 0.2), _row("random", 0.3, 0.2)], [str(tmp_path)])
    assert capsys.readouterr().out == ""


def test_a_confirmed_search_is_kept_apart_from_an_unconfirmed_one(tmp_path, capsys):
    import argparse

    import search_demo

    before = _row("search", 0.30, 0.20)  # a row from before confirmation: it confirmed none
    confirmed = {**_row("search", 0.40, 0.20), "search_confirm": 3}
    done = [_trained(before, "pick", 1, 0.31), _trained(confirmed, "pick", 1, 0.45)]
    done.append(_trained(confirmed, "tiny", 1, 0.20))
    assert final_seeds._key(before, "pick") != final_seeds._key(confirmed, "pick")  # same trial id
    args = argparse.Namespace(search_budget_s=3600.0, confirm=3)
    assert not search_demo.same_confirm(before, args) and search_demo.same_confirm(confirmed, args)
    random = _row("random", 0.25, 0.20)
    assert search_demo.same_confirm(random, args)  # random search never confirms
    final_seeds.report([confirmed], done)
    out = capsys.readouterr().out
    assert "| cards | search (confirms 3) | 0 | 2 | 0.200 | 0.425 (2.12x) | 2.00, 2.25 |" in out

    for arm, name in (("search", "search-cards-128-s0-b3600-t120-c3"), ("random", None)):
        if name:
            (tmp_path / name).mkdir()
            (tmp_path / name / "architecture.json").write_text("{}")
        row = confirmed if arm == "search" else random
        assert final_seeds.search_folder(row, [str(tmp_path)]) == (
            str(tmp_path / name) if name else None
        )
