"""The task bodies behind the KFP components, called without KFP: the conversions of the
parameters, production as a value, run-keyed checkpoints, and what ends on the artifacts."""

from __future__ import annotations

import json
import pathlib
import types

import pytest

from components.artifacts import architecture, examples, model
from pipelines import step_io, tasks


def _pushed_version(serving: pathlib.Path, version: int = 1) -> pathlib.Path:
    folder = serving / "nasdet" / str(version)
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"pb")
    (folder / model.CONFIG_FILE).write_text("{}")
    return folder


def _capture(monkeypatch, module, result: dict) -> dict:
    """Replace ``module.run`` with a recorder returning ``result``; return the recorded kwargs."""
    calls: dict = {}

    def run(**kwargs):
        calls.update(kwargs)
        return result

    monkeypatch.setattr(module, "run", run)
    return calls


def test_an_explicit_baseline_replaces_the_serving_root(monkeypatch, tmp_path):
    import components.evaluate

    calls = _capture(monkeypatch, components.evaluate, {"blessed": True, "metrics": {"AP": 0.4}})
    common = dict(
        model_dir="m",
        examples_dir="e",
        output_dir=str(tmp_path / "out"),
        serving_root="/mnt/serving",
        model_name="nasdet",
        min_ap=0.05,
        tolerance=0.01,
        class_tolerance=0.05,
        class_min_boxes=20,
    )
    result = tasks.evaluate(baseline_model="/mnt/serving/other/3", **common)
    assert calls["baseline_dir"] == "/mnt/serving/other/3" and calls["serving_root"] is None
    assert result.value is True and result.metrics == {"AP": 0.4, "blessed": True}
    tasks.evaluate(baseline_model="", **common)
    assert calls["baseline_dir"] is None and calls["serving_root"] == "/mnt/serving"


def test_architecture_production_reuses_the_newest_version(monkeypatch, tmp_path, capsys):
    import components.search

    calls = _capture(monkeypatch, components.search, {"trials": 0})
    serving = tmp_path / "serving"
    common = dict(
        examples_dir="e",
        output_dir=str(tmp_path / "arch"),
        algorithm="random",
        max_trials=2,
        epochs=1,
        workers=0,
        space="small",
        seed=0,
        serving_root=str(serving),
        model_name="nasdet",
        checkpoint_root="",
        run_id="r1",
        latency_weight=-0.07,
        max_latency_ms="base",
        serving_size=128,
        screen=200,
        proxy="naswot",
    )
    tasks.search(reuse_architecture="production", **common)
    assert calls["reuse_architecture"] is None  # nothing pushed yet: a search
    assert "nothing pushed yet, searching" in capsys.readouterr().out
    _pushed_version(serving, 1)
    newest = _pushed_version(serving, 2)
    tasks.search(reuse_architecture="production", **common)
    assert calls["reuse_architecture"] == str(newest / model.CONFIG_FILE)
    tasks.search(reuse_architecture="", **common)
    assert calls["reuse_architecture"] is None and calls["work_dir"] is None
    assert calls["latency_weight"] == -0.07
    assert calls["max_latency_ms"] is None and calls["serving_size"] == 128
    assert calls["screen"] == 200 and calls["proxy"] == "naswot"


def test_train_checkpoints_are_keyed_by_run_and_removed_after_success(monkeypatch, tmp_path):
    import components.train

    root = tmp_path / "work" / "checkpoints"
    seen: dict = {}

    def run(**kwargs):
        seen.update(kwargs)
        pathlib.Path(kwargs["work_dir"], "state.json").parent.mkdir(parents=True)
        pathlib.Path(kwargs["work_dir"], "state.json").write_text("{}")
        return {"epochs_run": 3}

    monkeypatch.setattr(components.train, "run", run)
    serving = tmp_path / "serving"
    version = _pushed_version(serving)
    result = tasks.train(
        examples_dir="e",
        architecture_dir="a",
        output_dir=str(tmp_path / "model"),
        epochs=0,
        budget_s=0.0,
        batch_size=0,
        warm_start="production",
        backbone_weights="",
        image_size=0,
        serving_root=str(serving),
        model_name="nasdet",
        checkpoint_root=str(root),
        run_id="1234",
    )
    assert seen["work_dir"] == str(root / "1234" / "train")
    assert seen["warm_start"] == str(version)
    assert seen["epochs"] is None and seen["backbone_weights"] is None
    assert seen["budget_s"] is None
    assert seen["architecture"] == str(pathlib.Path("a") / architecture.ARCHITECTURE_FILE)
    assert result.metadata == {"framework": "tensorflow", "warm_start": str(version)}
    assert not root.exists() or not any(root.iterdir())  # removed, and the empty run folder


def test_checkpoint_dir_needs_a_resolved_run_id():
    assert step_io.checkpoint_dir("", "1", "train") is None
    assert step_io.checkpoint_dir("gs://b/ck/", "1", "search") == "gs://b/ck/1/search"
    with pytest.raises(ValueError):
        step_io.checkpoint_dir("/mnt/work", "{{$.pipeline_job_uuid}}", "train")


