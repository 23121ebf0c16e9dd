"""Plain JSON data <-> typed (frozen) config dataclasses, rejecting unknown keys and bad types.

Generic over dataclasses annotated with int, float, str, bool, nested dataclasses and tuples
(``tuple[X, ...]`` or fixed ``tuple[X, Y]``); every error is a ``UserError`` naming the key path
(``backbone.cells.normal_blocks[0].ops``). Also the plain-data helpers of overrides: lists <->
tuples and setting a dotted key (``"bifpn.width"``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

from components.errors import UserError


def _convert(value: Any, hint: Any, path: str) -> Any:
    """Convert plain JSON data to the annotated type ``hint``; UserError naming ``path``."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, path)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"detector config {path}: expected a list, got {value!r}")
        item_hints = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(item_hints) != len(value):
            raise UserError(
                f"detector config {path}: expected {len(item_hints)} items, got {len(value)}"
            )
        return tuple(
            _convert(v, h, f"{path}[{i}]")
            for i, (v, h) in enumerate(zip(value, item_hints, strict=True))
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"detector config {path}: expected true or false, got {value!r}")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"detector config {path}: expected a finite number, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise UserError(f"detector config {path}: expected an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"detector config {path}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise UserError(f"detector config {path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {path}")  # a programming error


def build_dataclass(cls: type, data: Any, path: str = "") -> Any:
    """Return an instance of dataclass ``cls`` from plain data; UserError naming any bad key.

    Missing keys take the dataclass defaults; ``path`` prefixes key names in messages.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise UserError(f"detector config {path or 'root'}: expected an object, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{path}.{key}" if path else key
            raise UserError(f"unknown detector config key {where!r}")
    kwargs = {
        key: _convert(value, hints[key], f"{path}.{key}" if path else key)
        for key, value in data.items()
    }
    return cls(**kwargs)


def listify(value: Any) -> Any:
    """Return ``value`` with every tuple turned into a list, recursively (JSON data)."""
    if isinstance(value, dict):
        return {k: listify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [listify(v) for v in value]
    return value


def tuplify(value: Any) -> Any:
    """Return ``value`` with every list turned into a tuple, recursively (hashable data)."""
    if isinstance(value, dict):
        return {k: tuplify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(tuplify(v) for v in value)
    return value


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b] = value`` for ``key`` ``"a.b"``; UserError naming an unknown key."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            raise UserError(f"unknown detector config key {'.'.join(parts[: i + 1])!r}")
        node = node[part]
    if parts[-1] not in node:
        raise UserError(f"unknown detector config key {key!r}")
    node[parts[-1]] = value


def merge(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``delta``, merging nested dicts (a preset over the defaults)."""
    out = dict(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
