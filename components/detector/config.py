"""The one typed detector config: the dataclass schema, its validation and JSON round trip.

Every detector default (architecture, anchors, post-processing here; loss, optimiser and
augmentation, the training recipe, in ``config_recipe``) lives in these two modules; the defaults are EfficientDet-D0 and ``presets.py`` holds small deltas over them
(looked up, like architecture files, by ``config_load``). A config is immutable; derive variants
with ``config.replace(num_classes=3)`` or ``config.with_overrides({"bifpn.width": 32})``.
Unknown keys and bad values raise ``UserError`` naming the key. Backbone kinds and cell ops are
validated against their registries (``backbones``, ``cell_ops``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from components import files
from components.detector import presets
from components.detector.config_parse import (
    build_dataclass,
    check,
    check_choice,
    listify,
    set_dotted,
    tuplify,
)
from components.detector.config_recipe import AugmentConfig, LossConfig, TrainConfig
from components.errors import UserError

__all__ = [
    "AnchorConfig",
    "AugmentConfig",
    "BackboneConfig",
    "BiFPNConfig",
    "CellBackboneConfig",
    "CellBlock",
    "DetectorConfig",
    "HeadConfig",
    "LossConfig",
    "PostprocessConfig",
    "TrainConfig",
    "from_dict",
]

# Note on imports: the registries ``backbones`` (backbone kinds) and ``cell_ops`` (cell ops) are
# imported by the ``__post_init__`` methods that validate against them, not here: importing the
# schema costs no more than the schema. Neither imports Keras (only building a model does).

EFFICIENTNET_VARIANTS: tuple[str, ...] = tuple(f"b{i}" for i in range(8))
BACKBONE_LEVEL = 5  # backbones provide features up to stride 2**5; higher levels are downsampled


_check = check
_check_choice = check_choice


@dataclass(frozen=True)
class CellBlock:
    """One block of a cell: two inputs (hidden-state indices) and one operation for each.

    Index 0 is the output of the cell before the previous one, 1 the previous cell's output and
    2 + i the output of block i of this cell (only earlier blocks).
    """

    inputs: tuple[int, int] = (0, 1)
    ops: tuple[str, str] = ("sep_conv_3x3", "identity")

    def __post_init__(self) -> None:
        _check(
            len(self.inputs) == 2, f"a cell block needs exactly 2 inputs, got {list(self.inputs)}"
        )
        _check(len(self.ops) == 2, f"a cell block needs exactly 2 ops, got {list(self.ops)}")
        from components.detector import cell_ops  # on first use: see the note on imports

        for op in self.ops:
            _check(op in cell_ops.op_names(), cell_ops.unknown_op_message(op))
        for index in self.inputs:
            _check(index >= 0, f"cell block input {index} must be >= 0")


def _default_blocks() -> tuple[CellBlock, ...]:
    return tuple(CellBlock(**b) for b in tuplify(presets.TINY_NORMAL_BLOCKS))


@dataclass(frozen=True)
class CellBackboneConfig:
    """NASNet-style backbone: a stride-4 stem, then stages at strides 4, 8, 16 and 32.

    Each stage after the first starts with a reduction cell (stride 2); every stage has
    ``cells_per_stage`` normal cells. Stage ``s`` (0..3) has ``filters * filter_multiplier**s``
    channels. ``reduction_blocks`` empty means "the normal blocks, with stride 2".
    """

    stem_width: int = 16
    filters: int = 16
    filter_multiplier: float = 2.0
    cells_per_stage: int = 1
    normal_blocks: tuple[CellBlock, ...] = field(default_factory=_default_blocks)
    reduction_blocks: tuple[CellBlock, ...] = ()

    def __post_init__(self) -> None:
        _check(self.stem_width >= 1, "backbone.cells.stem_width must be >= 1")
        _check(self.filters >= 1, "backbone.cells.filters must be >= 1")
        _check(self.filter_multiplier > 0, "backbone.cells.filter_multiplier must be > 0")
        _check(self.cells_per_stage >= 0, "backbone.cells.cells_per_stage must be >= 0")
        for name in ("normal_blocks", "reduction_blocks"):
            blocks = getattr(self, name)
            _check(
                name == "reduction_blocks" or len(blocks) >= 1, f"backbone.cells.{name} is empty"
            )
            for i, block in enumerate(blocks):
                for index in block.inputs:
                    _check(
                        index < 2 + i,
                        f"backbone.cells.{name}[{i}] input {index} refers to a later block "
                        f"(allowed 0..{1 + i})",
                    )

    def stage_width(self, stage: int) -> int:
        """Return the channel count of stage ``stage`` (0 = stride 4, 3 = stride 32)."""
        return max(1, int(round(self.filters * self.filter_multiplier**stage)))


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone choice: a registered ``kind`` (``backbones.kinds()``) and its settings.

    ``efficientnet`` uses ``variant`` (b0..b7) and ``weights``; ``cells`` uses ``cells``.
    """

    kind: str = "efficientnet"
    variant: str = "b0"
    weights: str = "none"  # none | imagenet | /path/to/weights file
    cells: CellBackboneConfig = field(default_factory=CellBackboneConfig)

    def __post_init__(self) -> None:
        from components.detector import backbones  # on first use: see the note on imports

        _check(self.kind in backbones.kinds(), backbones.unknown_kind_message(self.kind))
        _check(
            self.variant in EFFICIENTNET_VARIANTS,
            f"unknown backbone.variant {self.variant!r} (known: b0..b7)",
        )
        validate = backbones.get(self.kind).validate
        if validate is not None:
            validate(self)


