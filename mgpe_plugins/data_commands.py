"""``mgpe data``: make, prepare and check datasets (a built-in command plugin).

Importing this module is cheap: numpy, PIL and the data code are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mgpe_core import hookimpl
from mgpe_core.console import err_console, out_console, progress_bar
from mgpe_core.outputs import overwrite_option


@click.group()
def data() -> None:
    """Make, prepare and check portrait datasets.

    \b
    The usual path to a training folder:
      mgpe data synth faces/ --count 2000 --size 256     # or a real CelebAMask-HQ download
      mgpe data prepare faces/ prepared/ --size 128 --schema mgpe-11
      mgpe data check prepared/
    """


def _workers_default() -> int:
    import os

    return max(1, min(8, os.cpu_count() or 1))


@data.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", "-n", type=click.IntRange(1), default=100, show_default=True,
              help="How many faces to render.")
@click.option("--size", "-s", type=click.IntRange(64, 1024), default=256, show_default=True,
              help="Width and height in pixels.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Face k depends only on (seed, k): same seed, byte-identical files.")
@click.option("--workers", "-j", type=click.IntRange(1), default=None,
              help="Processes to render with [default: CPU count, at most 8].")
@click.option("--format", "image_format", type=click.Choice(["jpg", "png"]), default="jpg",
              show_default=True, help="Photo format (CelebA-HQ ships JPEG).")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True,
              help="First face id (to extend an existing folder).")
@click.option("--lipstick", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of faces wearing lipstick: a shade drawn independently of the skin "
                   "tone (without it, lip colour follows the skin). The faces are otherwise "
                   "the same as without.")
@click.option("--preview/--no-preview", default=True, show_default=True,
              help="Write preview.png: the first faces beside their colour-coded masks.")
@overwrite_option("faces")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def synth(out, count, size, seed, workers, image_format, start, lipstick, preview, overwrite,
          as_json):
    """Render procedural portraits with exact labels in the CelebAMask-HQ layout.

    Writes OUT/CelebA-HQ-img/<k>.jpg, OUT/CelebAMask-HQ-mask-anno/<k//2000>/<k:05d>_<part>.png
    and OUT/attributes.jsonl (skin tone, hair colour and style, iris and lip colour, brows, mouth
    state, beard, glasses, earrings, background, pose, lighting: one JSON object per face).

    Example: mgpe data synth faces/ --count 100 --size 256 --seed 0

    With lipstick on half the faces (so that lip colour can be learnt as a style of its own):
    mgpe data synth faces/ --count 6000 --size 128 --lipstick 0.5
    """
    from mgpe_core.outputs import check_folder_output
    from mgpe_core.synth import write_dataset
    from mgpe_core.synth.writer import SETTINGS

    # an earlier `data synth` folder (its synth.json) is extended or re-rendered; any other
    # folder with files only with --overwrite
    check_folder_output(out, SETTINGS, "mgpe data synth", overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    with progress_bar("rendering faces", count) as advance:
        summary = write_dataset(
            out, count=count, size=size, seed=seed, workers=workers or _workers_default(),
            image_format=image_format, start=start, progress=advance, lipstick=lipstick,
        )
    if preview:
        from mgpe_core.io import write_image

        write_image(out / "preview.png", _synth_preview(out, start, min(count, 16)))
        summary["preview"] = str(out / "preview.png")
    _report(summary, as_json, f"wrote {count} faces of {size} px to {out}")


def _synth_preview(out: Path, start: int, n: int):
    """Contact sheet of faces and their merged masks, read back from the written files."""
    from mgpe_core.data.prepare import merge_parts_resized, scan_source
    from mgpe_core.io import read_image
    from mgpe_core.labels import get_schema
    from mgpe_core.pictures import make_grid

    schema = get_schema("celebamask-19")
    items = {it.id: it for it in scan_source(out)}
    tiles = []
    for k in range(start, start + n):
        it = items[k]
        rgb = read_image(it.image)
        tiles += [rgb, schema.colorize(merge_parts_resized(it.parts, rgb.shape[0]))]
    return make_grid(tiles, ncol=8)


@data.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--size", "-s", type=click.IntRange(8, 2048), default=256, show_default=True,
              help="Output resolution (images antialiased, labels nearest).")
@click.option("--schema", default="celebamask-19", show_default=True,
              help="Label schema of the output: celebamask-19, mgpe-11, mgpe-12-glasses or "
                   "mgpe-13 (+ neck).")
@click.option("--workers", "-j", type=click.IntRange(1), default=None,
              help="Processes [default: CPU count, at most 8].")
@click.option("--format", "image_format", type=click.Choice(["png", "jpg"]), default="png",
              show_default=True, help="Image format of the prepared photos.")
@overwrite_option("files")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def prepare(root, out, size, schema, workers, image_format, overwrite, as_json):
    """Turn a CelebAMask-HQ folder into a training folder (images, labels, splits, manifest).

    Re-running skips faces already done and verified; corrupt or missing files are listed in the
    summary and never stop the run. Split: ids < 28000 train, the rest test (smaller sets: the
    highest 1/15 of ids are the test split).

    Example: mgpe data prepare CelebAMask-HQ/ prepared256/ --size 256 --schema mgpe-11
    """
    from mgpe_core.data.prepare import prepare_dataset
    from mgpe_core.errors import LabelError, UsageError
    from mgpe_core.labels import get_schema

    try:
        get_schema(schema)  # fail before any work on a mistyped schema
    except LabelError as e:  # an option value, like an unknown model: a usage error
        raise UsageError(f"--schema: {e}") from None
    from mgpe_core.outputs import check_folder_output

    # an earlier prepared folder (its manifest.json) is resumed; never OUT inside ROOT or ROOT
    # inside OUT; another folder with files only with --overwrite
    check_folder_output(out, "manifest.json", "mgpe data prepare", overwrite=overwrite,
                        reads=[root])
    with progress_bar("preparing faces", None) as advance:
        summary = prepare_dataset(
            root, out, size=size, schema=schema, workers=workers or _workers_default(),
            image_suffix="." + image_format, progress=advance,
            on_total=advance.set_total,
        )
    skipped = summary["skipped"]
    if skipped and not as_json:
        err_console.print(f"[yellow]skipped {len(skipped)} face(s):[/]")
        for k, why in list(skipped.items())[:20]:
            err_console.print(f"  {k}: {why}", markup=False)
        if len(skipped) > 20:
            err_console.print(f"  ... and {len(skipped) - 20} more (see {out}/manifest.json)")
    _report(
        summary, as_json,
        f"prepared {summary['prepared']} of {summary['faces']} faces into {out} "
        f"(train {summary['splits']['train']}, test {summary['splits']['test']}; "
        f"{summary['reused']} reused)",
    )


@data.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def check(root, as_json):
    """Validate a prepared folder and show class statistics.

    Checks every pair (files present and readable, sizes, label ids within the schema, splits);
    exits 1 when anything is wrong.

    Example: mgpe data check prepared/
    """
    from mgpe_core.data.check import check_prepared
    from mgpe_core.data.prepared import PreparedFolder

    n = sum(len(PreparedFolder(root).ids(s)) for s in ("train", "test"))
    with progress_bar("checking", n) as advance:
        report = check_prepared(root, progress=advance)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from rich.table import Table

        table = Table(title=f"{root}: schema {report['schema']}, {report['size']} px, "
                            f"train {report['faces']['train']}, test {report['faces']['test']}")
        for col in ("id", "class", "pixels %", "faces"):
            table.add_column(col, justify="right" if col != "class" else "left")
        for c in report["classes"]:
            table.add_row(str(c["id"]), c["name"], f"{100 * c['pixel_fraction']:.2f}",
                          str(c["faces"]))
        out_console.print(table)
        for kind, p in report["problems"].items():
            err_console.print(f"[red]{kind}: {p['count']}[/]")
            for ex in p["examples"]:
                err_console.print(f"  {ex}", markup=False)
        if report["ok"]:
            err_console.print("[green]ok[/]: no problems found")
    if not report["ok"]:
        from mgpe_core.errors import DatasetError

        found = ", ".join(f"{kind} ({p['count']})" for kind, p in report["problems"].items())
        raise DatasetError(f"{root} has problems: {found}")


def _report(summary: dict, as_json: bool, line: str) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        err_console.print(f"[green]done[/]: {line} in {summary.get('seconds', 0):.1f} s",
                          highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(data)
