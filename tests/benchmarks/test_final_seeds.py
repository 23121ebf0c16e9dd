"""``benchmarks/final_seeds.py``'s report: medians over final-training seeds per arm, picks of
two arms kept apart even when their trial numbers are equal, and search against random order."""

from __future__ import annotations

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


def test_report_uses_only_the_seeds_both_models_have(capsys):
    search = _row("search", 0.30, 0.20)
    done = [_trained(search, "pick", 1, 0.40)]  # tiny's seed 1 missing
    final_seeds.report([search], done)
    out = capsys.readouterr().out
    assert "| cards | search | 0 | 1 | 0.200 | 0.300 (1.50x) | 1.50 |" in out
    assert "against" not in out  # one arm only: nothing to compare