@dataclass(frozen=True)
class BiFPNConfig:
    """Feature network: width (channels), depth (repeated layers) and pyramid levels."""

    width: int = 64
    depth: int = 3
    min_level: int = 3
    max_level: int = 7

    def __post_init__(self) -> None:
        _check(self.width >= 1, "bifpn.width must be >= 1")
        _check(self.depth >= 1, "bifpn.depth must be >= 1")
        _check(3 <= self.min_level <= BACKBONE_LEVEL, "bifpn.min_level must be in 3..5")
        _check(self.max_level >= self.min_level, "bifpn.max_level must be >= bifpn.min_level")
        _check(self.max_level <= 9, "bifpn.max_level must be <= 9")

    @property
    def levels(self) -> list[int]:
        """Return the pyramid levels, lowest first."""
        return list(range(self.min_level, self.max_level + 1))


@dataclass(frozen=True)
class HeadConfig:
    """Class and box heads shared across levels: ``depth`` conv layers before the output conv."""

    depth: int = 3
    separable: bool = True

    def __post_init__(self) -> None:
        _check(self.depth >= 0, "head.depth must be >= 0")


@dataclass(frozen=True)
class AnchorConfig:
    """Anchors per location: ``num_scales`` octave scales times ``aspect_ratios`` (width/height).

    ``assigner``: ``iou`` (EfficientDet: IoU >= ``matched_threshold`` positive, below
    ``unmatched_threshold`` background, else ignored) or ``atss`` (``assign_atss``, with
    ``atss_top_k``). ``force_match`` gives a box left without a positive its best anchor.
    ``fit``: training sets ``anchor_scale`` from the training boxes (``anchor_fit``), keeping
    the configured one when it covers them as well as any other.
    """

    num_scales: int = 3
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5)
    anchor_scale: float = 4.0
    matched_threshold: float = 0.5
    unmatched_threshold: float = 0.5
    force_match: bool = True
    assigner: str = "iou"
    atss_top_k: int = 9
    fit: bool = False

    def __post_init__(self) -> None:
        _check(self.num_scales >= 1, "anchors.num_scales must be >= 1")
        _check(len(self.aspect_ratios) >= 1, "anchors.aspect_ratios is empty")
        _check(all(r > 0 for r in self.aspect_ratios), "anchors.aspect_ratios must be > 0")
        _check(self.anchor_scale > 0, "anchors.anchor_scale must be > 0")
        _check(
            0 < self.unmatched_threshold <= self.matched_threshold <= 1,
            "anchors: need 0 < unmatched_threshold <= matched_threshold <= 1",
        )
        _check_choice(self.assigner, ("iou", "atss"), "anchors.assigner")
        _check(self.atss_top_k >= 1, "anchors.atss_top_k must be >= 1")

    @property
    def per_location(self) -> int:
        """Return the number of anchors at each feature-map location."""
        return self.num_scales * len(self.aspect_ratios)


