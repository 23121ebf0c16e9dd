"""Every pushed version carries a model card built from the model, its config and the blessing."""

from __future__ import annotations

import json
import os

from components.push import model_card
from components.push import run as push_run


def _rich_blessing(blessing_file: str, examples_dir: str) -> None:
    with open(blessing_file) as f:
        decision = json.load(f)
    decision["candidate"] = {"AP": 0.21, "AP50": 0.6, "AP75": 0.1, "AR100": 0.4, "APs": -1.0}
    decision["class_deltas"] = {
        "raccoon": {"AP": 0.21, "num_boxes": 7},
        "badger": {"AP": 0.01, "num_boxes": 40},
    }
    decision["rules"] = {"min_ap": 0.05, "tolerance": 0.01, "class_min_boxes": 20}
    decision["examples"] = examples_dir
    decision["operating_point"] = {"threshold": 0.35, "precision": 0.8, "recall": 0.6, "f1": 0.69}
    with open(blessing_file, "w") as f:
        json.dump(decision, f)


def test_the_card_says_what_the_model_is_how_good_and_where_it_is_weak(
    tmp_path, model_and_blessing
):
    model, blessing = model_and_blessing
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "stats.json").write_text(
        json.dumps(
            {"splits": {"train": {"images": 70}, "val": {"images": 15}, "test": {"images": 15}}}
        )
    )
    (tmp_path / "model" / "history.csv").write_text("epoch,loss\n0,2.0\n1,1.5\n2,1.2\n")
    config = {
        "name": "tiny",
        "image_size": 128,
        "train": {"optimizer": "sgd", "batch_size": 8},
        "postprocess": {"score_threshold": 0.05, "max_detections": 100},
    }
    (tmp_path / "model" / "detector_config.json").write_text(json.dumps(config))
    _rich_blessing(blessing, str(examples))

    summary = push_run(model, blessing, str(tmp_path / "serving"), "det")
    version = tmp_path / "serving" / "det" / "1"
    assert summary["model_card"] == str(version / model_card.CARD_MD)
    card = json.loads((version / model_card.CARD_JSON).read_text())
    assert card["version"] == 1 and card["model_name"] == "det"
    assert card["classes"] == [{"id": 1, "name": "raccoon"}]
    assert card["input"]["image_size"] == 128
    assert card["training"]["epochs_trained"] == 3
    assert card["serving"]["score_threshold"] == 0.05
    assert card["serving"]["recommended_threshold"] == 0.35
    push_record = json.loads((version / "push.json").read_text())
    assert push_record["operating_point"]["threshold"] == 0.35
    assert card["data"]["images_per_split"] == {"test": 15, "train": 70, "val": 15}
    assert card["data"]["fingerprint"] == "sha256:" + "ab" * 32
    assert card["metrics"]["AP"] == 0.21 and card["metrics"]["split"] == "test"
    limits = " ".join(card["limits"])
    assert "AP 0.210 on the test split" in limits
    assert "No small (< 32x32 px) objects in the test split" in limits
    assert "Class raccoon has 7 test boxes (fewer than 20)" in limits
    assert "Class badger: AP 0.010 on 40 test boxes: the model hardly finds it." in limits
    assert "raccoon: AP" not in limits
    # The latency is the load check's, timed on the version as published.
    check = push_record["load_check"]
    assert card["latency"]["ms"] == check["latency_ms"] > 0
    assert card["latency"]["runs"] == check["latency_runs"] >= 5
    assert card["latency"]["input"] == {"images": [1, *check["latency_input"]["images"][1:]]}
    text = (version / model_card.CARD_MD).read_text()
    assert text.startswith("# Model card: det version 1\n")
    assert "| raccoon | 0.210 | 7 |" in text and "Detecting raccoon in images" in text
    assert "| threshold | 0.35: the best F1 on the test split" in text
    assert f"| latency | {check['latency_ms']:.1f} ms per image (" in text
    assert "(the data fingerprint below)" in text


def test_a_second_version_gets_its_own_card_and_not_the_sources(tmp_path, model_and_blessing):
    model, blessing = model_and_blessing
    root = str(tmp_path / "serving")
    push_run(model, blessing, root, "det")
    first = os.path.join(root, "det", "1")
    # Push the pushed version again (a rollback-style re-publish): the card is rebuilt for 2.
    push_run(first, blessing, root, "det")
    with open(os.path.join(root, "det", "2", model_card.CARD_JSON)) as f:
        card = json.load(f)
    assert card["version"] == 2
    assert card["data"]["images_per_split"] is None  # the blessing's examples are gone
