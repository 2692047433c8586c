"""Make the figure of reshaped eyes and mouths redrawn whole (docs/builtin-models.md): each
``swap-mouth`` / ``swap-eyes`` edit blended the old way (only the pixels whose label changed
are generated; the photo's old lips and eyes stay beside the new rim) and the engine's way
(the whole reshaped part is generated), cropped and enlarged.

    python tools/make_whole_part_figure.py --out docs/images/looks/whole_part.png

Built-in procedural samples (mgpe-synth faces, not photos of people), the default model, at
the model's resolution. The old way is rebuilt from the engine's own pieces: its raw output,
tone matched and blended over the changed pixels alone.
"""

from __future__ import annotations

from dataclasses import replace

from make_colour_match_figure import (
    crop_box,
    crops_figure_setup,
    enlarged_grid,
    square_region,
)


def main() -> None:
    from mgpe_core.colour_match import match_to_photo, surface_ids
    from mgpe_core.engine import blend, blend_radius, edit_region, feathered, to_square
    from mgpe_core.io import write_image
    from mgpe_core.operations import parse_options
    from mgpe_core.plugins import get_operation

    args, editor, ctx = crops_figure_setup(__doc__)
    r = editor.resolution
    cases = [("swap-mouth", "sample:5", "sample:6"), ("swap-mouth", "sample:1", "sample:4"),
             ("swap-eyes", "sample:2", "sample:7"), ("swap-eyes", "sample:0", "sample:5")]
    pictures = []
    for name, spec, reference in cases:
        op = get_operation(name)
        target = ctx.portrait(spec)
        req = op.prepare(ctx, target, **parse_options(op, ["--reference", reference]))[0]
        now = editor.edit([req])[0]
        photo = to_square(target.image, None, r)[0]

        changed = square_region(target.image, req.mask != target.labels, r)
        raw = editor.edit([replace(req, keep_unedited=False)])[0].image
        shown = match_to_photo(raw, photo, now.mask, changed, blend_radius(r),
                               surface_ids(editor.schema))
        before = blend(shown, photo, feathered(changed, blend_radius(r)))
        region = square_region(target.image, edit_region(req, editor.schema), r)
        box = crop_box(region, max(4, r // 16), photo.shape)
        pictures += [(photo[box], f"{name} {spec} ref {reference}"),
                     (before[box], "changed pixels only (before)"),
                     (now.image[box], "whole part (now)")]
    write_image(args.out, enlarged_grid(pictures, args.zoom, 3))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
