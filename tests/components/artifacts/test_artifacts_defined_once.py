"""Each artifact's file names are defined once, in components/artifacts/, and steps do not import
each other: the code outside that package refers to the names, never spells them out."""

from __future__ import annotations

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "components" / "artifacts"
STEPS = ("ingest", "changes", "search", "train", "evaluate", "push")


def _file_names() -> dict[str, str]:
    """``{value: "module.NAME"}`` of the file and folder names the artifacts modules define."""
    names = {}
    for path in sorted(ARTIFACTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            value = node.value.value
            # File names (with an extension) and the SavedModel folder; split names such as
            # "train" are ordinary words elsewhere (a step, a CLI command).
            if not isinstance(value, str) or not ("." in value or value == "saved_model"):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.isupper():
                    names[value] = f"{path.stem}.{target.id}"
    return names


def _sources():
    for top in ("components", "pipelines"):
        for path in sorted((REPO / top).rglob("*.py")):
            if ARTIFACTS not in path.parents:
                yield path


def test_the_artifacts_define_the_known_file_names():
    names = _file_names()
    for expected in ("labels.json", "stats.json", "architecture.json", "trials.csv"):
        assert expected in names
    for expected in ("saved_model", "detector_config.json", "metrics.json", "blessing.json"):
        assert expected in names
    assert "push.json" in names and "changes.json" in names


def test_no_file_name_of_an_artifact_is_spelled_out_elsewhere():
    names = _file_names()
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        keys = {
            id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in names
                and id(node) not in keys  # a summary's dict key ("saved_model": path) is a label
            ):
                rel = path.relative_to(REPO)
                found.append(f"{rel}:{node.lineno}: {node.value!r} (use {names[node.value]})")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("step", STEPS)
def test_a_step_package_imports_no_other_step_package(step):
    others = {f"components.{s}" for s in STEPS if s != step}
    found = []
    for path in sorted((REPO / "components" / step).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            for module in modules:
                if any(module == o or module.startswith(o + ".") for o in others):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {module}")
    assert not found, "\n".join(found)
