"""Named training recipes (``mgpe train --preset NAME``): config overrides applied before the
user's own ``--set`` values, so every field can still be changed.

``paper`` is the default config: the paper's widths, for GPUs. ``cpu-small`` is the recipe of
the built-in models (quarter width, 256-d latents, batch 8, frequent checkpoints), which a
laptop CPU trains at 128 px: 2-3 s a step on 2 cores with the architecture's defaults (issue
23's retrain of the built-in models: 2.05 s a step on an idle 2-core machine, fp32; the legacy
architecture took 3-6 s). Its size is the data's:
prepare the data at 128 px for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError, did_you_mean


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    #: ``--set`` assignments, in order
    overrides: tuple[str, ...]


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("paper", "the paper's widths (the default config): for GPUs, 256 or 512 px", ()),
    Preset("cpu-small", "the built-in models' recipe: width 0.25, 256-d latents, batch 8, a "
                        "checkpoint every 250 steps; for CPUs, data at 128 px",
           ("model.width=0.25", "model.latent_dim=256", "train.batch=8",
            "train.sample_every=500", "train.checkpoint_every=250",
            "train.keep_checkpoints=4")),
)}


def preset_overrides(name: str | None) -> list[str]:
    """The ``--set`` assignments of preset ``name`` (None: none)."""
    if name is None:
        return []
    if name not in PRESETS:
        raise UsageError(f"--preset: unknown preset {name!r} (known: {', '.join(PRESETS)})."
                         f"{did_you_mean(name, PRESETS)}")
    return list(PRESETS[name].overrides)


def preset_help() -> str:
    return "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
