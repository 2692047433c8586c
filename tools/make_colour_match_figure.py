"""Make the figure of what the engine's tone matching changes (docs/builtin-models.md): the
forehead that ``mgpe edit bangs --mode remove`` uncovers, the skin around lips restyled with
``mgpe edit style --regions lips`` and around a ``swap-mouth``, each without matching
(``--no-colour-match``) and with it (the default), cropped and enlarged.

    python tools/make_colour_match_figure.py --out docs/images/looks/colour_match.png

Built-in procedural samples (mgpe-synth faces, not photos of people), the default model, at
the model's resolution (``--crop``): the crops are the region each edit changed and a margin.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def crop_box(region, margin: int, shape) -> tuple[slice, slice]:
    import numpy as np

    ys, xs = np.nonzero(region)
    return (slice(max(0, ys.min() - margin), min(shape[0], ys.max() + margin + 1)),
            slice(max(0, xs.min() - margin), min(shape[1], xs.max() + margin + 1)))


def square_region(image, region, size: int):
    """``region`` (bool, the photo's size) as the model's square input sees it."""
    import numpy as np

    from mgpe_core.engine import to_square

    return to_square(image, region.astype(np.uint8), size)[1].astype(bool)


def enlarged_grid(pictures, zoom: int, columns: int):
    """(crop, caption) pairs enlarged ``zoom`` times (nearest: the pixels stay visible), padded
    white to the largest, in a captioned grid."""
    import numpy as np
    from PIL import Image

    from mgpe_core.pictures import make_grid

    tiles = [np.asarray(Image.fromarray(c).resize((c.shape[1] * zoom, c.shape[0] * zoom),
                                                  Image.Resampling.NEAREST))
             for c, _ in pictures]
    height, width = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, width - t.shape[1]), (0, 0)),
                     constant_values=255) for t in tiles]
    return make_grid(padded, columns, captions=[what for _, what in pictures])


def crops_figure_setup(doc: str):
    """A crops figure tool's command line (``--model``, ``--out``, ``--zoom``; ``doc``: its
    module doc) and the model's editor with an operation context: (args, editor, ctx)."""
    from mgpe_core.engine import Editor
    from mgpe_core.operations import OpContext
    from mgpe_core.registry import load_model

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--model", default="mgpe-synth-128")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--zoom", type=int, default=5)
    args = ap.parse_args()
    model = load_model(args.model)
    editor = Editor(model)
    return args, editor, OpContext(editor.schema, model.config)


def main() -> None:
    from mgpe_core.engine import edit_region, to_square
    from mgpe_core.io import write_image
    from mgpe_core.operations import parse_options
    from mgpe_core.plugins import get_operation

    args, editor, ctx = crops_figure_setup(__doc__)
    r = editor.resolution
    cases = [("bangs", "sample:3", ["--mode", "remove"]),
             ("style", "sample:2", ["--from", "sample:7", "--regions", "lips"]),
             ("style", "sample:9", ["--from", "sample:5", "--regions", "lips"]),
             ("swap-mouth", "sample:1", ["--reference", "sample:4"])]
    pictures = []
    for name, spec, options in cases:
        op = get_operation(name)
        target = ctx.portrait(spec)
        requests = op.prepare(ctx, target, **parse_options(op, options))
        off = editor.edit([replace(q, match_colour=False) for q in requests])[0].image
        on = editor.edit(requests)[0].image
        region = square_region(target.image, edit_region(requests[0], editor.schema), r)
        box = crop_box(region, max(4, r // 16), off.shape)
        photo = to_square(target.image, None, r)[0]
        label = " ".join([name, spec, *options[:2]]).replace("--mode ", "").replace(
            "--reference", "ref").replace("--from", "lips from")
        pictures += [(photo[box], label), (off[box], "without matching"),
                     (on[box], "matched (now)")]
    write_image(args.out, enlarged_grid(pictures, args.zoom, 3))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
