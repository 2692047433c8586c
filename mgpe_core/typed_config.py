"""Strict JSON <-> dataclass conversion for configs (model, training, runs).

Why: configs are stored with every checkpoint and model and edited by hand; a misspelt key or a
string where a number belongs must fail loudly with the key's full path, never be ignored.
Supported field types: bool, int, float, str, ``Literal[...]``, ``tuple[T, ...]`` /
``tuple[A, B]``, ``dict[str, T]``, ``T | None`` and nested dataclasses. No torch here.
"""

from __future__ import annotations

import contextvars
import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import MgpeError, close_matches


class ConfigError(MgpeError):
    """A config value or key is wrong; the message names the key path."""


def to_dict(obj) -> dict:
    """Dataclass -> plain JSON-able dict (tuples become lists)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(obj)


def _show(value) -> str:
    """A value in an error message: Python's repr, ``null`` for None, long ones shortened."""
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_value(value: Any, tp, path: str = ""):
    """``value`` (a parsed JSON value) checked against the type ``tp``; ConfigError naming
    ``path`` (the field) otherwise. The rule every JSON file mgpe reads is checked by
    (:mod:`mgpe_core.json_files`)."""
    return _convert(value, tp, path)


def _convert(value: Any, tp, path: str):
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return value
    if tp is dict or tp is list:
        kind = "an object" if tp is dict else "a list"
        if not isinstance(value, tp):
            raise ConfigError(f"{path}: expected {kind}, got {_show(value)}")
        return value
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, path)
            except ConfigError as e:
                errors.append(str(e))
        if len(errors) == 1:
            raise ConfigError(errors[0])
        names = " or ".join(_type_name(a) for a in args if a is not type(None))
        raise ConfigError(f"{path}: expected {names}, got {_show(value)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in
                     enumerate(zip(value, args, strict=True)))
    if origin is dict:
        _, vt = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected an object, got {_show(value)}")
        return {str(k): _convert(v, vt, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {_show(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {_show(value)}")
        return value
    raise ConfigError(f"{path}: unsupported config type {_type_name(tp)}")


#: Whether :func:`from_dict` applies ``__legacy_defaults__`` (see there): True for configs mgpe
#: recorded (model folders, checkpoints, run folders), False for a config a person writes now.
_RECORDED = contextvars.ContextVar("mgpe_recorded_config", default=True)


def from_dict(cls, data: dict, path: str = "", *, recorded: bool | None = None):
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError.

    Missing keys take the dataclass defaults, so old files keep loading when fields are added,
    except the keys ``cls`` lists in ``__legacy_defaults__`` (a class-level ``{field: value}``):
    a *missing* such key takes that value instead. That is how a new default (e.g. a cheaper
    layer) can apply to new configs while a file written before the field existed keeps
    building exactly the network it was trained with: :func:`to_dict` writes every field, so
    every file written since names the choice explicitly.

    ``recorded=False``: a config a person writes now (``mgpe train --config``): a missing key
    means today's default, legacy defaults do not apply (nested sections included).
    """
    if recorded is not None:
        token = _RECORDED.set(recorded)
        try:
            return from_dict(cls, data, path)
        finally:
            _RECORDED.reset(token)
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: expected an object, got {_show(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = path or cls.__name__
        hints_txt = []
        for k in unknown:
            close = close_matches(k, fields, cutoff=0.6, n=1)
            hints_txt.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{where}: unknown key(s) {', '.join(hints_txt)}")
    kwargs = {k: _convert(v, hints[k], f"{path}.{k}" if path else k) for k, v in data.items()}
    if _RECORDED.get():
        for k, v in legacy_defaults(cls).items():
            kwargs.setdefault(k, v)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path or cls.__name__}: {e}") from None


def legacy_defaults(cls) -> dict[str, Any]:
    """``cls.__legacy_defaults__`` checked against its fields (a typo there must not pass
    silently): the values a missing key takes in :func:`from_dict`."""
    legacy = getattr(cls, "__legacy_defaults__", None) or {}
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    bad = sorted(set(legacy) - names)
    if bad:
        raise TypeError(f"{cls.__name__}.__legacy_defaults__ names unknown field(s) {bad}")
    return dict(legacy)


def apply_overrides(obj, assignments: list[str]):
    """Apply ``key.sub=value`` strings (values parsed as JSON, else taken as strings)."""
    import json

    data = to_dict(obj)
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"--set {key}: {p!r} is not a config section")
            node = node[p]
        if parts[-1] not in node:
            close = close_matches(parts[-1], node, cutoff=0.6, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"--set {key}: unknown key {parts[-1]!r}{hint}")
        node[parts[-1]] = value
    return from_dict(type(obj), data)


__all__ = ["ConfigError", "to_dict", "from_dict", "apply_overrides", "check_value",
           "legacy_defaults"]
