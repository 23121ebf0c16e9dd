"""``nasdet describe``: one line each for parameters, FLOPs, levels and anchors; exit 2 on errors."""

from __future__ import annotations

import json

from components.detector import describe
from components.detector.config_load import get_preset


def test_describe_tiny_prints_the_summary(capsys):
    assert describe.main(["--architecture", "tiny"]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = {line.split(":", 1)[0]: line for line in out}
    assert set(lines) == {"architecture", "parameters", "flops", "levels", "anchors"}
    assert "multiply-adds, as the EfficientDet paper counts FLOPs" in lines["flops"]
    assert "at 128x128" in lines["flops"]
    assert lines["levels"].startswith("levels: P3-P5 (strides 8, 16, 32)")
    assert lines["anchors"] == "anchors: 3,024 per image"  # (16^2 + 8^2 + 4^2) x 9


def test_describe_reads_an_architecture_file(tmp_path, capsys):
    path = tmp_path / "architecture.json"
    get_preset("tiny").replace(num_classes=1, image_size=64).save(path)
    assert describe.main(["--architecture", str(path)]) == 0
    out = capsys.readouterr().out
    assert "anchors: 756 per image" in out  # (8^2 + 4^2 + 2^2) x 9
    assert "1 classes" in out


def test_describe_reads_a_model_folder_or_a_pushed_version(tmp_path, capsys):
    from components.artifacts.model import CONFIG_FILE

    model = tmp_path / "model"
    model.mkdir()
    get_preset("tiny").replace(num_classes=3, image_size=64).save(model / CONFIG_FILE)
    assert describe.main([str(model)]) == 0
    out = capsys.readouterr().out
    assert "anchors: 756 per image" in out and "3 classes" in out


def test_describe_names_what_a_folder_lacks(tmp_path, capsys):
    assert describe.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "architecture.json" in err and "detector_config.json" in err


def test_describe_rejects_a_bad_preset(capsys):
    assert describe.main(["--architecture", "d42"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "d42" in err and len(err.strip().splitlines()) == 1


def test_describe_rejects_a_file_with_an_unknown_key(tmp_path, capsys):
    path = tmp_path / "architecture.json"
    path.write_text(json.dumps({"bifpn": {"width": 16, "depht": 2}}))
    assert describe.main(["--architecture", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bifpn: unknown key 'depht'" in err


def test_describe_requires_the_architecture_argument(capsys):
    try:
        describe.main([])
    except SystemExit as stop:
        assert stop.code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_nasdet_dispatches_to_describe(capsys):
    from pipelines import cli

    assert cli.main(["describe", "--architecture", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