def test_ingest_defaults_to_the_bundled_sample(monkeypatch, tmp_path):
    import components.ingest

    calls = _capture(monkeypatch, components.ingest, {"images": 50})
    out = tmp_path / "examples"
    out.mkdir()
    (out / "report.png").write_bytes(b"\x89PNG")
    (out / examples.REPORT_FILE).write_text("# Ingestion\n\n![plot](report.png)\n")
    result = tasks.ingest(
        data_path="",
        data_format="voc",
        images_dir="",
        classes_file="",
        val_fraction=0.15,
        test_fraction=0.15,
        beam_args="--runner=DirectRunner --direct_num_workers=2",
        output_dir=str(out),
    )
    annotations, images = step_io.bundled_sample()
    assert calls["input_path"] == annotations and calls["images_dir"] == images
    assert calls["classes_file"] is None
    assert calls["beam_args"] == ["--runner=DirectRunner", "--direct_num_workers=2"]
    assert result.metadata == {"data_path": annotations, "data_format": "voc"}
    assert "data:image/png;base64," in result.markdown  # self-contained for the KFP UI


def test_publish_puts_the_result_on_the_artifacts(tmp_path):
    logged: dict = {}
    metrics = types.SimpleNamespace(log_metric=lambda k, v: logged.__setitem__(k, v))
    artifact = types.SimpleNamespace(metadata={})
    page = types.SimpleNamespace(path=str(tmp_path / "r" / "report.md"))
    result = tasks.TaskResult(
        metrics={"AP": 0.5, "nested": {"n": 2}, "name": "x"},
        metadata={"blessed": True},
        markdown="# hi\n",
        value=True,
    )
    assert tasks.publish(result, artifact, metrics=metrics, markdown=page) is True
    assert logged == {"AP": 0.5, "nested.n": 2.0}
    assert artifact.metadata == {"blessed": True}
    assert pathlib.Path(page.path).read_text() == "# hi\n"
    json.dumps(artifact.metadata)  # KFP stores metadata as JSON


def test_check_changes_digests_this_code_and_hands_the_decision_to_kfp(tmp_path, capsys):
    """The real step (no stand-in): its code digest is over the installed nasdet packages, the
    decision is the component's value, the reason its page and its artifact's metadata."""
    from components.artifacts import changes
    from components.changes.step import CODE_PACKAGES, default_code_roots

    roots = default_code_roots()
    assert [pathlib.Path(r).name for r in roots] == list(CODE_PACKAGES)
    assert pathlib.Path(roots[1]) == pathlib.Path(tasks.__file__).parent
    ex = tmp_path / "examples"
    (ex / "Split-train").mkdir(parents=True)
    (ex / examples.LABELS_FILE).write_text('{"classes": [{"id": 1, "name": "a"}]}')
    (ex / "Split-train" / "data_tfrecord-00000-of-00001.gz").write_bytes(b"x")
    out = tmp_path / "changes"
    common = dict(examples_dir=str(ex), model_name="nasdet", parameters={"seed": 0})
    first = tasks.check_changes(
        serving_root=str(tmp_path / "serving"), force=False, output_dir=str(out), **common
    )
    assert first.value is True and first.metadata["production_version"] == ""
    assert first.markdown.startswith("# Changes since production")
    assert "retrain: yes: Nothing is pushed yet" in capsys.readouterr().out
    version = _pushed_version(tmp_path / "serving")
    trained_on = changes.read(str(out))["trained_on"]
    (version / "push.json").write_text(json.dumps({"trained_on": trained_on}))
    second = tasks.check_changes(
        serving_root=str(tmp_path / "serving"), force=False, output_dir=str(out), **common
    )
    assert second.value is False
    assert second.metadata["production_version"] == "1" and second.metadata["changed"] == []
    assert second.metadata["reason"].startswith("Nothing changed since the production version 1")
    forced = tasks.check_changes(
        serving_root=str(tmp_path / "serving"), force=True, output_dir=str(out), **common
    )
    assert forced.value is True


def test_production_and_checkpoints_on_an_object_store(monkeypatch, object_store, tmp_path):
    import components.train
    from components.detector.config_load import get_preset, load_architecture

    serving, checkpoints = "memstore://bucket/serving", "memstore://bucket/checkpoints"
    version = f"{serving}/nasdet/2"
    object_store[f"{version}/saved_model.pb"] = b"pb"
    object_store[f"{version}/{model.CONFIG_FILE}"] = get_preset("tiny").to_json().encode()
    common = dict(serving_root=serving, model_name="nasdet", checkpoint_root=checkpoints)

    # architecture=production: the search step reads the pushed config from the store.
    out = tmp_path / "arch"
    result = tasks.search(
        examples_dir=str(tmp_path / "no-examples"),
        output_dir=str(out),
        reuse_architecture="production",
        algorithm="random",
        max_trials=2,
        epochs=1,
        workers=0,
        space="small",
        seed=0,
        run_id="77",
        latency_weight=0.0,
        max_latency_ms="0",
        serving_size=0,
        screen=0,
        proxy="params",
        **common,
    )
    assert result.metrics["reused"] == f"{version}/{model.CONFIG_FILE}"
    assert load_architecture(str(out / architecture.ARCHITECTURE_FILE)).name == "tiny"

    # warm_start=production and checkpoints under a URI, removed once the step succeeded.
    seen: dict = {}

    def run(**kwargs):
        seen.update(kwargs)
        object_store[f"{kwargs['work_dir']}/state.json"] = b"{}"
        return {"epochs_run": 1}

    monkeypatch.setattr(components.train, "run", run)
    result = tasks.train(
        examples_dir="e",
        architecture_dir=str(out),
        output_dir=str(tmp_path / "model"),
        epochs=0,
        budget_s=0.0,
        batch_size=0,
        warm_start="production",
        backbone_weights="",
        image_size=0,
        run_id="77",
        **common,
    )
    assert seen["work_dir"] == f"{checkpoints}/77/train" and seen["warm_start"] == version
    assert result.metadata["warm_start"] == version
    assert not [key for key in object_store if key.startswith(checkpoints)]
