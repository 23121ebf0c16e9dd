"""The push writes the KServe InferenceService beside the versions when a server can read them."""

from __future__ import annotations

import os

import yaml

from components.push import cli
from components.push import run as push_run
from components.serve.manifest import ServingOptions


def test_push_on_a_pvc_writes_the_inference_service_beside_the_versions(
    tmp_path, model_and_blessing, capsys
):
    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    options = ServingOptions(claims={str(serving): "nasdet-serving"}, max_replicas=2)
    result = push_run(model, blessing, str(serving), "det", serving_options=options)
    path = serving / "det" / "inferenceservice.yaml"
    assert result["inference_service"] == str(path)
    service = yaml.safe_load(path.read_text())
    assert service["metadata"]["name"] == "det"
    predictor = service["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "pvc://nasdet-serving/det"
    assert predictor["maxReplicas"] == 2
    # not a version (TF Serving and every reader skip names that are not integers)
    assert sorted(n for n in os.listdir(serving / "det") if not n.startswith(".")) == [
        "1",
        "inferenceservice.yaml",
    ]
    assert "inferenceservice.yaml" not in os.listdir(serving / "det" / "1")
    # a plain `nasdet push` knows no PVC: nothing written for a local path, and it says nothing
    argv = ["--model", model, "--blessing", blessing, "--serving-root", str(tmp_path / "other")]
    assert cli.main([*argv, "--model-name", "det"]) == 0
    assert "InferenceService" not in capsys.readouterr().out
    assert not (tmp_path / "other" / "det" / "inferenceservice.yaml").exists()


def test_push_to_an_object_store_writes_it_with_the_uri(model_and_blessing, object_store, capsys):
    model, blessing = model_and_blessing
    root = "memstore://bucket/serving"
    argv = ["--model", model, "--blessing", blessing, "--serving-root", root]
    assert cli.main([*argv, "--model-name", "det"]) == 0
    path = f"{root}/det/inferenceservice.yaml"
    assert f"wrote the KServe InferenceService serving it: {path}" in capsys.readouterr().out
    service = yaml.safe_load(object_store[path])
    assert service["spec"]["predictor"]["model"]["storageUri"] == f"{root}/det"
