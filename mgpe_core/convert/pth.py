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
