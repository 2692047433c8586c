"""``mgpe fid``: Fréchet Inception Distance between two image folders or statistics files."""

from __future__ import annotations

from pathlib import Path

import click

from mgpe_core import hookimpl
from mgpe_core.outputs import overwrite_option


def _is_stats(path: Path) -> bool:
    return path.suffix.lower() == ".npz"


@click.command("fid")
@click.argument("real", type=click.Path(path_type=Path))
@click.argument("fake", type=click.Path(path_type=Path))
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="FID Inception weights: pt_inception-2015-12-05-6726825d.pth as published "
                   "(read weights-only, never unpickled) or a .safetensors copy [default: "
                   "either, in $MGPE_HOME/weights].")
@click.option("--sha256", default=None, metavar="PREFIX",
              help="Refuse the weights file unless its SHA-256 starts with PREFIX.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per forward pass.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--save-stats", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Also save REAL's statistics to FILE (.npz; REAL must be a folder), to reuse "
                   "as REAL later without recomputing.")
@overwrite_option("statistics file")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
def fid_command(real, fake, weights, sha256, batch, device, save_stats, overwrite, as_json):
    """FID between REAL and FAKE: each a folder of images or an .npz statistics file.

    Features come from the standard FID Inception network (the published weights file as it
    is, read weights-only; nothing is downloaded or unpickled). Folders are read flat;
    *.mask.png files are skipped. FID from fewer than 2048 images per side is biased: compare
    such numbers only at equal counts.

    Example: mgpe fid data/real/ runs/g128/samples/ --save-stats real.npz
    """
    import json
    import math

    from mgpe_core.console import err_console, progress_bar
    from mgpe_core.errors import MgpeError, UsageError
    from mgpe_core.metrics import fid as fidlib

    def say(text: str) -> None:  # diagnostics: stderr, one unwrapped line, no markup
        err_console.print(text, markup=False, soft_wrap=True)

    if save_stats is not None:
        if _is_stats(real):
            raise UsageError("--save-stats needs REAL to be a folder (it is already statistics)")
        if save_stats.suffix.lower() != ".npz":
            raise UsageError(f"--save-stats {save_stats}: statistics files end in .npz")
        if not save_stats.parent.is_dir():
            raise MgpeError(f"cannot write {save_stats}: folder {save_stats.parent} does not "
                            "exist")
        from mgpe_core.outputs import OutputPlan

        plan = OutputPlan(overwrite)  # never REAL / FAKE, never an existing file unasked
        plan.read(real, fake)
        plan.add(save_stats, "--save-stats")
        plan.check()

    # Validate both inputs (cheap) before loading the network or computing anything.
    sides = {}
    for role, path in (("real", real), ("fake", fake)):
        if _is_stats(path):
            sides[role] = fidlib.load_stats(path)
        else:
            sides[role] = fidlib.list_images(path)

    model = None
    if any(isinstance(v, list) for v in sides.values()):
        import torch

        from mgpe_core.metrics.inception import PREPROCESSING, load_inception

        try:
            dev = torch.device(device)
        except RuntimeError as e:
            raise UsageError(f"--device {device!r}: {e}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"--device {device}: CUDA is not available here")
        model = load_inception(weights, device=device, sha256=sha256)
        for role, value in list(sides.items()):
            if isinstance(value, list):
                with progress_bar(f"features ({role})", len(value)) as advance:
                    feats = fidlib.folder_features(value, model, batch=batch, progress=advance)
                mu, sigma = fidlib.statistics(feats)
                sides[role] = fidlib.Stats(mu, sigma, len(value), PREPROCESSING, model.weights_name)
        if save_stats is not None:
            fidlib.save_stats(save_stats, sides["real"])
            say(f"saved REAL's statistics to {save_stats}")

    real_s, fake_s = sides["real"], sides["fake"]
    for a, b, what in ((real_s.preprocessing, fake_s.preprocessing, "preprocessing"),
                       (real_s.weights, fake_s.weights, "weights")):
        if a and b and a != b:
            say(f"warning: REAL and FAKE were computed with different {what} ({a!r} vs "
                f"{b!r}); compare the FID only if they are equivalent")
    counts = [s.count for s in (real_s, fake_s) if s.count is not None]
    if counts and min(counts) < 2048:
        say(f"note: {min(counts)} images on one side (< 2048): FID is biased upwards at small "
            "counts; compare only at equal counts")
    value = fidlib.frechet_distance(real_s.mu, real_s.sigma, fake_s.mu, fake_s.sigma)
    if not math.isfinite(value):
        raise MgpeError("FID is not finite (bad statistics?)")

    def side(s, path):
        return {"count": s.count, "source": str(path),
                "kind": "stats" if _is_stats(path) else "folder",
                "preprocessing": s.preprocessing, "weights": s.weights}

    preprocessing = real_s.preprocessing if real_s.preprocessing == fake_s.preprocessing \
        else (real_s.preprocessing or fake_s.preprocessing)
    weights_name = model.weights_name if model is not None else (real_s.weights or fake_s.weights)
    if as_json:
        click.echo(json.dumps({"fid": value, "real": side(real_s, real),
                               "fake": side(fake_s, fake), "preprocessing": preprocessing,
                               "weights": weights_name}))
        return
    click.echo(f"FID {value:.4f}")
    for role, s, path in (("real", real_s, real), ("fake", fake_s, fake)):
        n = "?" if s.count is None else s.count
        click.echo(f"  {role}: {n} images ({'statistics' if _is_stats(path) else 'folder'} "
                   f"{path})")
    click.echo(f"  preprocessing: {preprocessing or 'unknown'}")
    click.echo(f"  weights: {weights_name or 'unknown'}")


@hookimpl
def register_commands(cli):
    cli.add_command(fid_command)
