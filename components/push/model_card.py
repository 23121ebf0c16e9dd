"""The model card a pushed version carries: ``model_card.json`` and ``model_card.md``.

Everything in it is read from what the push already has, nothing is estimated: the model's
``detector_config.json`` (input size, architecture, training recipe, serving threshold) and
``labels.json`` (classes), its ``history.csv`` when the Model artifact has one (epochs trained),
the evaluation's ``blessing.json`` (test metrics overall and per class with their box counts, the
gate's rules and reasons, the data fingerprint) and, when the Examples are still readable,
their ``stats.json`` (images per split); the latency is the push's load check timing the
version in a fresh process (``push.json`` ``load_check``); the other serving formats in the
version are ``push.json``'s ``exports`` (file, parity check, latency beside the SavedModel's,
measured by the push). The limits are derived from those numbers (a low AP, classes the model
hardly finds, classes measured on few boxes, object sizes absent from the test split).
"""

from __future__ import annotations

import csv
import io
import json

from components import files
from components.artifacts.examples import STATS_FILE
from components.artifacts.model import CONFIG_FILE, read_label_names
from components.files import join

CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
HISTORY_FILE = "history.csv"
LOW_AP = 0.3
CLASS_NOT_FOUND_AP = 0.05  # a class below this test AP is one the model hardly finds
_SIZES = {"APs": "small (< 32x32 px)", "APm": "medium", "APl": "large (> 96x96 px)"}


def build(location, decision: dict, record: dict) -> dict:
    """Return the card (plain JSON data) of the model at ``location`` as ``decision`` judged it."""
    config = _read_json(join(location.root, CONFIG_FILE)) or {}
    names = read_label_names(location) or {}
    metrics = decision.get("candidate") or {}
    per_class = decision.get("class_deltas") or {}
    rules = decision.get("rules") or {}
    train = config.get("train", {})
    post = config.get("postprocess", {})
    card = {
        "model_name": record.get("model_name"),
        "version": record.get("version"),
        "pushed_at": record.get("pushed_at"),
        "classes": [{"id": cid, "name": name} for cid, name in sorted(names.items())],
        "input": {"image_size": config.get("image_size"), "format": "uint8 RGB, any size"},
        "architecture": {
            "name": config.get("name"),
            "backbone": config.get("backbone", {}).get("kind"),
            "bifpn": config.get("bifpn"),
            "head": config.get("head"),
        },
        "training": {
            "optimizer": train.get("optimizer", "sgd"),
            "learning_rate": train.get("learning_rate"),
            "batch_size": train.get("batch_size"),
            "epochs_trained": _epochs(location),
            "augment": config.get("augment"),
            "box_loss": config.get("loss", {}).get("box_loss"),
        },
        "serving": {
            "recommended_threshold": (decision.get("operating_point") or {}).get("threshold"),
            "score_threshold": post.get("score_threshold"),
            "max_detections": post.get("max_detections"),
            "nms_iou": post.get("iou_threshold"),
        },
        "latency": _latency(record.get("load_check") or {}),
        "exports": _exports(record.get("exports") or {}),
        "data": {
            "fingerprint": decision.get("data_fingerprint"),
            "images_per_split": _split_counts(decision.get("examples")),
        },
        "metrics": {"split": "test", **metrics},
        "per_class": per_class,
        "gate": {"rules": rules, "reasons": decision.get("reasons", [])},
    }
    card["limits"] = _limits(metrics, per_class, rules)
    card["intended_use"] = (
        "Detecting "
        + (", ".join(c["name"] for c in card["classes"]) or "the trained classes")
        + " in images like those it was trained on (the data fingerprint below). Its numbers "
        "hold for that data only; check it on your own images (`nasdet predict`) before "
        "relying on it elsewhere."
    )
    return card


def render(card: dict) -> str:
    """The card as Markdown (what the KFP UI shows for the push step)."""
    m = card["metrics"]
    lines = [
        f"# Model card: {card['model_name']} version {card['version']}",
        "",
        card["intended_use"],
        "",
        "| | |",
        "|---|---|",
        f"| classes | {', '.join(c['name'] for c in card['classes'])} |",
        f"| input | {card['input']['image_size']} px (resized and padded inside the model) |",
        f"| architecture | {card['architecture']['name']} ({card['architecture']['backbone']}) |",
        f"| training | {_training(card['training'])} |",
        f"| serving | score >= {card['serving']['score_threshold']}, at most "
        f"{card['serving']['max_detections']} detections, NMS IoU {card['serving']['nms_iou']} |",
        f"| threshold | {_threshold(card['serving']['recommended_threshold'])} |",
        f"| latency | {_latency_words(card.get('latency'))} |",
        *(f"| {e['format']} | {_export_words(e)} |" for e in card.get("exports") or []),
        f"| data | {card['data']['fingerprint']} {_splits(card['data']['images_per_split'])} |",
        f"| pushed | {card['pushed_at']} |",
        "",
        "## Test metrics (COCO protocol, the test split)",
        "",
        "| AP | AP50 | AP75 | AR100 |",
        "|---:|---:|---:|---:|",
        f"| {_num(m.get('AP'))} | {_num(m.get('AP50'))} | {_num(m.get('AP75'))} | "
        f"{_num(m.get('AR100'))} |",
        "",
        "| class | AP | test boxes |",
        "|---|---:|---:|",
    ]
    for name, row in sorted(card["per_class"].items()):
        lines.append(f"| {name} | {_num(row.get('AP'))} | {row.get('num_boxes', 0)} |")
    lines += ["", "## Limits", ""]
    lines += [f"- {text}" for text in card["limits"]] or ["- none found in the numbers above"]
    lines += ["", "## Why it was pushed", ""] + [f"- {r}" for r in card["gate"]["reasons"]]
    return "\n".join(lines) + "\n"


