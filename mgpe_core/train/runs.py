"""Loading a trained generator straight from a run folder (before it is registered as a model).

``load_run_generator(RUN)`` reads the newest complete checkpoint of ``RUN/checkpoints`` (or a
given sidecar), rebuilds the generator from the config stored in it and loads the EMA weights
(``ema=False``: the raw training weights). Nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import CheckpointError, find_latest, load_checkpoint
from ..model.config import MgpeConfig


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
