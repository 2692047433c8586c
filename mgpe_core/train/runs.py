"""The run folder of ``mgpe train``: its ``run.json``, its checkpoints, its generator.

``run.json`` records how a run was started (data, parser, device, processes, parameter counts,
and for a fine-tune what it started from); ``write_run_info`` / ``read_run_info`` are the only
code that writes and reads it (``mgpe train``, ``registry.import_run``,
``tools/build_builtin_model.py``), so its format has one home and a malformed file is refused
with its name.

``load_run_generator(RUN)`` reads the newest complete checkpoint of ``RUN/checkpoints`` (or a
given sidecar), rebuilds the generator from the config stored in it and loads the EMA weights
(``ema=False``: the raw training weights). Nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import CheckpointError, find_latest, load_checkpoint
from ..errors import MgpeError
from ..io import write_json
from ..json_files import read_json_file
from ..model.config import MgpeConfig

RUN_INFO = "run.json"
#: The keys run.json may hold and their JSON types (every key optional: runs of older
#: versions recorded fewer; unknown keys are kept, for newer ones).
RUN_INFO_KEYS = {"data": str, "parser": str, "device": str, "init_from": str,
                 "world_size": int, "pid": int, "parameters": dict}


class RunInfoError(MgpeError):
    """A run folder's run.json is unreadable or malformed."""


def _check_run_info(info, where: str) -> dict:
    """``info`` itself when it is a JSON object whose known keys have their types."""
    if not isinstance(info, dict):
        raise RunInfoError(f"{where} is malformed: expected a JSON object, got "
                           f"{type(info).__name__}")
    for key, kind in RUN_INFO_KEYS.items():
        value = info.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise RunInfoError(f"{where} is malformed: {key!r} should be a {kind.__name__}, "
                               f"not {value!r}")
    counts = info.get("parameters") or {}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
        raise RunInfoError(f"{where} is malformed: 'parameters' should map names to counts")
    return info


def write_run_info(run_dir: str | Path, info: dict) -> Path:
    """Write ``RUN/run.json`` atomically. Paths are recorded absolute (``data``, and ``parser``
    when it is a path rather than a model name) so that the record means the same thing from
    any working directory."""
    run_dir = Path(run_dir)
    info = dict(info)
    for key in ("data", "parser"):
        if info.get(key) is not None and Path(info[key]).exists():
            info[key] = str(Path(info[key]).resolve())
        elif info.get(key) is not None:
            info[key] = str(info[key])
    _check_run_info(info, f"run info for {run_dir / RUN_INFO}")
    write_json(run_dir / RUN_INFO, info)
    return run_dir / RUN_INFO


def read_run_info(run_dir: str | Path) -> dict:
    """``RUN/run.json`` checked (RunInfoError naming the file when it is not valid JSON or a
    key has the wrong type); ``{}`` for a run without one. A parser path that older versions
    recorded as typed (relative to where training ran, usually the run's parent folder) is
    made absolute when that is where it is; a model name stays a name."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_INFO
    if not path.exists():
        return {}
    info = read_json_file(path, "run record", error=RunInfoError)
    info = _check_run_info(info, str(path))
    parser = info.get("parser")
    if parser and not Path(parser).is_absolute() and not Path(parser).exists() and \
            (run_dir.resolve().parent / parser).exists():
        info["parser"] = str(run_dir.resolve().parent / parser)
    return info


def resolve_checkpoint(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        found = find_latest(path / "checkpoints") if (path / "checkpoints").is_dir() else \
            find_latest(path)
        if found is None:
            raise CheckpointError(f"no complete checkpoint in {path}")
        return found
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_run_generator(path: str | Path, ema: bool = True, device="cpu"):
    """(generator in eval mode, MgpeConfig, checkpoint step)."""
    from ..model.build import build_generator

    sidecar = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(sidecar)
    cfg = MgpeConfig.from_dict(meta["config"])
    prefix = "ema." if ema else "generator."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not state:
        raise CheckpointError(f"{sidecar} holds no {prefix[:-1]} weights")
    gen = build_generator(cfg.model)
    try:
        gen.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{sidecar}: weights do not fit the stored config: {e}") from None
    return gen.eval().to(device), cfg, meta["step"]


def portable_name(path_or_name: str | Path) -> str:
    """How a recipe names a folder it used: its name, not the machine's absolute path (a
    model or parser name stays as it is), so that a shipped recipe reads the same anywhere."""
    text = str(path_or_name)
    return Path(text).name if Path(text).exists() or "/" in text or "\\" in text else text
