"""The one way mgpe reads a ``.pth`` file: ``torch.load(path, map_location="cpu",
weights_only=True)``.

Weights-only loading unpickles only dicts / ``OrderedDict``s, tensors and plain values, so a file
holding anything else (an arbitrary pickled object, which could run code) is refused, never
retried without ``weights_only``. ``map_location="cpu"`` reads tensors saved from a GPU (the
released BiSeNet file) on a machine without CUDA. Legacy (pre-1.6) and zip files are both read.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import ConvertError


def read_state_dict(path: str | os.PathLike) -> dict:
    """{key: CPU tensor} of a ``.pth`` state dict (a plain dict or ``OrderedDict`` of tensors);
    a ``module.`` prefix (DataParallel) is stripped when every key has it. Anything else:
    :class:`ConvertError` naming the file (and the key)."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise ConvertError(f"file not found: {path}")
    if not path.is_file():
        raise ConvertError(f"{path} is not a file")
    import warnings

    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it may not support; a refusal says it better
            warnings.filterwarnings("ignore", message="Detected pickle protocol",
                                    category=UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ConvertError(_refusal(path, str(e))) from None
    except OSError as e:
        raise ConvertError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged file
        detail = str(e).strip().splitlines()[0] if str(e).strip() else "truncated or empty"
        raise ConvertError(f"{path} is not a readable PyTorch file ({type(e).__name__}: "
                           f"{detail})") from None
    if not isinstance(obj, dict):
        raise ConvertError(f"{path} holds a {type(obj).__name__}, not a state dict "
                           "(a dict of tensors)")
    state = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ConvertError(f"{path}: key {key!r} is not a string; not a state dict")
        if not isinstance(value, torch.Tensor):
            raise ConvertError(f"{path}: entry {key!r} is a {type(value).__name__}, not a "
                               "tensor; expected a plain state dict")
        state[key] = value.detach().cpu()
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    if not state:
        raise ConvertError(f"{path} holds an empty state dict")
    return state


def _refusal(path: Path, message: str) -> str:
    """One line for a file weights-only loading refused: what it holds, if torch said."""
    import re

    found = re.search(r"GLOBAL (\S+) was not an allowed global", message)
    if found:
        return (f"{path} holds a pickled object ({found.group(1)}), not only tensors: "
                "weights-only loading refused it, and mgpe never unpickles arbitrary objects "
                "(that could run code), so it will not read this file")
    detail = re.search(r"WeightsUnpickler error: \s*(.+)", message)
    why = detail.group(1).strip() if detail else "unreadable pickle"
    return (f"{path} is not a readable PyTorch file: weights-only loading refused it ({why}); "
            "mgpe never retries without weights-only loading")


def few_keys(keys: list[str]) -> str:
    """The first five keys, and how many more: what an error message names."""
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _fmt(shape) -> str:
    return "x".join(str(s) for s in shape) or "scalar"


def expected_state(module) -> dict[str, tuple[tuple[int, ...], bool]]:
    """{key: (shape, is floating point)} of a module's own state dict: what a release must hold."""
    return {k: (tuple(v.shape), v.is_floating_point()) for k, v in module.state_dict().items()}


def check_state(state: dict, want: dict, source, what: str, fill_suffix: str | None = None
                ) -> dict:
    """``state`` as float32 / int64 tensors after a strict check against ``want``
    (:func:`expected_state`): a missing key, an unexpected key, a wrong shape or a wrong kind of
    dtype stops with a ConvertError naming it (``"SOURCE: WHAT: missing key ..."``). Keys ending
    in ``fill_suffix`` may be absent and are filled with an int64 zero (``num_batches_tracked``,
    which torch 0.4.0 did not write)."""
    import torch

    def optional(key: str) -> bool:
        return fill_suffix is not None and key.endswith(fill_suffix)

    missing = [k for k in want if k not in state and not optional(k)]
    extra = [k for k in state if k not in want]
    if missing:
        raise ConvertError(f"{source}: {what}: missing key{'s' if len(missing) > 1 else ''} "
                           f"{few_keys(missing)}")
    if extra:
        raise ConvertError(f"{source}: {what}: unexpected key{'s' if len(extra) > 1 else ''} "
                           f"{few_keys(extra)}")
    out = {}
    for key, (shape, floating) in want.items():
        if key not in state:
            out[key] = torch.zeros((), dtype=torch.int64)
            continue
        t = state[key]
        if tuple(t.shape) != shape:
            raise ConvertError(f"{source}: key {key} has shape {_fmt(t.shape)}, expected "
                               f"{_fmt(shape)}")
        if t.is_floating_point() != floating or t.is_complex():
            kind = "floating-point" if floating else "integer"
            raise ConvertError(f"{source}: key {key} has dtype {t.dtype}, expected {kind}")
        out[key] = t.to(torch.float32 if floating else torch.int64).contiguous()
    return out
