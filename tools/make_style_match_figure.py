"""Make the figure of what the engine's style matching changes (docs/builtin-models.md): lips
and eyes restyled with ``mgpe edit style``, each with the generator's colours
(``match_style=False``) and as the engine delivers them now (the colour error the generator
makes re-rendering the style source removed), beside the style source's own region.

    python tools/make_style_match_figure.py --out docs/images/looks/style_match.png

Built-in procedural samples (mgpe-synth faces, not photos of people), the default model, at
the model's resolution: the crops are the restyled region and a margin.
"""

from __future__ import annotations

from dataclasses import replace

from make_colour_match_figure import crop_box, crops_figure_setup, enlarged_grid, square_region

CASES = [("sample:2", "sample:7", "lips"), ("sample:9", "sample:5", "lips"),
         ("sample:2", "sample:6", "eyes"), ("sample:7", "sample:4", "eyes"),
         ("sample:3", "sample:2", "eyes")]


def main() -> None:
    import numpy as np

    from mgpe_core.engine import edit_region, to_square
    from mgpe_core.io import write_image
    from mgpe_core.operations import parse_options
    from mgpe_core.plugins import get_operation
    from mgpe_plugins.ops.style import SCORED

    args, editor, ctx = crops_figure_setup(__doc__)
    r = editor.resolution
    op = get_operation("style")
    pictures = []
    for spec, source_spec, region_name in CASES:
        target, source = ctx.portrait(spec), ctx.portrait(source_spec)
        options = ["--from", source_spec, "--regions", region_name]
        requests = op.prepare(ctx, target, **parse_options(op, options))
        raw = editor.edit([replace(q, match_style=False) for q in requests])[0].image
        now = editor.edit(requests)[0].image
        margin = max(3, r // 32)
        region = square_region(target.image, edit_region(requests[0], editor.schema), r)
        box = crop_box(region, margin, raw.shape)
        photo = to_square(target.image, None, r)[0]
        src_photo, src_labels, _ = to_square(source.image, source.labels, r)
        scored = np.isin(src_labels, editor.schema.ids(SCORED[region_name].classes))
        src_box = crop_box(scored, margin, src_photo.shape)
        pictures += [(photo[box], f"{spec} ({region_name})"),
                     (src_photo[src_box], f"source {source_spec}"),
                     (raw[box], "generator's colours"), (now[box], "matched (now)")]
    write_image(args.out, enlarged_grid(pictures, args.zoom, 4))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
