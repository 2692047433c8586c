"""Checkpoints without pickle: tensors in safetensors, everything else in a JSON sidecar.

A checkpoint ``NAME`` is two files in one folder:

- ``NAME.safetensors``: every tensor, keys prefixed by their owner (``generator.``,
  ``optim.generator.state.3.exp_avg``, ``rng.torch``, ...);
- ``NAME.json``: the sidecar: step, config, optimizer hyper-parameters, scaler state, numpy and
  Python RNG states, data-order state, and the SHA-256 of the tensor file.

Both are written atomically, the sidecar last: a checkpoint exists only once its sidecar does, and
it is complete only if the tensor file's hash matches the sidecar's. ``find_latest`` therefore
never returns a checkpoint cut short by a crash or SIGKILL.

Optimizer state dicts are flattened (tensors -> safetensors, the rest -> JSON) and rebuilt exactly,
so resuming continues bit-for-bit on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch

from .errors import MgpeError
from .io import write_bytes, write_json
from .json_files import Fields, read_json_file, validate

FORMAT = "mgpe-checkpoint"
_NAME = re.compile(r"^step-(\d+)\.json$")


class CheckpointError(MgpeError):
    """A checkpoint or weights file is missing, corrupt, or not what was expected."""


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory: give each its own contiguous CPU copy."""
    out, seen = {}, set()
    for k, t in tensors.items():
        t = t.detach().cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key in seen or not t.is_contiguous() or t.untyped_storage().nbytes() != t.nbytes:
            t = t.clone().contiguous()
        seen.add(key)
        out[k] = t
    return out


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> str:
    """Atomically write a safetensors file; returns its SHA-256."""
    from safetensors.torch import save

    data = save(_unshare(tensors), metadata=metadata)
    write_bytes(path, data, durable=True)
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, streamed: checks a file without holding it (``mgpe models verify``,
    ``find_latest``). The one file-hash function of mgpe."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_hashed(path: str | Path) -> tuple[bytes, str]:
    """(bytes, SHA-256) of a file from one read: a file that is both checked and used is read
    and hashed once, and what is used is exactly what was checked."""
    data = Path(path).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def tensors_from_bytes(data: bytes, source: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of safetensors bytes (never unpickles); ``source`` names the file in errors.
    Pickle files get a clear refusal."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as e:
        if data[:2] == b"PK" or data[:1] == b"\x80":  # torch.save zip / raw pickle
            raise CheckpointError(
                f"{source} looks like a pickle / torch.save file; mgpe loads only .safetensors "
                "weights (unpickling can run arbitrary code). Convert it to safetensors first."
            ) from None
        raise CheckpointError(f"{source} is not a valid safetensors file: {e}") from None


def load_tensors(path: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file (never unpickles), checking its SHA-256 when one is given: one
    read, one hash."""
    path = Path(path)
    try:
        data, sha = read_hashed(path)
    except FileNotFoundError:
        raise CheckpointError(f"weights file not found: {path}") from None
    if expected_sha256 and sha != expected_sha256:
        raise CheckpointError(f"checksum mismatch for {path}: the file is corrupt or was changed")
    return tensors_from_bytes(data, path)


# -- optimizer state flattening ----------------------------------------------------------------


def flatten_optimizer(prefix: str, state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, meta_state = {}, {}
    for idx, entries in state["state"].items():
        meta_state[str(idx)] = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
                meta_state[str(idx)][key] = "tensor"
            else:
                meta_state[str(idx)][key] = value
    return tensors, {"state": meta_state, "param_groups": state["param_groups"]}


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for idx, entries in meta["state"].items():
        state[int(idx)] = {
            key: tensors[f"{prefix}.state.{idx}.{key}"] if value == "tensor" else value
            for key, value in entries.items()
        }
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else dict(g)
              for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# -- whole checkpoints -------------------------------------------------------------------------


def save_checkpoint(folder: str | Path, step: int, tensors: dict[str, torch.Tensor],
                    sidecar: dict[str, Any], keep: int | None = None) -> Path:
    """Write ``step-<step>.safetensors`` then its sidecar; prune to the newest ``keep``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:09d}"
    sha = save_tensors(folder / f"{name}.safetensors", tensors, {"format": FORMAT})
    write_json(folder / f"{name}.json",
               {"format": FORMAT, "step": step, "tensors_sha256": sha, **sidecar}, durable=True)
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            for suffix in (".json", ".safetensors"):  # sidecar first: never a sidecar alone
                old.with_suffix(suffix).unlink(missing_ok=True)
    return folder / f"{name}.json"


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Sidecars in step order (complete or not)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


#: A sidecar's fields and their JSON types (checked on read; other keys are kept).
SIDECAR_SHAPE = Fields({"format": str, "step": int, "tensors_sha256": str, "config": dict},
                       required=("step", "tensors_sha256"))


def read_sidecar(sidecar_path: str | Path) -> dict:
    """A checkpoint's JSON sidecar, checked: CheckpointError naming the file (and the field)
    when it is missing, not JSON, not an mgpe sidecar (``null``, a list, another JSON file) or
    has a field of the wrong type."""
    sidecar_path = Path(sidecar_path)
    meta = read_json_file(sidecar_path, "checkpoint sidecar", error=CheckpointError)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar_path} is not an mgpe checkpoint sidecar")
    return validate(meta, SIDECAR_SHAPE, f"checkpoint sidecar {sidecar_path}", CheckpointError)


