"""A search continues only on the data it started on, and refuses damaged Examples in one line."""

from __future__ import annotations

import shutil

import pytest

from components.artifacts.examples import data_fingerprint
from components.errors import UserError
from components.search.cli import main
from components.search.step import _check_resume
from components.search.tuners import SearchSpec
from tests.components.search.conftest import write_examples


@pytest.fixture(scope="module")
def other_examples(tmp_path_factory) -> str:
    """Examples of other images than ``tiny_examples`` (6 train, 3 val)."""
    return write_examples(tmp_path_factory.mktemp("other_examples"), 6, 3)


def _spec(examples: str, work: str) -> SearchSpec:
    return SearchSpec(examples_dir=examples, directory=work, data_digest=data_fingerprint(examples))


def test_a_search_on_other_data_is_refused_in_one_line(
    tiny_examples, other_examples, tmp_path, capsys
):
    work = str(tmp_path / "search.work")
    _check_resume(_spec(tiny_examples, work), work)  # the first run records its data
    argv = ["--examples", other_examples, "--output", str(tmp_path / "arch"), "--work-dir", work]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "other data" in err[0] and work in err[0]
    assert data_fingerprint(other_examples) in err[0]
    assert not (tmp_path / "arch").exists()


def test_the_same_data_moved_elsewhere_still_resumes(tiny_examples, tmp_path):
    work = str(tmp_path / "search.work")
    _check_resume(_spec(tiny_examples, work), work)
    moved = shutil.copytree(tiny_examples, tmp_path / "moved")
    _check_resume(_spec(str(moved), work), work)  # the digest, not the path, decides


def test_a_spec_recorded_without_a_digest_is_refused(tiny_examples, tmp_path):
    work = str(tmp_path / "search.work")
    _check_resume(SearchSpec(examples_dir=tiny_examples, directory=work), work)
    with pytest.raises(UserError, match="other data.*unrecorded"):
        _check_resume(_spec(tiny_examples, work), work)


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_truncated_shard_is_a_one_line_error_naming_it(tiny_examples, tmp_path, capsys, split):
    examples = shutil.copytree(tiny_examples, tmp_path / "ex")
    shard = next((examples / f"Split-{split}").iterdir())
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert main(["--examples", str(examples), "--output", str(tmp_path / "arch")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: Examples shard {shard} is damaged (")
    assert not (tmp_path / "arch").exists()


def test_a_search_in_an_earlier_definition_of_its_space_is_refused(tiny_examples, tmp_path):
    """A space keeps its name across releases while its bounds change: the trials of the old
    definition would be read back as points it no longer has."""
    import dataclasses

    from components.search.space import IntRange, get_space

    work = str(tmp_path / "search.work")
    spec = _spec(tiny_examples, work)
    earlier = dataclasses.replace(get_space(spec.space), cells_per_stage=IntRange(1, 2))
    _check_resume(dataclasses.replace(spec, space_digest=earlier.digest()), work)
    with pytest.raises(UserError, match=f"another definition of the {spec.space} space"):
        _check_resume(dataclasses.replace(spec, space_digest=get_space(spec.space).digest()), work)
    assert get_space(spec.space).digest() == get_space(spec.space).digest()
    assert earlier.digest() != get_space(spec.space).digest()
