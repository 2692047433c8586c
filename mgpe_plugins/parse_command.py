"""``mgpe parse``: face-parsing masks for photos, with a model's U-Net parser."""

from __future__ import annotations

from pathlib import Path

import click

from mgpe_core import hookimpl


@click.command("parse")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path),
              help="Mask file (.png) for one image, or a folder for several.")
@click.option("--model", default=None, help="Model whose parser to use [default: mgpe-synth-128].")
@click.option("--device", default="cpu", show_default=True)
@click.option("--color", is_flag=True, help="Also write a colour picture <out>.color.png.")
def parse_command(images, out, model, device, color):
    """Parse photos into label maps (id PNGs that name their schema).

    Example: mgpe parse photo.jpg -o photo.mask.png --color
    """
    from mgpe_core.console import err_console, progress_bar
    from mgpe_core.device import resolve_device
    from mgpe_core.engine import Editor
    from mgpe_core.errors import UsageError
    from mgpe_core.io import read_image, write_image, write_label_map
    from mgpe_core.operations import _SAMPLE
    from mgpe_core.registry import DEFAULT_MODEL, find_model, load_model
    from mgpe_core.samples import load_sample

    many = len(images) > 1
    if many:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: several masks need a folder, and this is a file")
    elif out.suffix.lower() != ".png":
        raise UsageError(f"--out {out}: masks are PNG files")
    entry = find_model(model or DEFAULT_MODEL)  # cheap: config.json only
    if not entry.describe()["has_parser"]:
        raise UsageError(f"model {entry.name} has no parser: parse needs a model with one "
                         "(`mgpe models list` shows which have)")
    pictures = []
    for spec in images:  # read (and validate) everything before loading or writing anything
        m = _SAMPLE.match(spec)
        pictures.append(load_sample(int(m.group(1)))[0] if m else read_image(spec))
    dev = resolve_device(device)
    editor = Editor(load_model(entry.path if entry.source == "path" else entry.name,
                               device=dev), device=dev)
    if many:
        out.mkdir(parents=True, exist_ok=True)
    with progress_bar("parsing", len(images)) as advance:
        # one batched pass for all photos, then the writes
        parsed = editor.parse(pictures, batch_size=8, progress=advance)
        for spec, labels in zip(images, parsed, strict=True):
            stem = spec.replace(":", "-") if _SAMPLE.match(spec) else Path(spec).stem
            path = out / f"{stem}.mask.png" if many else out
            write_label_map(path, labels, editor.schema)
            if color:
                write_image(path.with_name(path.stem + ".color.png"),
                            editor.schema.colorize(labels))
    err_console.print(f"[green]done[/]: {len(images)} mask(s) -> {out}", highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(parse_command)
