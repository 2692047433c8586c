"""``mgpe align``: a folder of ordinary portrait photos -> a training folder in the CelebAMask-HQ
layout (aligned face crops and part masks), for ``mgpe data prepare`` and ``mgpe train``.

The library part is :mod:`mgpe_core.faces.dataset`; this module parses and checks the options.
Importing it is cheap: numpy, mediapipe and torch are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from mgpe_core import hookimpl
from mgpe_core.outputs import overwrite_option


@click.command("align")
@click.argument("photos", metavar="PHOTOS",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option("--size", "-s", type=click.IntRange(64, 1024), default=256, show_default=True,
              help="Side of the aligned crops (px).")
@click.option("--parser", type=click.Choice(["auto", "model", "landmarks"]), default="auto",
              show_default=True,
              help="What labels the faces: the model's parser (run at the model's resolution, "
                   "labels resized to --size), or the face mesh (landmarks: no weights); auto: "
                   "the model's when it has one.")
@click.option("--model", default=None,
              help="Model whose framing, label schema and parser are used "
                   "[default: mgpe-synth-128].")
@click.option("--framing", default=None,
              help="Where eyes and mouth go in the crop: mgpe-synth or celeba-hq "
                   "[default: the model's].")
@click.option("--face", default="0", show_default=True, metavar="N|all",
              help="Which face of each photo: its index (0 = the largest) or all (one id per "
                   "face).")
@click.option("--format", "image_format", type=click.Choice(["jpg", "png"]), default="jpg",
              show_default=True, help="Format of the crops (CelebA-HQ ships JPEG).")
@click.option("--workers", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Processes finding and aligning faces.")
@click.option("--device", default=None,
              help="Device of the model's parser: cpu, cuda or cuda:<index> [default: cpu].")
@overwrite_option("files")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def align_command(photos, out, size, parser, model, framing, face, image_format, workers,
                  device, overwrite, as_json):
    """Align the faces of the photos in PHOTOS (sub-folders too) into OUT, a training folder in
    the CelebAMask-HQ layout:

    \b
      OUT/CelebA-HQ-img/<k>.jpg       the aligned crops, SIZE x SIZE
      OUT/CelebAMask-HQ-mask-anno/<k//2000>/<k:05d>_<part>.png
                                      part masks (l_eye: the subject's left)
      OUT/align.json                  per id: photo, face, box, score, matrix;
                                      the photos skipped and why

    Ids follow the sorted photo paths. Re-running reuses the photos already done; photos that
    cannot be read or hold no (large enough) face are skipped and listed with the reason.
    Needs the photos extra: pip install 'mgpe[photos]'.

    \b
    Example:
      mgpe align my-photos/ aligned/ --size 256 --face all
      mgpe data prepare aligned/ prepared/ --size 256 --schema mgpe-11
    """
    import json

    from mgpe_core.console import err_console, progress_bar
    from mgpe_core.errors import MgpeError, UsageError
    from mgpe_core.faces.dataset import (
        LANDMARKS,
        MODEL,
        PARSE_BATCH,
        AlignSettings,
        align_folder,
        check_folders,
        check_photos_extra,
    )
    from mgpe_core.faces.framer import parse_face_choice
    from mgpe_core.faces.framing import framing_for, get_framing
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.registry import DEFAULT_MODEL, find_model, parser_reference, read_model_config

    # -- everything that can be refused, before any network or photo is loaded ----------------
    which = parse_face_choice(face)
    entry = find_model(model or DEFAULT_MODEL)  # config.json only
    meta = read_model_config(entry.path)
    has_parser = "parser" in meta.get("weights", {}) or parser_reference(meta) is not None
    schema = MgpeConfig.from_dict(meta["config"]).model.label_schema
    chosen_framing = get_framing(framing) if framing else framing_for(meta)
    if parser == MODEL and not has_parser:
        raise UsageError(f"--parser model: model {entry.name} has no parser; use --parser "
                         "landmarks (the face mesh labels the faces)")
    use = MODEL if parser == MODEL or (parser == "auto" and has_parser) else LANDMARKS
    if use == LANDMARKS and device is not None:
        raise UsageError("--device is for the model's parser; the landmark parser (mediapipe) "
                         "runs on the CPU")
    settings = AlignSettings(size, chosen_framing, schema, parser=use, model=entry.name,
                             face=which, image_format=image_format)
    check_folders(photos, out, settings, overwrite)
    if use == MODEL:
        from mgpe_core.device import resolve_device

        dev = resolve_device(device or "cpu")
    check_photos_extra()
    parse = None
    if use == MODEL:
        from mgpe_core.engine import Editor
        from mgpe_core.registry import load_model

        editor = Editor(load_model(entry.path if entry.source == "path" else entry.name,
                                   device=dev), device=dev)

        def parse(crops):
            return editor.parse(crops, batch_size=PARSE_BATCH)

    # -- the work -----------------------------------------------------------------------------
    with progress_bar("aligning photos", None) as advance:
        summary = align_folder(photos, out, settings, workers=workers, parse=parse,
                               progress=advance, on_total=advance.set_total,
                               overwrite=overwrite)
    skipped = summary["skipped"]
    if as_json:
        click.echo(json.dumps({**summary, "settings": settings.pinned(),
                               "model": entry.name}, indent=2))
    elif skipped:
        err_console.print(f"[yellow]skipped {len(skipped)}:[/]")
        for s in skipped[:20]:
            where = s["photo"] + (f" (face {s['face']})" if "face" in s else "")
            err_console.print(f"  {where}: {s['reason']}", markup=False)
        if len(skipped) > 20:
            err_console.print(f"  ... and {len(skipped) - 20} more (see {out}/align.json)")
    if summary["faces"] == 0:
        raise MgpeError(f"no face aligned from the {summary['photos']} photo(s) in {photos} "
                        f"({out}/align.json lists why each was skipped)")
    if not as_json:
        per = summary["seconds_per_photo"]
        err_console.print(
            f"[green]done[/]: {summary['faces']} face(s) from {summary['photos']} photo(s) in "
            f"{out} ({summary['aligned']} aligned now, {summary['reused']} photo(s) reused, "
            f"{len(skipped)} skipped; labels: {settings.parser_name}) in "
            f"{summary['seconds']:.1f} s" + (f", {per:.2f} s per photo" if per else ""),
            highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(align_command)
