"""Label maps: source class ids -> contiguous labels 1..K, ``labels.json``, class-name files.

``build_label_map`` orders the classes by their source id and numbers them 1..K (0 is left for
background / padding). ``read_class_names`` reads ``--classes``: a text file with one name per
line, or an Ultralytics data YAML whose ``names`` is a list or a ``{index: name}`` mapping.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses

from components import files
from components.data.records import SourceClass
from components.errors import UserError


@dataclasses.dataclass(frozen=True)
class LabelClass:
    """One entry of the label map: contiguous ``label`` (1..K), ``name`` and source id."""

    label: int
    name: str
    source_id: int


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """The classes of a dataset with contiguous labels 1..K in order of source id.

    Picklable (it travels to Beam workers). Use ``lookup`` to map a source class id.
    """

    classes: tuple[LabelClass, ...]
    _by_source: dict = dataclasses.field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_source", {c.source_id: c for c in self.classes})

    @property
    def num_classes(self) -> int:
        """Return K, the number of classes."""
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        """Return the class names in label order (index 0 is label 1)."""
        return [c.name for c in self.classes]

    def lookup(self, source_id: int) -> tuple[int, str] | None:
        """Return ``(label, name)`` for a source class id, or None when the id is unknown."""
        entry = self._by_source.get(source_id)
        return None if entry is None else (entry.label, entry.name)


def build_label_map(classes: list[SourceClass]) -> LabelMap:
    """Return the ``LabelMap`` of ``classes``: sorted by source id, labels 1..K.

    Raises ``UserError`` when two classes share a source id or a name.
    """
    ordered = sorted(classes, key=lambda c: c.source_id)
    seen_ids: set[int] = set()
    seen_names: set[str] = set()
    for cls in ordered:
        if cls.source_id in seen_ids:
            raise UserError(f"duplicate class id {cls.source_id} in the class list")
        if cls.name in seen_names:
            raise UserError(f"duplicate class name {cls.name!r} in the class list")
        seen_ids.add(cls.source_id)
        seen_names.add(cls.name)
    return LabelMap(tuple(LabelClass(i + 1, c.name, c.source_id) for i, c in enumerate(ordered)))


def to_labels_json(label_map: LabelMap) -> dict:
    """Return the ``labels.json`` dict: ``{"classes": [{"id", "name", "source_id"}, ...]}``."""
    return {
        "classes": [
            {"id": c.label, "name": c.name, "source_id": c.source_id} for c in label_map.classes
        ]
    }


def from_labels_json(data: dict) -> LabelMap:
    """Return the ``LabelMap`` stored in a ``labels.json`` dict; raises ``UserError`` if malformed."""
    try:
        entries = tuple(
            LabelClass(int(c["id"]), str(c["name"]), int(c["source_id"])) for c in data["classes"]
        )
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"labels.json is malformed: {err}") from err
    if [c.label for c in entries] != list(range(1, len(entries) + 1)):
        raise UserError("labels.json is malformed: ids must be 1..K in order")
    return LabelMap(entries)


def read_class_names(path: str) -> list[str]:
    """Return the class names of ``--classes`` in index order.

    ``path`` is a text file (one name per line, blank lines ignored) or a YAML file (``.yaml`` /
    ``.yml``) with ``names:`` as a list or a mapping ``{0: a, 1: b}``. Raises ``UserError`` when
    the file is missing, unparsable, empty or has duplicate names.
    """
    try:
        text = files.read_bytes(path).decode("utf-8")
    except FileNotFoundError as err:
        raise UserError(f"{path}: class file not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read class file ({err})") from err
    if path.lower().endswith((".yaml", ".yml")):
        names = _names_from_yaml(path, text)
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise UserError(f"{path}: no class names")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"{path}: duplicate class names {duplicates}")
    return names


def read_data_yaml(path: str) -> dict:
    """Return the parsed Ultralytics data YAML at ``path`` as a dict; raises ``UserError``."""
    import yaml

    try:
        text = files.read_bytes(path).decode("utf-8")
        data = yaml.safe_load(text)
    except FileNotFoundError as err:
        raise UserError(f"{path}: file not found") from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a YAML mapping")
    return data


def _names_from_yaml(path: str, text: str) -> list[str]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict) or "names" not in data:
        raise UserError(f"{path}: no 'names' entry")
    names = data["names"]
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError) as err:
            raise UserError(f"{path}: 'names' keys must be integers") from err
        if keys != list(range(len(keys))):
            raise UserError(f"{path}: 'names' keys must be 0..{len(keys) - 1} without gaps")
        by_int = {int(k): v for k, v in names.items()}
        names = [by_int[k] for k in keys]
    if not isinstance(names, list):
        raise UserError(f"{path}: 'names' must be a list or a mapping")
    return [str(n).strip() for n in names]
