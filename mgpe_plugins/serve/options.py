"""Operations' click options as the page needs them, and JSON option values back to the
command line that :func:`mgpe_core.operations.parse_options` parses: the page builds its
controls from what operations declare, as ``mgpe edit`` builds its sub-commands, and a value
means exactly what it means on the command line (click's own checks and messages).

Which options take pictures is decided from the declaration alone (nothing is added to the
core): an option whose ``metavar`` (without a trailing ``...``) is one of :data:`PICTURE_METAVARS`
is ``photo``, or ``photos`` when ``multiple``."""

from __future__ import annotations

import click

from mgpe_core.errors import UsageError, did_you_mean

#: Metavars that name a picture source (a photo, a reference, a style source, a mask).
PICTURE_METAVARS = frozenset({"REF", "SRC", "IMAGE", "PHOTO", "MASK", "NEW"})


def option_kind(param: click.Parameter) -> str:
    """flag, choice, int, float, photo, photos or text (see the module doc)."""
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    metavar = (param.metavar or "").upper().removesuffix("...").strip()
    if metavar in PICTURE_METAVARS:
        return "photos" if getattr(param, "multiple", False) else "photo"
    t = param.type
    if isinstance(t, click.Choice):
        return "choice"
    if isinstance(t, (click.types.IntParamType, click.IntRange)):
        return "int"
    if isinstance(t, (click.types.FloatParamType, click.FloatRange)):
        return "float"
    return "text"


def _jsonable(value):
    """A default as JSON; anything else (click's "no default" marker, an object) is null."""
    if isinstance(value, (tuple, list)):
        items = [_jsonable(v) for v in value]
        return None if any(v is None for v in items) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return None


def describe_option(param: click.Parameter) -> dict:
    flag = max(param.opts, key=len) if getattr(param, "opts", None) else param.name
    default = param.default
    if callable(default):
        default = None
    choices = list(param.type.choices) if isinstance(param.type, click.Choice) else None
    return {"name": param.name, "flag": flag, "kind": option_kind(param), "choices": choices,
            "default": _jsonable(default), "help": getattr(param, "help", None) or "",
            "required": bool(param.required), "multiple": bool(getattr(param, "multiple", False))}


def describe_operation(op) -> dict:
    """The operation for ``/api/info``; an ``options()`` that fails lists it with ``error``."""
    from mgpe_core.operations import operation_options
    from mgpe_core.plugins import PluginError

    out = {"name": op.name, "summary": op.summary, "example": op.example,
           "input_kind": op.input_kind}
    try:
        out["options"] = [describe_option(p) for p in operation_options(op)]
    except PluginError as e:
        out["options"] = []
        out["error"] = str(e)
    return out


def to_args(op, options: dict) -> list[str]:
    """Command-line arguments for JSON ``options`` (click parameter names -> values): a flag
    is given when true, a ``multiple`` option once per list item. Unknown names: UsageError
    with a did-you-mean."""
    if not isinstance(options, dict):
        raise UsageError("options must be a JSON object of option names and values")
    from mgpe_core.operations import operation_options

    params = {p.name: p for p in operation_options(op) if isinstance(p, click.Option)}
    args: list[str] = []
    for name, value in options.items():
        param = params.get(name)
        if param is None:
            raise UsageError(f"{op.name} has no option {name!r}; its options: "
                             f"{', '.join(params) or 'none'}.{did_you_mean(name, params)}")
        flag = max(param.opts, key=len)
        if value is None:
            continue
        if param.is_flag:
            if not isinstance(value, bool):
                raise UsageError(f"{op.name} {flag}: a flag takes true or false, got {value!r}")
            if value:
                args.append(flag)
            continue
        values = value if isinstance(value, list) else [value]
        if len(values) > 1 and not param.multiple:
            raise UsageError(f"{op.name} {flag} takes one value, got {len(values)}")
        for v in values:
            if isinstance(v, (dict, list)) or isinstance(v, bool):
                raise UsageError(f"{op.name} {flag}: expected a number or text, got {v!r}")
            # --flag=value: a value that starts with "-" is never read as another option
            args += [f"{flag}={v}"] if flag.startswith("--") else [flag, str(v)]
    return args


def photo_values(op, params: dict) -> dict[str, list[str]]:
    """Option name -> the picture specs it names (``photo``/``photos`` options), for replay."""
    from mgpe_core.operations import operation_options

    out = {}
    for p in operation_options(op):
        if isinstance(p, click.Option) and option_kind(p) in ("photo", "photos"):
            value = params.get(p.name)
            if value:
                out[p.name] = list(value) if isinstance(value, (list, tuple)) else [value]
    return out
