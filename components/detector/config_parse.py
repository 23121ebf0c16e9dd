"""Plain JSON data <-> typed (frozen) config dataclasses, rejecting unknown keys and bad types.

Generic over dataclasses annotated with int, float, str, bool, nested dataclasses, tuples
(``tuple[X, ...]`` or fixed ``tuple[X, Y]``), ``dict[str, X]`` and ``X | None``; every error is a
``UserError`` naming the key path (``backbone.cells.normal_blocks[0].ops``). Used by the
detector config and by the cluster profile. Also the plain-data helpers of overrides: lists <->
tuples and setting a dotted key (``"bifpn.width"``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from components.errors import UserError, did_you_mean


def _convert(value: Any, hint: Any, path: str, prefix: str) -> Any:
    """Convert plain data to the annotated type ``hint``; UserError naming ``path``."""

    def refuse(what: str) -> UserError:
        return UserError(f"{_where(prefix, path)}: {what}")

    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, path, prefix)
    if origin in (types.UnionType, typing.Union):  # X | None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(hint)):
            return None
        (inner,) = args
        return _convert(value, inner, path, prefix)
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise refuse(f"expected a mapping, got {type(value).__name__}")
        return {
            _convert(k, key_hint, f"{path} key", prefix): _convert(
                v, value_hint, f"{path}.{k}" if path else str(k), prefix
            )
            for k, v in value.items()
        }
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise refuse(f"expected a list, got {value!r}")
        item_hints = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(item_hints) != len(value):
            raise refuse(f"expected {len(item_hints)} items, got {len(value)}")
        return tuple(
            _convert(v, h, f"{path}[{i}]", prefix)
            for i, (v, h) in enumerate(zip(value, item_hints, strict=True))
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise refuse(f"expected true or false, got {value!r}")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise refuse(f"expected a finite number, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise refuse(f"expected an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise refuse(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise refuse(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {path}")  # a programming error


def _where(prefix: str, path: str) -> str:
    """``<prefix><path>`` for messages; the prefix alone (without its trailing ": ") at the root."""
    return f"{prefix}{path}" if path else prefix.rstrip(": ")


def build_dataclass(cls: type, data: Any, path: str = "", prefix: str = "detector config ") -> Any:
    """Return an instance of dataclass ``cls`` from plain data; UserError naming any bad key.

    Fields may be int, float, str, bool, nested dataclasses, tuples (``tuple[X, ...]`` or fixed
    ``tuple[X, Y]``), ``dict[str, X]`` and ``X | None``. Missing keys take the dataclass defaults;
    a missing key without a default is refused. Messages read ``<prefix><path>: <problem>``
    (``detector config backbone.cells: unknown key 'x' (known: ...)``).
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise UserError(f"{_where(prefix, path)}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            hint = did_you_mean(key, names) or f" (known: {', '.join(sorted(names))})"
            raise UserError(f"{_where(prefix, path)}: unknown key {key!r}{hint}")
    for field in fields:
        no_default = field.default is dataclasses.MISSING
        if no_default and field.default_factory is dataclasses.MISSING and field.name not in data:
            raise UserError(f"{_where(prefix, path)}: missing key {field.name!r}")
    kwargs = {
        key: _convert(value, hints[key], f"{path}.{key}" if path else key, prefix)
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
            hint = did_you_mean(part, [k for k, v in node.items() if isinstance(v, dict)])
            raise UserError(f"unknown detector config key {'.'.join(parts[: i + 1])!r}{hint}")
        node = node[part]
    if parts[-1] not in node:
        raise UserError(f"unknown detector config key {key!r}{did_you_mean(parts[-1], node)}")
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


def check(ok: bool, message: str) -> None:
    """Raise ``UserError(message)`` unless ``ok`` (the config sections' validation)."""
    if not ok:
        raise UserError(message)


def check_choice(value: str, known: tuple[str, ...], key: str) -> None:
    """Raise ``UserError`` unless ``value`` is one of ``known`` (named by ``key``)."""
    check(value in known, f"unknown {key} {value!r} (known: {', '.join(known)})")
