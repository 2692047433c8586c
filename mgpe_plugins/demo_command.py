"""``mgpe demo``: every built-in operation on the built-in samples, as figures like the seed's.

Runs the operations through the same plugin code as ``mgpe edit`` (``op.prepare`` -> engine),
with the default model (and its eye-mask variant when it has one), and writes one picture per
figure plus an ``index.html`` with captions.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import click

from mgpe_core import hookimpl

#: Each figure: (file stem, title, caption, rows). A row: (operation, target, options, label).
FIGURES = [
    ("mask_to_face", "Mask-to-face synthesis",
     "One target mask (sample 2), six style sources: different faces that all follow the mask.",
     [("mask-to-face", "sample:2", {"styles": ("sample:0", "sample:3", "sample:5", "sample:7",
                                                "sample:9", "sample:10"), "background": None},
       "one mask, many faces")]),
    ("component_edits", "Component editing",
     "Each row: the photo, its edited mask, the result. Styles stay the photo's own.",
     [("swap-mouth", "sample:5", {"reference": "sample:6"}, "open the mouth"),
      ("swap-mouth", "sample:10", {"reference": "sample:7"}, "close the mouth"),
      ("swap-eyes", "sample:2", {"reference": "sample:7"}, "other eyes"),
      ("bangs", "sample:5", {"mode": "add", "reference": None, "depth": 0.7}, "add bangs"),
      ("bangs", "sample:3", {"mode": "remove", "reference": None, "depth": 0.6},
       "remove bangs"),
      ("edit-mask", "sample:11", {"new_mask": "sample:2"}, "a whole new mask")]),
    ("style_transfer", "Per-region style transfer",
     "Each row: the photo, the style source, the result with that region's style.",
     [("style", "sample:2", {"source": "sample:5", "regions": "hair", "per_region": ()},
       "hair colour"),
      ("style", "sample:7", {"source": "sample:4", "regions": "lips", "per_region": ()},
       "lip colour"),
      ("style", "sample:2", {"source": "sample:6", "regions": "eyes", "per_region": ()},
       "iris colour"),
      ("style", "sample:5", {"source": "sample:0", "regions": "beard", "per_region": ()},
       "grow a beard")]),
]


def _run_rows(editor, ctx, rows):
    """(captions, tiles per row) for a list of (op, target, options, label)."""
    from mgpe_core.pictures import fit_square
    from mgpe_core.plugins import get_operation

    size = max(128, editor.resolution)  # room for captions under small models' tiles
    out_rows = []
    for op_name, target, options, label in rows:
        op = get_operation(op_name)
        tgt = target if op.input_kind == "mask" else ctx.portrait(target)
        requests = op.prepare(ctx, tgt, **options)
        results = editor.edit(requests, batch_size=8)
        if op.input_kind == "mask":
            photo = ctx.portrait(target)
            tiles = [photo.image, editor.schema.colorize(results[0].mask)]
            tiles += [r.image for r in results]
            caps = ["target", "target mask"] + [f"style {s}" for s in options["styles"]]
        elif op_name == "style":
            src = requests[0].styles[next(iter(requests[0].styles))]
            tiles = [tgt.image, src.image, results[0].image]
            caps = ["photo", f"{label} from", label]
        else:
            tiles = [tgt.image, editor.schema.colorize(results[0].mask), results[0].image]
            caps = ["photo", "edited mask", label]
        out_rows.append((caps, [fit_square(t, size) for t in tiles]))
    return out_rows


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


def run_demo(out: Path, model_name: str | None, device: str, progress=None) -> dict:
    from mgpe_core.engine import Editor
    from mgpe_core.io import write_bytes, write_image
    from mgpe_core.operations import OpContext
    from mgpe_core.registry import (
        DEFAULT_MODEL,
        find_model,
        list_models,
        load_model,
        read_model_config,
    )

    t0 = time.perf_counter()
    name = model_name or DEFAULT_MODEL
    editor = Editor(load_model(name, device=device), device=device)
    out.mkdir(parents=True, exist_ok=True)  # only once the model loaded: a refusal leaves nothing
    ctx = OpContext(editor.schema, editor.model.config,
                    parse=editor.parse if editor.parser else None)
    written = []
    for stem, title, caption, rows in FIGURES:
        write_image(out / f"{stem}.png", _figure(_run_rows(editor, ctx, rows)))
        written.append((stem, title, caption))
        if progress:
            progress()
    variant = read_model_config(find_model(name).path).get("variants", {}).get("eye-mask")
    skipped = []
    if variant and variant not in {m.name for m in list_models()}:
        skipped.append(f"eye_mask_variant: {name} names the eye-mask variant {variant!r}, "
                       "which is not installed")
        variant = None
    if variant:
        eye_editor = Editor(load_model(variant, device=device), device=device)
        eye_ctx = OpContext(eye_editor.schema, eye_editor.model.config)
        # As the seed's Figure 15: restyle the skin, keep the photo's eyes. The original's eye
        # windows carry the photo's skin around the eyes along; the variant's do not.
        fig_rows = []
        for photo, source in (("sample:2", "sample:4"), ("sample:7", "sample:1")):
            def skin(regions, ed, cx, photo=photo, source=source):
                row = ("style", photo, {"source": source, "regions": regions,
                                        "per_region": ()}, regions)
                return _run_rows(ed, cx, [row])[0][1]

            orig = skin("skin", editor, ctx)
            fig_rows.append((["photo", "skin style from", "original: skin",
                              "eye-mask: skin", "original: skin+eyes"],
                             orig + [skin("skin", eye_editor, eye_ctx)[2],
                                     skin("skin,eyes", editor, ctx)[2]]))
        fig = _figure(fig_rows)
        write_image(out / "eye_mask_variant.png", fig)
        written.append(("eye_mask_variant", "Original vs eye-mask variant",
                        f"{name} vs {variant}, as the paper's Figure 15: the skin takes another "
                        "face's style while the eyes stay the photo's. The original's eye windows "
                        "bring the photo's skin around the eyes with them; the eye-mask variant "
                        "feeds only eye pixels to the eye encoders, so the skin tone stays even. "
                        "Last column: the original with the eyes restyled too."))
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
    return {"out": str(out), "model": editor.model.name, "seconds": round(seconds, 2),
            "figures": [f"{s}.png" for s, _, _ in written], "skipped": skipped}


@click.command("demo")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mgpe-demo"), show_default=True, help="Folder for the pictures.")
@click.option("--model", default=None, help="Model [default: mgpe-synth-128].")
@click.option("--device", default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def demo_command(out, model, device, as_json):
    """Run every built-in operation on the built-in samples and write figures + index.html.

    Example: mgpe demo -o demo/
    """
    import json

    from mgpe_core.console import err_console, progress_bar

    with progress_bar("demo figures", len(FIGURES) + 1) as advance:
        summary = run_demo(out, model, device, progress=advance)
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
