"""Reading a JSON file and checking its shape: the one way mgpe reads the JSON files it did not
just write (manifests, checkpoint sidecars, run records, settings).

Why one module: a JSON file edited by hand, cut short by a crash or written by another program
can hold anything (``null``, a list, a string where a number belongs); every reader must refuse
it with one message naming the file and the field (``FILE: FIELD: expected ..., got ...``),
never fail later with a ``TypeError`` far from the cause. The type rules are the typed-config
layer's (:mod:`mgpe_core.typed_config`): configs and every other JSON file are checked alike.

A shape is a type annotation (``dict[str, int]``, ``list[str]``, ``str | None``, a dataclass: see
``typed_config``) or :class:`Fields`: a JSON object with known keys of known types, some required,
other keys kept (files written by newer versions stay readable).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MgpeError
from .typed_config import ConfigError, _show, check_value


@dataclass(frozen=True)
class Fields:
    """A JSON object whose keys ``types`` names have those types (``key: None`` is allowed only
    where the type says ``| None``); keys in ``required`` must be present; other keys are kept
    as they are."""

    types: dict[str, Any]
    required: tuple[str, ...] = field(default=())


def check_shape(value: Any, shape: Any, path: str = "") -> Any:
    """``value`` checked against ``shape`` (ConfigError naming the field path otherwise); the
    value with numbers of float fields made floats."""
    if isinstance(shape, Fields):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected an object, got {_show(value)}")
        out = dict(value)
        for key in shape.required:
            if key not in value:
                raise ConfigError(f"{_join(path, key)}: missing (a required field)")
        for key, tp in shape.types.items():
            if key in value:
                out[key] = check_shape(value[key], tp, _join(path, key))
        return out
    return check_value(value, shape, path)


def validate(value: Any, shape: Any, where: str, error: type[MgpeError] = MgpeError) -> Any:
    """``check_shape`` whose error names ``where`` (the file) first: ``where: FIELD: ...``."""
    try:
        return check_shape(value, shape)
    except ConfigError as e:
        msg = str(e)
        raise error(f"{where}{msg}" if msg.startswith(": ") else f"{where}: {msg}") from None


def read_json_file(path: str | os.PathLike, what: str = "JSON file", shape: Any = None,
                   error: type[MgpeError] = MgpeError) -> Any:
    """The JSON value of ``path``, checked against ``shape`` when one is given. Every failure is
    one ``error`` naming ``what`` and the file: missing, unreadable, not JSON, wrong shape."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    return parse_json(data, what, path, shape, error)


def parse_json(data: bytes, what: str, path, shape: Any = None,
               error: type[MgpeError] = MgpeError) -> Any:
    """:func:`read_json_file` for bytes already read (a file hashed as it was read)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise error(f"{what} {path} is not valid JSON: {e}") from None
    if shape is None:
        return value
    return validate(value, shape, f"{what} {path}", error)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


__all__ = ["Fields", "check_shape", "validate", "read_json_file"]
