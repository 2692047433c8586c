"""Make the figure of a restyled part's fringe (docs/builtin-models.md): hair restyled with
``mgpe edit style --regions hair``, the top of the head as the photo has it, with the fringe
kept as the photo had it (the engine before `mgpe_core.restyled_fringe`: a thin outline of
the old hair colour) and recoloured with the new hair (the engine now).

    python tools/make_fringe_figure.py --out docs/images/looks/restyled_fringe.png

Built-in procedural samples (mgpe-synth faces, not photos of people), the default model, at
the model's resolution.
"""

from __future__ import annotations

from make_colour_match_figure import crops_figure_setup, enlarged_grid

CASES = [("sample:2", "sample:5"), ("sample:3", "sample:9"), ("sample:9", "sample:7"),
         ("sample:10", "sample:1")]


def main() -> None:
    from mgpe_core.engine import Editor, to_square
    from mgpe_core.io import write_image
    from mgpe_core.operations import parse_options
    from mgpe_core.plugins import get_operation

    args, editor, ctx = crops_figure_setup(__doc__)
    r = editor.resolution
    op = get_operation("style")
    pictures = []
    for spec, source_spec in CASES:
        target = ctx.portrait(spec)
        requests = op.prepare(ctx, target, **parse_options(
            op, ["--from", source_spec, "--regions", "hair"]))
        now = editor.edit(requests)[0].image
        recolour = Editor._recolour_fringes
        Editor._recolour_fringes = lambda self, req, shown, *rest: shown  # the engine before
        try:
            kept = editor.edit(requests)[0].image
        finally:
            Editor._recolour_fringes = recolour
        photo = to_square(target.image, None, r)[0]
        box = (slice(r // 16, r // 16 + r * 3 // 8), slice(r // 8, r * 7 // 8))  # head top
        pictures += [(photo[box], f"{spec}, hair from {source_spec}"),
                     (kept[box], "fringe kept (before)"), (now[box], "fringe recoloured (now)")]
    write_image(args.out, enlarged_grid(pictures, args.zoom, 3))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