@dataclass(frozen=True)
class PostprocessConfig:
    """Detections: top-k pre-selection, per-class NMS (hard or soft), score threshold."""

    nms: str = "hard"
    iou_threshold: float = 0.5
    score_threshold: float = 0.05
    max_detections: int = 100
    soft_nms_sigma: float = 0.5
    pre_nms_top_k: int = 5000

    def __post_init__(self) -> None:
        _check(self.nms in ("hard", "soft"), f"postprocess.nms must be hard|soft, got {self.nms!r}")
        _check(0 < self.iou_threshold <= 1, "postprocess.iou_threshold must be in (0, 1]")
        _check(0 <= self.score_threshold < 1, "postprocess.score_threshold must be in [0, 1)")
        _check(self.max_detections >= 1, "postprocess.max_detections must be >= 1")
        _check(self.soft_nms_sigma > 0, "postprocess.soft_nms_sigma must be > 0")
        _check(self.pre_nms_top_k >= 1, "postprocess.pre_nms_top_k must be >= 1")


@dataclass(frozen=True)
class DetectorConfig:
    """A complete detector: input size, classes, backbone, BiFPN, heads, anchors, loss, train."""

    name: str = "custom"
    image_size: int = 512
    num_classes: int = 90
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    bifpn: BiFPNConfig = field(default_factory=BiFPNConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def __post_init__(self) -> None:
        _check(self.num_classes >= 1, "num_classes must be >= 1")
        stride = 2**self.bifpn.max_level
        _check(
            self.image_size >= stride and self.image_size % stride == 0,
            f"image_size {self.image_size} must be a multiple of 2**max_level = {stride}",
        )

    @property
    def levels(self) -> list[int]:
        """Return the pyramid levels used by the heads and anchors, lowest first."""
        return self.bifpn.levels

    def replace(self, **changes: Any) -> DetectorConfig:
        """Return a copy with top-level fields replaced (validated), e.g. ``num_classes=3``."""
        return self.with_overrides(changes)

    def with_overrides(self, overrides: dict[str, Any]) -> DetectorConfig:
        """Return a copy with overrides applied; keys may be dotted (``"bifpn.width": 32``).

        Values may be plain JSON data or config objects. Unknown keys raise ``UserError``.
        """
        data = self.to_dict()
        for key, value in overrides.items():
            if dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            set_dotted(data, key, tuplify(value))
        return from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-compatible data."""
        return listify(dataclasses.asdict(self))

    def to_json(self) -> str:
        """Return the config as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DetectorConfig:
        """Parse JSON text (a complete or partial config over the defaults); UserError if bad."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"detector config is not valid JSON: {err}") from None
        return from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the config as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DetectorConfig:
        """Read a JSON config file (a path or a URI); UserError when missing or invalid (the
        message names it)."""
        try:
            text = files.read_text(os.fspath(path))
        except OSError as err:
            raise UserError(
                f"cannot read detector config {os.fspath(path)!r}: {err.strerror or err}"
            ) from None
        try:
            return cls.from_json(text)
        except UserError as err:
            raise UserError(f"{os.fspath(path)}: {err}") from None


def from_dict(data: dict[str, Any]) -> DetectorConfig:
    """Build a ``DetectorConfig`` from plain data (missing keys take defaults); UserError if bad."""
    return build_dataclass(DetectorConfig, data)
