"""Make the figure of what the engine's background fill changes (docs/builtin-models.md):
``mgpe edit edit-mask`` of a built-in sample with the mask of another whose hair is shorter,
so the new mask calls background what the photo has as hair.

    python tools/make_background_fill_figure.py --out docs/images/looks/background_fill.png

Columns: the photo, the new mask's sample, the edit with the fill switched off (as the engine
did before it had one: the generator's background input there is the photo's old hair), the
edit as the engine makes it now. The pairs are the samples' three with the most uncovered
background. Built-in procedural samples (mgpe-synth faces), results pasted back at 256 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    import mgpe_core.engine as engine
    from mgpe_core.background_fill import uncovered_background
    from mgpe_core.engine import Editor, EditRequest
    from mgpe_core.io import write_image
    from mgpe_core.labels import get_schema
    from mgpe_core.pictures import make_grid
    from mgpe_core.registry import load_model
    from mgpe_core.samples import sample_count, sample_portrait

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mgpe-synth-128")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=3)
    args = ap.parse_args()

    model = load_model(args.model)
    bg = get_schema(model.schema).index("background")
    samples = [sample_portrait(i, model.schema) for i in range(sample_count())]
    pairs = sorted(((int(uncovered_background(a.labels, b.labels, bg).sum()), i, j)
                    for i, a in enumerate(samples) for j, b in enumerate(samples) if i != j),
                   reverse=True)
    picks, used = [], set()
    for _, i, j in pairs:
        if i not in used and len(picks) < args.rows:
            used.add(i)
            picks.append((i, j))
    requests = [EditRequest(samples[i], mask=samples[j].labels) for i, j in picks]
    now = Editor(model).edit(requests, paste_back=True)
    fill = engine.background_input
    engine.background_input = lambda image, *_: image  # the engine before the fill
    try:
        before = Editor(model).edit(requests, paste_back=True)
    finally:
        engine.background_input = fill
    tiles, captions = [], []
    for (i, j), b, a in zip(picks, before, now, strict=True):
        tiles += [samples[i].image, samples[j].image, b.image, a.image]
        captions += [f"photo: sample:{i}", f"new mask from sample:{j}", "without the fill",
                     "with the fill (now)"]
    write_image(args.out, make_grid(tiles, 4, captions=captions))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
