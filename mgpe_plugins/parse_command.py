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
@click.option("--schema", default=None,
              help="Label schema of the masks written (celebamask-19, mgpe-11, ...) "
                   "[default: the model's; celebamask-19 for a parser-only model].")
@click.option("--overwrite", is_flag=True,
              help="Replace existing mask files (never an input of the command).")
def parse_command(images, out, model, device, color, schema, overwrite):
    """Parse photos into label maps (id PNGs that name their schema).

    A parser-only model (`mgpe models convert bisenet-face-parsing ...`) parses each whole
    photo at its own resolution (BiSeNet: resized to 512x512) and maps its classes by name.

    \b
    Examples:
      mgpe parse photo.jpg -o photo.mask.png --color
      mgpe parse photo.jpg --model face-parsing --schema celebamask-19 -o photo.mask.png
    """
    from mgpe_core.console import err_console, progress_bar
    from mgpe_core.device import resolve_device
    from mgpe_core.engine import Editor
    from mgpe_core.errors import UsageError
    from mgpe_core.io import read_image, write_image, write_label_map
    from mgpe_core.registry import DEFAULT_MODEL, find_model, load_model
    from mgpe_core.samples import SAMPLE_SPEC, load_sample

    many = len(images) > 1
    if many:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: several masks need a folder, and this is a file")
    elif out.suffix.lower() != ".png":
        raise UsageError(f"--out {out}: masks are PNG files")
    paths = _plan_outputs(images, out, many, color, overwrite)
    from mgpe_core.errors import LabelError
    from mgpe_core.labels import convert, get_schema

    try:
        out_schema = get_schema(schema) if schema is not None else None
    except LabelError as e:
        raise UsageError(f"--schema: {e}") from None
    entry = find_model(model or DEFAULT_MODEL)  # cheap: config.json only
    info = entry.describe()
    if info.get("kind") == "parser":
        _parse_with_parser_only(entry, images, paths, out, many, device,
                                out_schema or get_schema("celebamask-19"))
        return
    if not info["has_parser"]:
        raise UsageError(f"model {entry.name} has no parser: parse needs a model with one "
                         "(`mgpe models list` shows which have)")
    pictures = []
    for spec in images:  # read (and validate) everything before loading or writing anything
        m = SAMPLE_SPEC.match(spec)
        pictures.append(load_sample(int(m.group(1)))[0] if m else read_image(spec))
    dev = resolve_device(device)
    editor = Editor(load_model(entry.path if entry.source == "path" else entry.name,
                               device=dev), device=dev)
    if many:
        out.mkdir(parents=True, exist_ok=True)
    with progress_bar("parsing", len(images)) as advance:
        # one batched pass for all photos, then the writes
        parsed = editor.parse(pictures, batch_size=8, progress=advance)
        for (path, cpath), labels in zip(paths, parsed, strict=True):
            target = out_schema or editor.schema
            labels = convert(labels, editor.schema, target)
            write_label_map(path, labels, target)
            if cpath is not None:
                write_image(cpath, target.colorize(labels))
    err_console.print(f"[green]done[/]: {len(images)} mask(s) -> {out}", highlight=False)


def _plan_outputs(images, out: Path, many: bool, color: bool, overwrite: bool) -> list:
    """(mask path, colour path or None) per image, checked against the output policy
    (``mgpe_core.outputs``: never an input, never two on one path, never an existing file
    without --overwrite) before anything is read, loaded or written."""
    from mgpe_core.outputs import OutputPlan, output_stems

    plan = OutputPlan(overwrite=overwrite)
    plan.read(*images)
    paths = []
    for stem in output_stems(images):
        path = plan.add(out / f"{stem}.mask.png" if many else out, "mask")
        cpath = plan.add(path.with_name(path.stem + ".color.png"), "colour picture") \
            if color else None
        paths.append((path, cpath))
    plan.check()
    return paths


def _parse_with_parser_only(entry, images, paths, out, many, device, out_schema):
    """``mgpe parse`` with a parser-only model: each whole photo through the parser (which
    resizes to its own input size and returns labels at the photo's size), its classes mapped
    by name into ``out_schema``."""
    import torch

    from mgpe_core.console import err_console, progress_bar
    from mgpe_core.device import resolve_device
    from mgpe_core.io import read_image, write_image, write_label_map
    from mgpe_core.labels import convert
    from mgpe_core.registry import load_model_parser
    from mgpe_core.samples import SAMPLE_SPEC, load_sample
    from mgpe_core.tensors import images_to_tensor

    pictures = []
    for spec in images:  # read (and validate) everything before loading or writing anything
        m = SAMPLE_SPEC.match(spec)
        pictures.append(load_sample(int(m.group(1)))[0] if m else read_image(spec))
    dev = resolve_device(device)
    parser, schema = load_model_parser(entry.path if entry.source == "path" else entry.name,
                                       device=dev)
    if many:
        out.mkdir(parents=True, exist_ok=True)
    with progress_bar("parsing", len(images)) as advance:
        for (path, cpath), picture in zip(paths, pictures, strict=True):
            with torch.inference_mode():
                ids = parser.parse(images_to_tensor([picture]).to(dev))[0]
            labels = convert(ids.byte().cpu().numpy(), schema, out_schema)
            write_label_map(path, labels, out_schema)
            if cpath is not None:
                write_image(cpath, out_schema.colorize(labels))
            advance(1)
    err_console.print(f"[green]done[/]: {len(images)} mask(s) -> {out}", highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(parse_command)