def write(directory: str, card: dict) -> None:
    """Write ``model_card.json`` and ``model_card.md`` into ``directory``."""
    files.write_atomically(join(directory, CARD_JSON), json.dumps(card, indent=2) + "\n")
    files.write_atomically(join(directory, CARD_MD), render(card))


def _limits(metrics: dict, per_class: dict, rules: dict) -> list[str]:
    out = []
    ap = metrics.get("AP")
    if isinstance(ap, (int, float)) and ap < LOW_AP:
        out.append(f"AP {ap:.3f} on the test split: expect missed and wrong boxes.")
    for key, label in _SIZES.items():
        if metrics.get(key) == -1:
            out.append(f"No {label} objects in the test split: quality on them is unmeasured.")
    few = rules.get("class_min_boxes")
    for name, row in sorted(per_class.items()):
        class_ap = row.get("AP")
        if isinstance(class_ap, (int, float)) and 0 <= class_ap < CLASS_NOT_FOUND_AP:
            out.append(
                f"Class {name}: AP {class_ap:.3f} on {row.get('num_boxes', 0)} test boxes: the "
                "model hardly finds it."
            )
        if few and row.get("num_boxes", 0) < few:
            out.append(
                f"Class {name} has {row.get('num_boxes', 0)} test boxes (fewer than {few}): "
                "its AP is uncertain."
            )
    return out


def _epochs(location) -> int | None:
    path = join(location.root, HISTORY_FILE)
    if not files.is_file(path):
        return None
    return sum(1 for _ in csv.DictReader(io.StringIO(files.read_text(path)))) or None


def _split_counts(examples_dir: str | None) -> dict | None:
    stats = _read_json(join(examples_dir, STATS_FILE)) if examples_dir else None
    if not isinstance(stats, dict):
        return None
    splits = stats.get("splits")
    if not isinstance(splits, dict):
        return None
    return {k: v.get("images") for k, v in sorted(splits.items()) if isinstance(v, dict)}


def _read_json(path: str):
    try:
        if files.is_file(path):
            return json.loads(files.read_text(path))
    except (OSError, ValueError):
        return None
    return None


def _training(train: dict) -> str:
    epochs = train["epochs_trained"]
    return (
        f"{train['optimizer']}, learning rate {train['learning_rate']}, batch {train['batch_size']}"
        + (f", {epochs} epochs" if epochs else "")
        + (f", {train['box_loss']} box loss" if train.get("box_loss") else "")
    )


def _latency(check: dict) -> dict | None:
    if not isinstance(check.get("latency_ms"), (int, float)):
        return None
    keys = ("latency_ms", "latency_runs", "latency_threads", "latency_input")
    return {k.removeprefix("latency_"): check.get(k) for k in keys}


def _latency_words(latency: dict | None) -> str:
    if not latency:
        return "not measured"
    shape = next(iter((latency.get("input") or {}).values()), None)
    size = f" ({shape[1]}x{shape[2]} px image)" if shape and len(shape) == 4 else ""
    return (
        f"{latency['ms']:.1f} ms per image{size}, median of {latency['runs']} requests through "
        f"serving_default with NMS, {latency['threads']} CPU threads, on the machine that pushed it"
    )


def _exports(exported: dict) -> list[dict]:
    out = []
    for name, e in exported.items():
        parity, latency = e.get("parity") or {}, e.get("latency") or {}
        out.append(
            {
                "format": name,
                "file": e.get("file"),
                "precision": e.get("precision"),
                "parity_passed": parity.get("passed"),
                "parity_images": parity.get("images"),
                "matched_fraction": parity.get("matched_fraction"),
                "ap_diff": parity.get("ap_diff"),
                "latency_ms": (latency.get(name) or {}).get("median_ms"),
                "savedmodel_ms": (latency.get("savedmodel") or {}).get("median_ms"),
                "threads": latency.get("threads"),
            }
        )
    return out


def _export_words(e: dict) -> str:
    fraction = e.get("matched_fraction")
    matched = f"{fraction:.1%} of the detections matched" if fraction is not None else "checked"
    ap = f", AP difference {e['ap_diff']:+.4f}" if e.get("ap_diff") is not None else ""
    words = (
        f"`{e['file']}` ({e['precision']}): parity with the SavedModel on {e['parity_images']} "
        f"images, {matched}{ap}"
    )
    if isinstance(e.get("latency_ms"), (int, float)):
        words += (
            f"; {e['latency_ms']:.1f} ms per image against the SavedModel's "
            f"{e['savedmodel_ms']:.1f} ms ({e['threads']} CPU threads, on the machine that pushed)"
        )
    return words


def _threshold(value) -> str:
    if value is None:
        return "not measured"
    return f"{value:.2f}: the best F1 on the test split (nasdet predict's default)"


def _splits(counts: dict | None) -> str:
    if not counts:
        return ""
    return "(" + ", ".join(f"{k} {v}" for k, v in counts.items()) + " images)"


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"
