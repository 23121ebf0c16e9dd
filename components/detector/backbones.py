"""The backbone registry: every ``backbone.kind`` and what the detector needs to know about it.

Like automl's ``backbone_factory``, one entry per kind holds its builder (a
``"module:function"`` path imported on first use, so this module and the config stay free of
Keras), its name in ``nasdet describe``, the ``backbone`` config fields that decide its weights'
shapes (the warm-start signature) and any validation specific to it. The config validates
``backbone.kind`` against ``kinds()``; ``model.build_backbone``, ``describe`` and
``train.warm_start`` look the kind up here. Adding a backbone: one module with
``build(config: DetectorConfig) -> keras.Model`` (images -> {str(level): feature map}, levels
``bifpn.min_level`` .. 5) and one ``register(Backbone(...))`` below (plus a field in
``config.BackboneConfig`` if it needs settings of its own).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from components.errors import UserError

if TYPE_CHECKING:
    from components.detector.config import BackboneConfig


class Backbone:
    """One registered backbone kind (treat it as immutable once registered).

    ``build``: ``"package.module:function"`` (imported lazily) or the function itself, called
    with the ``DetectorConfig``. ``describe``: ``BackboneConfig -> str`` for ``nasdet describe``
    (default: the kind). ``signature_fields``: the ``BackboneConfig`` fields besides ``kind``
    that decide the weights' shapes (a warm start needs them equal). ``validate``: optional
    ``BackboneConfig -> None`` raising ``UserError``, run when a config of this kind is built.
    ``pretrained``: whether the builder can load pretrained weights (``backbone.weights``:
    ``imagenet`` or a weights file); otherwise the train step refuses them.
    """

    # A plain class, not a dataclass: the config imports this module, and creating a dataclass
    # costs about a millisecond of import time.
    __slots__ = ("kind", "build", "describe", "signature_fields", "validate", "pretrained")

    def __init__(
        self,
        kind: str,
        build: str | Callable[..., Any],
        describe: Callable[[BackboneConfig], str] | None = None,
        signature_fields: tuple[str, ...] = (),
        validate: Callable[[BackboneConfig], None] | None = None,
        pretrained: bool = False,
    ) -> None:
        self.kind = kind
        self.build = build
        self.describe = describe
        self.signature_fields = tuple(signature_fields)
        self.validate = validate
        self.pretrained = pretrained

    def __repr__(self) -> str:
        return f"Backbone(kind={self.kind!r}, build={self.build!r})"

    def builder(self) -> Callable[..., Any]:
        """Return the build function (importing its module the first time)."""
        if callable(self.build):
            return self.build
        module, _, function = self.build.partition(":")
        return getattr(importlib.import_module(module), function)

    def description(self, backbone: BackboneConfig) -> str:
        """Return what ``nasdet describe`` prints for ``backbone`` (a config of this kind)."""
        return self.describe(backbone) if self.describe else self.kind

    def signature(self, backbone: dict[str, Any]) -> dict[str, Any]:
        """Return the shape-deciding part of ``backbone`` (the config's plain ``backbone`` data)."""
        return {"kind": self.kind, **{name: backbone[name] for name in self.signature_fields}}


_BACKBONES: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    """Add ``backbone`` to the registry and return it; ``ValueError`` if its kind is taken."""
    if backbone.kind in _BACKBONES:
        raise ValueError(f"backbone kind {backbone.kind!r} is already registered")
    _BACKBONES[backbone.kind] = backbone
    return backbone


def unregister(kind: str) -> None:
    """Remove backbone ``kind`` from the registry (for tests that register their own)."""
    _BACKBONES.pop(kind, None)


def kinds() -> tuple[str, ...]:
    """Return every registered backbone kind, in registration order."""
    return tuple(_BACKBONES)


def unknown_kind_message(kind: str) -> str:
    """Return the error message for an unknown kind, listing the known ones."""
    return f"unknown backbone.kind {kind!r} (known: {', '.join(_BACKBONES)})"


def get(kind: str) -> Backbone:
    """Return the registered backbone ``kind``; UserError listing the known kinds otherwise."""
    try:
        return _BACKBONES[kind]
    except KeyError:
        raise UserError(unknown_kind_message(kind)) from None


register(
    Backbone(
        kind="efficientnet",
        build="components.detector.backbone_efficientnet:build_efficientnet_backbone",
        describe=lambda backbone: f"efficientnet-{backbone.variant}",
        signature_fields=("variant",),
        pretrained=True,
    )
)
register(
    Backbone(
        kind="cells",
        build="components.detector.backbone_cells:build_cell_backbone",
        signature_fields=("cells",),
    )
)
