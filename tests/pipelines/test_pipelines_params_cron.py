"""Pipeline parameters (conversion, README table), cron conversion, component helpers."""

from __future__ import annotations

import pathlib

import pytest

from components.errors import UserError
from pipelines import cron, parameter_docs, parameter_values, parameters, step_io, tasks

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_parse_assignments_types():
    values = parameter_values.parse_assignments(
        ["min_ap=0.25", "search_max_trials=7", "data_path=/d/a=b.json", "beam_args="]
    )
    assert values == {
        "min_ap": 0.25,
        "search_max_trials": 7,
        "data_path": "/d/a=b.json",
        "beam_args": "",
    }
    assert isinstance(values["min_ap"], float) and isinstance(values["search_max_trials"], int)


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("no", False)],
)
def test_a_boolean_parameter(text, value):
    assert parameter_values.parse_assignments([f"force={text}"]) == {"force": value}
    parameter_values.check_values({"force": value})


def test_model_parameters_are_the_pipeline_parameters_but_data_places_and_scale():
    names = [p.name for p in parameters.PARAMETERS]
    assert set(parameters.NOT_SHAPING_THE_MODEL) <= set(names)
    assert list(parameters.MODEL_PARAMETERS) == [
        n for n in names if n not in parameters.NOT_SHAPING_THE_MODEL
    ]
    for shaping in ("architecture", "search_max_trials", "seed", "train_budget_s", "min_ap"):
        assert shaping in parameters.MODEL_PARAMETERS
    for other in ("data_path", "serving_root", "search_workers", "keep_versions", "force"):
        assert other not in parameters.MODEL_PARAMETERS
    assert "export_formats" not in parameters.MODEL_PARAMETERS  # derived from the model


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("force=maybe", "parameter force needs true or false, got 'maybe'"),
        ("min_ap", "expected NAME=VALUE"),
        ("=3", "expected NAME=VALUE"),
        ("search_epochs=2.5", "needs a int"),
        ("nope=1", "unknown pipeline parameter 'nope' \\(known: architecture, "),
        ("epochs=3", "unknown pipeline parameter 'epochs' \\(did you mean 'train_epochs' or "),
        ("test_fraction=1.5", "test_fraction must be in 0.0..1.0, got 1.5"),
        ("search_max_trials=0", "search_max_trials must be in 1..inf, got 0"),
        ("tolerance=nan", "tolerance must be a finite number"),
        ("export_formats=onnx,trt", "export_formats: unknown export format 'trt' \\(known: onnx, "),
    ],
)
def test_parse_assignments_errors(item, message):
    with pytest.raises(UserError, match=message):
        parameter_values.parse_assignments([item])


def test_check_values():
    parameter_values.check_values(
        {"min_ap": 1, "seed": 3, "model_name": "m"}
    )  # int is a valid float
    with pytest.raises(UserError, match="seed needs a int"):
        parameter_values.check_values({"seed": True})
    with pytest.raises(UserError, match="force needs a bool"):
        parameter_values.check_values({"force": 1})
    with pytest.raises(UserError, match="unknown"):
        parameter_values.check_values({"speed": 1})


def test_defaults_have_their_declared_types():
    for p in parameters.PARAMETERS:
        assert type(p.default) is p.type, p.name
        assert p.description.endswith("."), p.name


def test_readme_parameter_table_is_current():
    readme = (REPO / "README.md").read_text()
    assert parameter_docs.markdown_table() in readme, (
        "README.md's parameter table is out of date: run `python -m pipelines.compile_cmd --golden`"
    )
    assert parameter_docs.replace_table(readme) == readme


