"""Named training recipes (``mgpe train --preset NAME``): config overrides applied before the
user's own ``--set`` values, so every field can still be changed.

``paper`` is the default config: the paper's widths, for GPUs. ``cpu-small`` is the recipe of
the built-in models (quarter width, 256-d latents, batch 8, discriminators of base 32 channels,
frequent checkpoints), which a laptop CPU trains at 128 px: about 1.5-3.5 s a step on 2 cores
with the architecture's defaults (machines differ: ``bench/bench_train.py --sizes 128
--disc-channels 64 32`` read 3.3 s on one, where the paper's 64-channel discriminators took
4.7 s, 1.42x longer; they did about 60% of a step's arithmetic beside a quarter-width
generator). Its size is the data's: prepare the data at 128 px for it.
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
    Preset("cpu-small", "the built-in models' recipe: width 0.25, 256-d latents, batch 8, "
                        "discriminators of base 32, a checkpoint every 250 steps; for CPUs, "
                        "data at 128 px",
           ("model.width=0.25", "model.latent_dim=256", "model.discriminator.base_channels=32",
            "train.batch=8",
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
