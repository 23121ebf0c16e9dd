"""The typed search space of the architecture search: what is searched and within which bounds.

The space is plain data (bounds and choice lists), separate from how it is sampled
(``components.search.hypermodel``). Two spaces ship: ``small`` (CPU: around the ``tiny`` preset,
which is one of its points) and ``large`` (GPUs: EfficientDet-D0-like sizes). The searched
dimensions are the two NASNet cells, reduction and normal (each: up to ``num_blocks.high``
blocks of two inputs among the earlier hidden states and one operation for each; the normal
cell only in a space with normal cells, which ``small`` has not), cells per stage, base width,
BiFPN width and depth, head depth and, when the final model's size is not given, the input
resolution.

Only what the pick keeps is searched: a trial trains with the base preset's recipe (learning
rate, batch size, augmentation), the recipe the train step gives the pick, and at the size the
pick will be trained at; so no trial's result depends on a value thrown away afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from components.detector import cell_ops
from components.detector.presets import TINY_NORMAL_BLOCKS
from components.errors import UserError


@dataclasses.dataclass(frozen=True)
class IntRange:
    """An inclusive integer range ``[low, high]`` sampled in steps of ``step``."""

    low: int
    high: int
    step: int = 1

    def __post_init__(self) -> None:
        if self.low > self.high or self.step < 1:
            raise ValueError(f"bad integer range {self.low}..{self.high} step {self.step}")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Bounds of every searched dimension, plus the preset the sampled configs start from.

    ``base_preset`` names the detector preset whose non-searched fields (anchors, loss,
    post-processing, the whole training recipe) every sampled config inherits. The base preset
    is also the latency reference of the search (``components.search.latency_limit``).
    ``base_point`` is the base preset as hyperparameter values of this space (None when the
    space cannot express it, as ``large`` cannot express d0's EfficientNet backbone): the
    search trains it first, so every pick is weighed against the hand-designed reference.
    ``operations`` is a subset of the detector's registered cell ops (``cell_ops.op_names()``).
    """

    name: str
    base_preset: str
    num_blocks: IntRange
    operations: tuple[str, ...]
    cells_per_stage: IntRange
    base_width: tuple[int, ...]
    bifpn_width: tuple[int, ...]
    bifpn_depth: IntRange
    head_depth: IntRange
    image_size: tuple[int, ...]
    base_point: dict | None = None

    def __post_init__(self) -> None:
        for field in ("operations", "base_width", "bifpn_width", "image_size"):
            if not getattr(self, field):
                raise ValueError(f"search space {self.name}: {field} is empty")
        for op in self.operations:
            if op not in cell_ops.op_names():
                raise ValueError(f"search space {self.name}: {cell_ops.unknown_op_message(op)}")
        if self.num_blocks.low < 1:
            raise ValueError(f"search space {self.name}: a cell needs at least one block")
        if any(size % 32 for size in self.image_size):
            raise ValueError(f"search space {self.name}: image sizes must be multiples of 32")

    def to_dict(self) -> dict:
        """Return the space as a JSON-ready dict (for reports and the search spec)."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """A digest of the definition: a search continues only in the space it started in
        (a space changed between releases keeps its name)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# Every operation of the detector's NASNet-style cell (its registry, in registration order).
ALL_OPERATIONS: tuple[str, ...] = cell_ops.op_names()


def _cell_point(prefix: str, count: str, blocks: list[dict]) -> dict:
    point = {count: len(blocks)}
    for b, block in enumerate(blocks):
        point.update({f"{prefix}{b}_input_a": block["inputs"][0]})
        point.update({f"{prefix}{b}_input_b": block["inputs"][1]})
        point.update({f"{prefix}{b}_op_a": block["ops"][0], f"{prefix}{b}_op_b": block["ops"][1]})
    return point


# ``tiny`` in the small space: no normal cells (so no normal cell's values), each later stage
# one reduction cell of its four-block cell.
TINY_POINT = {
    **_cell_point("reduce", "num_reduce_blocks", TINY_NORMAL_BLOCKS),
    "image_size": 128,
    "base_width": 16,
    "cells_per_stage": 0,
    "bifpn_width": 32,
    "bifpn_depth": 2,
    "head_depth": 2,
}

# Centred on ``tiny`` (each dimension reaches below and above it), so a random point is about
# as often faster as slower than the preset, and the preset itself is a point. No normal cells
# (so the normal cell is not searched): trained from scratch on a CPU budget, every network with
# one normal cell per stage that the calibration trained (8, on three datasets) scored below
# ``tiny``, and the zero-cost screening ranked them high (more parameters at equal latency).
SMALL = SearchSpace(
    name="small",
    base_preset="tiny",
    num_blocks=IntRange(1, 4),
    operations=ALL_OPERATIONS,
    cells_per_stage=IntRange(0, 0),
    base_width=(8, 12, 16, 24),
    bifpn_width=(16, 24, 32, 48),
    bifpn_depth=IntRange(1, 3),
    head_depth=IntRange(1, 3),
    image_size=(96, 128, 160),
    base_point=TINY_POINT,
)

LARGE = SearchSpace(
    name="large",
    base_preset="d0",
    num_blocks=IntRange(2, 5),
    operations=ALL_OPERATIONS,
    cells_per_stage=IntRange(1, 4),
    base_width=(16, 24, 32, 48),
    bifpn_width=(48, 64, 88, 112),
    bifpn_depth=IntRange(2, 5),
    head_depth=IntRange(2, 4),
    image_size=(384, 512, 640),
)

SPACES = {"small": SMALL, "large": LARGE}


def get_space(name: str) -> SearchSpace:
    """Return the search space called ``name`` (``small`` or ``large``); UserError otherwise."""
    try:
        return SPACES[name]
    except KeyError:
        raise UserError(
            f"unknown search space {name!r} (choose from: {', '.join(sorted(SPACES))})"
        ) from None
