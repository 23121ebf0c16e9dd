"""The Architecture artifact's writers."""

from __future__ import annotations

import csv
import json

from components.artifacts import architecture


class _Row:
    def csv_row(self):
        return dict.fromkeys(architecture.CSV_FIELDS, "1")


def test_writers(tmp_path):
    architecture.write_architecture(str(tmp_path), '{"name": "x"}', {"b": 1, "a": 2})
    assert (tmp_path / architecture.ARCHITECTURE_FILE).read_text() == '{"name": "x"}'
    text = (tmp_path / architecture.HYPERPARAMETERS_FILE).read_text()
    assert text == json.dumps({"a": 2, "b": 1}, indent=2) + "\n"
    path = tmp_path / architecture.TRIALS_FILE
    architecture.write_trials_csv([_Row(), _Row()], str(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and tuple(rows[0]) == architecture.CSV_FIELDS
