"""The annotation reader registry: its keys are the formats every command line offers."""

from __future__ import annotations

import pytest

from components.data import readers
from components.data.records import SourceDataset
from components.errors import UserError


def test_formats_are_the_registry_keys():
    assert readers.FORMATS == tuple(readers.READERS) == ("coco", "voc", "yolo")


def test_command_lines_offer_the_registry_formats():
    from components.ingest import cli as ingest_cli
    from pipelines import parameters, run_local

    ingest = {a.dest: a for a in ingest_cli.build_parser()._actions}
    assert tuple(ingest["format"].choices) == readers.FORMATS
    run = {a.dest: a for a in run_local._parser()._actions}
    assert tuple(run["format"].choices) == readers.FORMATS
    description = parameters.BY_NAME["data_format"].description
    assert all(name in description for name in readers.FORMATS)
    assert parameters.BY_NAME["data_format"].default in readers.FORMATS


def test_read_dataset_dispatches_through_the_registry(monkeypatch, tmp_path):
    calls = []

    def fake(input_path, images_dir, classes_file):
        calls.append((input_path, images_dir, classes_file))
        return SourceDataset(images=[], classes=[], quarantine=[], images_read=0, boxes_read=0)

    monkeypatch.setitem(readers.READERS, "fake", fake)
    readers.read_dataset(" Fake ", "in", str(tmp_path), "c.txt")
    assert calls == [("in", str(tmp_path), "c.txt")]


def test_unknown_format_and_coco_classes_are_refused(tmp_path):
    with pytest.raises(UserError, match=r"unknown format 'xml' \(choose one of: coco, voc, yolo\)"):
        readers.read_dataset("xml", "in")
    with pytest.raises(UserError, match="--classes is not used with --format coco"):
        readers.read_dataset("coco", str(tmp_path / "a.json"), classes_file="c.txt")