def load_checkpoint(sidecar_path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify one checkpoint: (tensors, sidecar)."""
    sidecar_path = Path(sidecar_path)
    if sidecar_path.suffix == ".safetensors":
        sidecar_path = sidecar_path.with_suffix(".json")
    meta = read_sidecar(sidecar_path)
    tensors = load_tensors(sidecar_path.with_suffix(".safetensors"), meta["tensors_sha256"])
    return tensors, meta


def find_latest(folder: str | Path) -> Path | None:
    """Newest checkpoint whose tensor file exists and matches its recorded hash."""
    for sidecar in reversed(list_checkpoints(folder)):
        try:
            meta = json.loads(sidecar.read_text())
            sha = meta.get("tensors_sha256") if isinstance(meta, dict) else None
            if isinstance(sha, str) and \
                    sha256_file(sidecar.with_suffix(".safetensors")) == sha:
                return sidecar
        except (OSError, ValueError, RecursionError):
            continue
    return None


def checkpoint_problem(sidecar: str | Path) -> str | None:
    """Why a listed checkpoint is not complete (None when it is): the reason
    :func:`find_latest` passed it over, in words."""
    sidecar = Path(sidecar)
    try:
        meta = read_sidecar(sidecar)
    except CheckpointError as e:
        return str(e)
    tensors = sidecar.with_suffix(".safetensors")
    try:
        sha = sha256_file(tensors)
    except FileNotFoundError:
        return f"{tensors.name} is missing"
    except OSError as e:
        return f"{tensors.name}: {e.strerror or e}"
    if sha != meta["tensors_sha256"]:
        return f"{tensors.name} does not match its recorded SHA-256 (cut short or changed)"
    return None


#: Temporary files of a checkpoint write (``atomic_write``'s ``.NAME.XXXX.tmp``).
_TEMPORARY = re.compile(r"^\.step-\d+\.(json|safetensors)\..*\.tmp$")


def clean_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files a killed checkpoint write left in ``folder`` (never a
    checkpoint: those are renamed into place complete); returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.iterdir()):
        if _TEMPORARY.match(p.name) and p.is_file():
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed


def summarise(items: list[str], shown: int = 3) -> str:
    """The first ``shown`` items, then ``and N more``."""
    text = "; ".join(items[:shown])
    return text + (f"; and {len(items) - shown} more" if len(items) > shown else "")


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor],
                      what: str) -> None:
    """``module.load_state_dict(state)``, with a short error when the weights do not fit
    (torch's own lists every key and shape: tens of KB for a whole generator): the counts of
    missing, unexpected and reshaped tensors and the first few of them."""
    own = module.state_dict()
    missing = [f"{k} is missing" for k in own if k not in state]
    unexpected = [f"{k} is not in the model" for k in state if k not in own]
    shapes = [f"{k} is {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
              for k, v in own.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = shapes + missing + unexpected
    if not problems:
        try:
            module.load_state_dict(state)
            return
        except RuntimeError as e:
            problems = [line.strip() for line in str(e).strip().splitlines()[1:] or [str(e)]]
    raise CheckpointError(
        f"{what} weights do not fit this run's model config: {len(problems)} mismatch(es) "
        f"({len(shapes)} of another shape, {len(missing)} missing, {len(unexpected)} "
        f"unexpected): {summarise(problems)}")
