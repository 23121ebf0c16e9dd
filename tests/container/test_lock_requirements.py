"""The lock files: consistent with pyproject.toml and with the installed environment, offline."""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import importlib.util
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "container" / "lock_requirements.py"


def _load():
    spec = importlib.util.spec_from_file_location("lock_requirements", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _load()

# A small made-up index: name -> (version, requirements of that version).
METADATA = {
    "app-lib": ["helper>=2,<3", "extra-only; extra == 'fancy'", "old-py; python_version < '3.11'"],
    "helper": ["tiny>=1.0"],
    "tiny": [],
}


def _metadata(name: str, version: str) -> list[str]:
    if name not in METADATA:
        raise md.PackageNotFoundError(name)
    return METADATA[name]


PINS = {"app-lib": "1.4.0", "helper": "2.1.0", "tiny": "1.2.0"}


def test_consistent_lock_has_no_problems():
    assert lock.check_closure(["app-lib>=1.2,<2"], PINS, _metadata, "lock") == []


def test_a_range_that_excludes_a_pin_is_reported():
    problems = lock.check_closure(["app-lib>=1.5,<2"], PINS, _metadata, "lock")
    assert problems == [
        "lock: app-lib==1.4.0 is outside pyproject.toml's requirement 'app-lib>=1.5,<2'"
    ]


def test_a_transitive_pin_outside_its_parents_range_is_reported():
    pins = {**PINS, "helper": "3.0.0"}
    problems = lock.check_closure(["app-lib"], pins, _metadata, "lock")
    assert problems == [
        "lock: helper==3.0.0 is outside app-lib==1.4.0's requirement 'helper>=2,<3'"
    ]


def test_a_missing_transitive_pin_is_reported():
    pins = {name: v for name, v in PINS.items() if name != "tiny"}
    problems = lock.check_closure(["app-lib"], pins, _metadata, "lock")
    assert problems == ["lock: tiny (helper==2.1.0 requires 'tiny>=1.0') is not pinned"]


def test_a_missing_direct_pin_and_a_stale_pin_are_reported():
    problems = lock.check_closure(["app-lib", "other>=1"], {**PINS, "stale": "0.1"}, _metadata, "l")
    assert "l: other (pyproject.toml requires 'other>=1') is not pinned" in problems
    assert "l: stale==0.1 is pinned but nothing requires it" in problems


def test_markers_and_extras_follow_the_target_interpreter():
    # extra-only is needed only with app-lib[fancy]; old-py never on the 3.11 target.
    problems = lock.check_closure(["app-lib[fancy]"], PINS, _metadata, "lock")
    assert problems == [
        "lock: extra-only (app-lib==1.4.0 requires \"extra-only; extra == 'fancy'\") is not pinned"
    ]


def test_the_two_locks_must_agree():
    assert lock.check_agreement(PINS, {**PINS, "pytest": "9.2.0"}) == []
    problems = lock.check_agreement(PINS, {**PINS, "tiny": "1.3.0"})
    assert problems == ["requirements-dev.txt pins tiny==1.3.0, the runtime lock 1.2.0"]


def test_the_installed_environment_must_match():
    installed = {"app-lib": "1.4.0", "helper": "2.2.0"}

    def version(name):
        if name not in installed:
            raise md.PackageNotFoundError(name)
        return installed[name]

    problems = lock.check_installed(PINS, version)
    assert problems == [
        "installed helper is 2.2.0, the lock says 2.1.0 (run `make install`)",
        "installed environment lacks tiny==1.2.0 (run `make install`)",
    ]


def test_a_lock_line_that_is_not_an_exact_pin_is_reported():
    pins, problems = lock.parse_lock("# header\nnumpy==2.4.6\nscipy>=1.11\n", "x.txt")
    assert pins == {"numpy": "2.4.6"}
    assert problems == ["x.txt:3: not an exact pin 'name==version': scipy>=1.11"]


def test_the_real_locks_are_consistent_with_pyproject_and_this_environment():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    runtime, _ = lock.read_lock(lock.RUNTIME_LOCK)
    assert runtime["tensorflow"] == "2.21.0"  # = the base image's TensorFlow
    assert "pytest" not in runtime  # dev tools stay out of the image
    assert "kubernetes" in runtime


def _imported_modules(root: pathlib.Path) -> set[str]:
    """Absolute module names imported anywhere under ``root`` (parsed, not grepped)."""
    names = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


@functools.cache
def _file_owners() -> dict[str, str]:
    """``{path of an installed module file: normalised distribution name}``."""
    owners = {}
    for dist in md.distributions():
        name = lock.norm(dist.metadata["Name"])
        for file in dist.files or []:
            if file.suffix in (".py", ".so") or file.name == "__init__.py":
                owners[os.path.normpath(str(dist.locate_file(file)))] = name
    return owners


def _owner(module: str) -> set[str]:
    """The normalised names of the installed distributions that ship ``module``."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return set()
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return set()
    owner = _file_owners().get(os.path.normpath(spec.origin))
    return {owner} if owner else set()


def test_every_runtime_import_is_declared():
    """Third-party modules imported by the code ship as declared dependencies, not by luck."""
    from packaging.requirements import Requirement

    declared = {lock.norm(Requirement(r).name) for r in lock.read_pyproject()[0]}
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for package in ("components", "pipelines"):
        imported |= _imported_modules(REPO / package)
    first_party = ("components", "pipelines", "__future__")
    third_party = {m for m in imported if m.split(".")[0] not in stdlib | set(first_party)}
    # A namespace package ("google") is judged by its sub-package ("google.cloud.storage").
    undeclared = {}
    for module in sorted(third_party):
        owners = _owner(module)
        if not owners & declared:
            undeclared[module] = sorted(owners) or "not installed"
    assert len(third_party) >= 10, third_party  # tensorflow, keras, kfp, apache_beam, ...
    assert undeclared == {}, undeclared
