"""The typed search space of the architecture search: what is searched and within which bounds.

The space is plain data (bounds and choice lists), separate from how it is sampled
(``components.search.hypermodel``). Two spaces ship: ``small`` (CPU: small inputs, few blocks,
narrow widths) and ``large`` (GPUs: EfficientDet-D0-like sizes). The searched dimensions are the
two NASNet cells, normal and reduction (each: up to ``num_blocks.high`` blocks of two inputs
among the earlier hidden states and one operation for each), cells per stage, base width, BiFPN
width and depth, head depth, input resolution and the learning rate.
"""

from __future__ import annotations

import dataclasses

from components.detector import cell_ops
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
class LogRange:
    """A float range ``[low, high]`` sampled on a log scale (learning rates)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError(f"bad log range {self.low}..{self.high}")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Bounds of every searched dimension, plus the preset the sampled configs start from.

    ``base_preset`` names the detector preset whose non-searched fields (anchors, loss,
    post-processing, optimizer apart from the learning rate) every sampled config inherits.
    ``batch_size`` is the training batch size of a trial. The base preset is also the latency
    reference of the search (``components.search.latency_limit``).
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
    learning_rate: LogRange
    batch_size: int

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


# Every operation of the detector's NASNet-style cell (its registry, in registration order).
ALL_OPERATIONS: tuple[str, ...] = cell_ops.op_names()

SMALL = SearchSpace(
    name="small",
    base_preset="tiny",
    num_blocks=IntRange(1, 3),
    operations=ALL_OPERATIONS,
    cells_per_stage=IntRange(1, 2),
    base_width=(8, 12, 16),
    bifpn_width=(16, 24, 32),
    bifpn_depth=IntRange(1, 2),
    head_depth=IntRange(1, 2),
    image_size=(64, 96),
    learning_rate=LogRange(0.02, 0.32),
    batch_size=4,
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
    learning_rate=LogRange(0.01, 0.16),
    batch_size=16,
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