@pytest.mark.parametrize(
    ("expression", "kfp", "note"),
    [
        ("0 3 * * *", "0 0 3 * * *", "5-field"),
        ("*/15 9-17 * * MON-FRI", "0 */15 9-17 * * MON-FRI", "5-field"),
        ("  0   3 * *  * ", "0 0 3 * * *", "5-field"),
        ("30 0 3 1,15 * ?", "30 0 3 1,15 * ?", "as written"),
        ("0 0 0 1 JAN *", "0 0 0 1 JAN *", "as written"),
        ("@daily", "@daily", "as written"),
        ("@every 6h30m", "@every 6h30m", "as written"),
        # not checked here: the KFP server validates (and refuses) these
        ("61 * * * *", "0 61 * * * *", "5-field"),
        ("* * *", "* * *", "as written"),
    ],
)
def test_cron_to_kfp(expression, kfp, note):
    six, text = cron.to_kfp(expression)
    assert six == kfp
    assert note in text


def test_empty_cron_is_refused():
    with pytest.raises(UserError, match="empty cron expression"):
        cron.to_kfp("   ")


class _Metrics:
    def __init__(self):
        self.logged = {}

    def log_metric(self, name, value):
        self.logged[name] = value


def test_log_metrics_flattens_numbers():
    metrics = _Metrics()
    summary = {
        "images": {"read": 50, "accepted": 49},
        "blessed": True,
        "AP": 0.25,
        "bad": float("nan"),
        "runner": "DirectRunner",
        "reasons": ["x"],
    }
    assert step_io.log_metrics(metrics, summary) == {
        "images.read": 50.0,
        "images.accepted": 49.0,
        "blessed": 1.0,
        "AP": 0.25,
    }
    assert metrics.logged["images.read"] == 50.0


def test_reports(tmp_path):
    csv_file = tmp_path / "trials.csv"
    csv_file.write_text("trial_id,AP\n0,0.1\n1,0.2\n")
    assert (
        step_io.csv_to_markdown(str(csv_file))
        == "| trial_id | AP |\n|---|---|\n| 0 | 0.1 |\n| 1 | 0.2 |\n"
    )
    assert step_io.csv_to_markdown(str(tmp_path / "none.csv")) == ""
    assert tasks._report(str(tmp_path / "missing.md"), "# fallback\n") == "# fallback\n"
    source = tmp_path / "report.md"
    source.write_text("# real\n")
    assert tasks._report(str(source), "x") == "# real\n"


def test_published_markdown_carries_its_images(tmp_path):
    """The KFP UI shows the Markdown alone: a relative image link would be broken there."""
    import base64

    png = b"\x89PNG\r\n\x1a\n fake image bytes"
    (tmp_path / "report.png").write_bytes(png)
    source = tmp_path / "report.md"
    source.write_text("# r\n\n![plot](report.png)\n![gone](missing.png)\n![web](https://x/y.png)\n")
    text = tasks._report(str(source), "x")
    assert f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})" in text
    assert "![gone](missing.png)" in text and "![web](https://x/y.png)" in text


def test_bundled_sample(bundled_sample_dir):
    """The whole raccoon set is bundled: a test split of about 30 images can measure AP."""
    annotations, images = step_io.bundled_sample()
    assert annotations == str(bundled_sample_dir / "annotations")
    assert images == str(bundled_sample_dir / "images")
    assert len(list(pathlib.Path(images).iterdir())) == 200
    assert len(list(pathlib.Path(annotations).glob("*.xml"))) == 200


def test_search_parameters_are_the_pipeline_tuner_settings():
    from components.tuner_settings import BASE_LATENCY, LATENCY_WEIGHT_RANGE, MIN, PIPELINE

    by = parameters.BY_NAME
    assert by["search_algorithm"].default == PIPELINE.algorithm
    assert by["search_space"].default == PIPELINE.space
    assert by["seed"].default == PIPELINE.seed
    assert by["search_latency_weight"].default == PIPELINE.latency_weight
    assert (by["search_latency_weight"].low, by["search_latency_weight"].high) == (
        LATENCY_WEIGHT_RANGE
    )
    assert PIPELINE.max_latency_ms is None and by["search_max_latency_ms"].default == BASE_LATENCY
    for name in ("max_trials", "epochs", "workers"):
        assert by[f"search_{name}"].default == getattr(PIPELINE, name)
        assert by[f"search_{name}"].low == MIN[name]
