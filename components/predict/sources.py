"""What ``nasdet predict SOURCE`` reads: an image, a folder, a glob pattern or a list file.

- an image file (by extension: :data:`IMAGE_EXTENSIONS`);
- a folder: its image files, not its subfolders;
- a glob pattern (``*``, ``?``, ``[``; ``**`` reaches into subfolders): the image files it matches;
- a list file (``.txt``): one image path per line, relative to the list file's folder unless
  absolute; blank lines and ``#`` comments are skipped, and a listed file that does not exist is
  an error naming the list and the line.

The order is sorted (the list file's own order for a list). Nothing found is a ``UserError``.
"""

from __future__ import annotations

import glob
import os

from components.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
LIST_EXTENSIONS = (".txt",)


def is_image(path: str) -> bool:
    """True when ``path`` has an image file extension (case-insensitive)."""
    return path.lower().endswith(IMAGE_EXTENSIONS)


def image_paths(source: str) -> list[str]:
    """Return the image files ``source`` names (see the module docstring); UserError if none."""
    if os.path.isdir(source):
        found = sorted(
            os.path.join(source, name)
            for name in os.listdir(source)
            if is_image(name) and os.path.isfile(os.path.join(source, name))
        )
        kind = "folder"
    elif os.path.isfile(source) and source.lower().endswith(LIST_EXTENSIONS):
        found = _read_list(source)
        kind = "list file"
    elif os.path.isfile(source):
        if not is_image(source):
            raise UserError(
                f"{source}: not an image or a list file (images: "
                f"{', '.join(IMAGE_EXTENSIONS)}; lists: {', '.join(LIST_EXTENSIONS)})"
            )
        return [source]
    elif glob.has_magic(source):
        found = sorted(p for p in glob.glob(source, recursive=True) if is_image(p))
        kind = "pattern"
    else:
        raise UserError(f"{source}: no such file or folder")
    if not found:
        raise UserError(
            f"{source}: the {kind} holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return found


def _read_list(list_file: str) -> list[str]:
    base = os.path.dirname(os.path.abspath(list_file))
    paths = []
    with open(list_file, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            path = entry if os.path.isabs(entry) else os.path.join(base, entry)
            if not os.path.isfile(path):
                raise UserError(f"{list_file}, line {number}: {entry} does not exist")
            paths.append(path)
    return paths
