"""What SOURCE names: an image, a folder, a glob, a list file; one-line errors otherwise."""

from __future__ import annotations

import pytest

from components.errors import UserError
from components.predict.sources import image_paths


@pytest.fixture
def tree(tmp_path):
    for name in ("b.jpg", "a.PNG", "notes.md"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jpeg").write_bytes(b"x")
    return tmp_path


def test_a_folder_gives_its_images_sorted_not_its_subfolders(tree):
    assert image_paths(str(tree)) == [str(tree / "a.PNG"), str(tree / "b.jpg")]


def test_a_glob_pattern_and_a_recursive_one(tree):
    assert image_paths(str(tree / "*.jpg")) == [str(tree / "b.jpg")]
    assert image_paths(str(tree / "**" / "*.jp*g")) == [
        str(tree / "b.jpg"),
        str(tree / "sub" / "c.jpeg"),
    ]


def test_a_list_file_keeps_its_order_relative_to_itself(tree):
    listing = tree / "list.txt"
    listing.write_text(f"# images\nsub/c.jpeg\n\n{tree / 'b.jpg'}\n")
    assert image_paths(str(listing)) == [str(tree / "sub" / "c.jpeg"), str(tree / "b.jpg")]


def test_a_list_naming_a_missing_file_names_the_line(tree):
    listing = tree / "list.txt"
    listing.write_text("b.jpg\ngone.jpg\n")
    with pytest.raises(UserError, match=r"list.txt, line 2: gone.jpg does not exist"):
        image_paths(str(listing))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing", "no such file or folder"),
        ("notes.md", "not an image or a list file"),
        ("*.gif", "the pattern holds no image files"),
        ("empty", "the folder holds no image files"),
    ],
)
def test_nothing_to_predict_on_is_one_error(tree, source, message):
    (tree / "empty").mkdir()
    with pytest.raises(UserError, match=message):
        image_paths(str(tree / source))
