"""``mgpe demo``: every operation on the built-in samples, as figures like the seed's.

Each operation declares its demo rows (``Operation.demo_cases``), so a plugin's operation is
shown beside the built-in ones. Rows run through the same code as ``mgpe edit``
(``op.prepare`` with options parsed by the operation's own click options -> engine), with the
default model (and its eye-mask variant when the registry knows one), and the command writes
one picture per figure plus an ``index.html`` with captions.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import click

from mgpe_core import hookimpl
from mgpe_core.outputs import overwrite_option

#: The model variant the last figure compares with (when the model declares it).
EYE_MASK = "eye-mask"

#: Figures in order: stem -> (title, caption). Rows come from the operations' own demo cases
#: (``Operation.demo_cases``); a case naming another figure gets a figure of its own.
FIGURES = {
    "mask_to_face": ("Mask-to-face synthesis",
                     "One target mask (sample 2), six style sources: different faces that all "
                     "follow the mask."),
    "component_edits": ("Component editing",
                        "Each row: the photo, its edited mask, the result, and the edited "
                        "window before (top) and after (bottom), magnified. Styles stay the "
                        "photo's own."),
    "style_transfer": ("Per-region style transfer",
                       "Each row: the photo, the style source, the result with that region's "
                       "style, and the restyled window before (top) and after (bottom), "
                       "magnified."),
}


def collect_rows(skipped: list[str] | None = None) -> dict[str, list]:
    """{figure: [(operation, DemoCase), ...]} from every registered operation, in registration
    order (built-ins first, then plugins); known figures first. An operation whose
    ``demo_cases()`` fails is left out, with the reason appended to ``skipped``."""
    from mgpe_core.plugins import load_plugins

    figures: dict[str, list] = {stem: [] for stem in FIGURES}
    for op in load_plugins().operations.values():
        try:
            cases = list(op.demo_cases())
        except Exception as e:  # one plugin's declaration must not stop the demo
            if skipped is not None:
                skipped.append(f"{op.name}: demo_cases() failed: {type(e).__name__}: {e}")
            continue
        for case in cases:
            figures.setdefault(case.figure, []).append((op, case))
    return {stem: rows for stem, rows in figures.items() if rows}


def _run_rows(editor, ctx, rows, skipped: list[str] | None = None):
    """(captions, tiles) per row: a mask input shows its photo, the mask and every result; an
    edit that restyles from another photo shows that photo; one that changes the mask shows the
    edited mask. With ``skipped``, a row whose operation fails (a plugin's ``options()`` or
    ``prepare()`` raising) is left out, the reason appended; without, the failure propagates."""
    size = max(128, editor.resolution)  # room for captions under small models' tiles
    out_rows = []
    for op, case in rows:
        try:
            out_rows.append(_run_row(editor, ctx, op, case, size))
        except (Exception, SystemExit) as e:  # one operation must not stop the demo
            if skipped is None:
                raise
            from mgpe_core.plugins import fault_text

            skipped.append(f"{op.name}: {case.label or case.figure}: {fault_text(e)}")
    return out_rows


def _run_row(editor, ctx, op, case, size):
    """One figure row (see :func:`_run_rows`)."""
    from mgpe_core.operations import parse_options
    from mgpe_core.pictures import fit_square

    tgt = case.target if op.input_kind == "mask" else ctx.portrait(case.target)
    requests = op.prepare(ctx, tgt, **parse_options(op, case.args))
    results = editor.edit(requests, batch_size=8)
    label = case.label or op.name
    if op.input_kind == "mask":
        photo = ctx.portrait(case.target)
        tiles = [photo.image, editor.schema.colorize(results[0].mask)]
        tiles += [r.image for r in results]
        caps = ["target", "target mask"] + [
            f"style {_style_source(req).name}" if _style_source(req) else label
            for req in requests]
    else:
        from mgpe_core.engine import edit_region

        if requests[0].mask is None and _style_source(requests[0]) is not None:
            tiles = [tgt.image, _style_source(requests[0]).image, results[0].image]
            caps = ["photo", f"{label} from", label]
        else:
            tiles = [tgt.image, editor.schema.colorize(results[0].mask), results[0].image]
            caps = ["photo", "edited mask", label]
        tiles = [fit_square(t, size) for t in tiles]
        close = close_up(tgt.image, results[0].image,
                         edit_region(requests[0], editor.schema), size)
        if close is not None:
            tiles.append(close)
            caps.append("before / after, 2x+")
        return caps, tiles
    return caps, [fit_square(t, size) for t in tiles]


def close_up(before, after, region, size: int):
    """A size x size tile: the same window of ``before`` (top) and ``after`` (bottom), each
    size x size/2, at least twice the scale of the whole-picture tiles (nearest-neighbour:
    the pixels as they are, so a texture's grid or a seam shows as a reviewer zooming in
    sees it). The window (2:1, at most half the picture wide) is placed where it covers the
    most of ``region`` (the pixels the edit may change). None when the region is empty."""
    import numpy as np
    from PIL import Image

    if before.shape != after.shape:  # a photo and the model's square of it: compare at the
        # model's resolution (the demo's targets are square samples)
        hw = after.shape[1], after.shape[0]
        before = np.asarray(Image.fromarray(before).resize(hw, Image.Resampling.LANCZOS))
        region = np.asarray(Image.fromarray(region.astype(np.uint8) * 255)
                            .resize(hw, Image.Resampling.NEAREST)) > 0
    h, w = region.shape
    if not region.any():
        return None
    ys, xs = np.nonzero(region)
    box_w = max(xs.max() - xs.min() + 1, 2 * (ys.max() - ys.min() + 1))
    cw = int(min(max(box_w * 1.3, 32), w // 2, 2 * h))
    ch = max(cw // 2, 1)
    # the window position covering the most region pixels (summed-area table)
    sat = np.pad(region.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    cover = sat[ch:, cw:] - sat[:-ch, cw:] - sat[ch:, :-cw] + sat[:-ch, :-cw]
    # among equal covers, the one nearest the region's centre
    cy, cx = ys.mean() - ch / 2, xs.mean() - cw / 2
    yy, xx = np.mgrid[:cover.shape[0], :cover.shape[1]]
    score = cover * 1e6 - ((yy - cy) ** 2 + (xx - cx) ** 2)
    y0, x0 = np.unravel_index(int(np.argmax(score)), score.shape)
    strips = [np.asarray(Image.fromarray(np.ascontiguousarray(im[y0:y0 + ch, x0:x0 + cw]))
                         .resize((size, size // 2), Image.Resampling.NEAREST))
              for im in (before, after)]
    tile = np.full((size, size, 3), 255, np.uint8)
    tile[:size // 2] = strips[0]
    tile[size - size // 2:] = strips[1]
    return tile


def _style_source(request):
    """The first portrait other than the target that lends the request a style, or None."""
    return next((p for p in request.styles.values() if p is not request.target), None)


def _figure(rows):
    from mgpe_core.pictures import make_grid

    ncol = max(len(t) for _, t in rows)
    tiles, caps = [], []
    blank = None
    for c, t in rows:
        if blank is None:
            import numpy as np

            blank = np.full_like(t[0], 255)
        tiles += t + [blank] * (ncol - len(t))
        caps += c + [""] * (ncol - len(c))
    return make_grid(tiles, ncol=ncol, captions=caps)


#: The demo folder's record: a folder holding it is an earlier demo, whose pictures a new run
#: replaces; any other folder with files is written into only with --overwrite.
RECORD = "demo.json"


def run_demo(out: Path, model_name: str | None, device: str, progress=None,
             overwrite: bool = False) -> dict:
    from mgpe_core.engine import Editor
    from mgpe_core.errors import MgpeError
    from mgpe_core.io import write_bytes, write_image, write_json
    from mgpe_core.operations import DemoCase, OpContext
    from mgpe_core.outputs import check_folder_output
    from mgpe_core.plugins import get_operation
    from mgpe_core.registry import DEFAULT_MODEL, find_model, load_model, model_variants

    check_folder_output(out, RECORD, "mgpe demo", overwrite=overwrite, option="--out")
    t0 = time.perf_counter()
    name = model_name or DEFAULT_MODEL
    skipped: list[str] = []
    figures = collect_rows(skipped)
    editor = Editor(load_model(name, device=device), device=device)
    out.mkdir(parents=True, exist_ok=True)  # only once the model loaded: a refusal leaves nothing
    ctx = OpContext(editor.schema, editor.model.config,
                    parse=editor.parse if editor.parser else None)
    written, shown = [], {}
    for stem, rows in figures.items():
        title, caption = FIGURES.get(stem, (stem.replace("_", " ").capitalize(), ""))
        done = _run_rows(editor, ctx, rows, skipped)
        if not done:
            continue
        write_image(out / f"{stem}.png", _figure(done))
        written.append((stem, title, caption))
        shown[stem] = [f"{op.name}: {case.label}" for op, case in rows]
        if progress:
            progress()
    variant = None
    if model_variants(name).get(EYE_MASK) not in (None, editor.model.name):
        try:
            variant = find_model(name, variant=EYE_MASK)
        except MgpeError as e:  # declared, but not installed
            skipped.append(f"eye_mask_variant: {e}")
    if variant is not None:
        eye_editor = Editor(load_model(variant.path if variant.source == "path"
                                       else variant.name, device=device), device=device)
        eye_ctx = OpContext(eye_editor.schema, eye_editor.model.config)
        style = get_operation("style")
        # As the seed's Figure 15: restyle the skin, keep the photo's eyes. The original's eye
        # windows carry the photo's skin around the eyes along; the variant's do not.
        fig_rows = []
        for photo, source in (("sample:2", "sample:4"), ("sample:7", "sample:1")):
            def skin(regions, ed, cx, photo=photo, source=source):
                case = DemoCase("eye_mask_variant", photo,
                                ("--from", source, "--regions", regions), regions)
                return _run_rows(ed, cx, [(style, case)])[0][1]

            orig = skin("skin", editor, ctx)
            fig_rows.append((["photo", "skin style from", "original: skin",
                              "eye-mask: skin", "original: skin+eyes"],
                             orig + [skin("skin", eye_editor, eye_ctx)[2],
                                     skin("skin,eyes", editor, ctx)[2]]))
        fig = _figure(fig_rows)
        write_image(out / "eye_mask_variant.png", fig)
        written.append(("eye_mask_variant", "Original vs eye-mask variant",
                        f"{name} vs {variant.name}, as the paper's Figure 15: the skin takes "
                        "another face's style while the eyes stay the photo's. The original's "
                        "eye windows bring the photo's skin around the eyes with them; the "
                        "eye-mask variant feeds only eye pixels to the eye encoders, so the skin "
                        "tone stays even. Last column: the original with the eyes restyled too."))
    if progress:
        progress()
    seconds = time.perf_counter() - t0
    body = "\n".join(
        f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>"
        f'<img src="{stem}.png" alt="{html.escape(title)}">' for stem, title, caption in written)
    page = (f"<!doctype html><meta charset=utf-8><title>mgpe demo</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "img{max-width:100%;image-rendering:pixelated}</style>"
            f"<h1>mgpe demo</h1><p>Model <b>{html.escape(editor.model.name)}</b> "
            f"({editor.resolution} px), built-in samples, {seconds:.1f} s.</p>{body}\n")
    write_bytes(out / "index.html", page.encode())
    summary = {"out": str(out), "model": editor.model.name, "seconds": round(seconds, 2),
               "figures": [f"{s}.png" for s, _, _ in written], "rows": shown,
               "skipped": skipped}
    write_json(out / RECORD, {k: v for k, v in summary.items() if k != "out"})
    return summary


@click.command("demo")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mgpe-demo"), show_default=True, help="Folder for the pictures.")
@click.option("--model", default=None, help="Model [default: mgpe-synth-128].")
@click.option("--device", default="cpu", show_default=True)
@overwrite_option("pictures")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def demo_command(out, model, device, overwrite, as_json):
    """Run every operation on the built-in samples and write figures + index.html.

    Running it again into its own folder (one with demo.json) replaces the pictures; another
    folder with files in it needs --overwrite.

    Example: mgpe demo -o demo/
    """
    import json

    from mgpe_core.console import err_console, progress_bar

    with progress_bar("demo figures", len(collect_rows()) + 1) as advance:
        summary = run_demo(out, model, device, progress=advance, overwrite=overwrite)
    for why in summary["skipped"]:
        err_console.print(f"[yellow]skipped[/] {why}", highlight=False)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        err_console.print(f"[green]done[/]: {len(summary['figures'])} figures in "
                          f"{summary['seconds']:.1f} s; open {out / 'index.html'}",
                          highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(demo_command)
