"""Make the figure of where an operation's plain seam score rose against an older model
(docs/builtin-models.md, "Seams"): the held-out faces on which the new model's score exceeds
the old one's most, each as the photo with the edited region outlined, the old model's
result and the new one's, captioned with both scores.

    python tools/make_seam_cases_figure.py --old OLD_MODEL_FOLDER --op edit-mask \\
        --out docs/images/looks/seam_cases_edit_mask.png

The faces are `mgpe eval`'s held-out mgpe-synth faces (procedural, not photos of people),
the edits its own cases for the operation (the same options, masks and style sources), the
scores its plain seam (`mgpe_core.metrics.artifacts.seam_score`: the colour step at the
edited region's border beyond the photo's). About a minute for 200 faces on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run_cases(model_name: str, op: str, n: int):
    """(face index, plain seam or None, result image, photo, edited region) per eval job of
    ``op`` on the first ``n`` held-out faces, with ``model_name``."""
    from mgpe_core.data.prepared import PreparedFolder
    from mgpe_core.engine import Editor, edit_region
    from mgpe_core.evaluate import (
        SYNTH_SEED,
        _load_faces,
        _plan_jobs,
        default_data_dir,
        generate_test_set,
        read_attributes,
        select_cases,
    )
    from mgpe_core.metrics.artifacts import seam_score
    from mgpe_core.registry import load_model

    model = load_model(model_name)
    size = model.resolution
    folder = PreparedFolder(generate_test_set(size, 500, default_data_dir(size, 500, SYNTH_SEED),
                                              seed=SYNTH_SEED))
    faces = _load_faces(folder, folder.ids("all")[:n], model.schema, size,
                        read_attributes(folder))
    cases = [(o, c) for o, c in select_cases() if c.label == op]
    if not cases:
        raise SystemExit(f"no mgpe eval case is labelled {op!r}")
    jobs = [j for j in _plan_jobs(faces, model.schema, 0, True, cases).jobs if j.op == op]
    results = Editor(model).edit([j.request for j in jobs], batch_size=16)
    rows = []
    for j, res in zip(jobs, results, strict=True):
        region = edit_region(j.request, model.schema)
        photo = faces[j.face].image
        rows.append((j.face, seam_score(res.image, photo, region), res.image, photo, region))
    return rows


def outlined(image, region):
    """``image`` with the border pixels of ``region`` in magenta."""
    from mgpe_core.morphology import erode

    out = image.copy()
    out[region & ~erode(region, 1)] = (255, 0, 255)
    return out


def main() -> None:
    import numpy as np
    from PIL import Image

    from mgpe_core.io import write_image
    from mgpe_core.pictures import make_grid

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the older model (a name or folder)")
    ap.add_argument("--model", default="mgpe-synth-128", help="the newer model")
    ap.add_argument("--op", default="edit-mask", help="an mgpe eval case label")
    ap.add_argument("--n", type=int, default=200, help="held-out faces to search")
    ap.add_argument("--top", type=int, default=4, help="faces shown")
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    new, old = run_cases(args.model, args.op, args.n), run_cases(args.old, args.op, args.n)
    if [r[0] for r in new] != [r[0] for r in old]:
        raise SystemExit("the two models' eval jobs differ (another schema's cases?)")
    rise = sorted(range(len(new)), key=lambda i: (new[i][1] or 0) - (old[i][1] or 0),
                  reverse=True)[:args.top]
    tiles, captions = [], []
    for i in rise:
        (face, s_new, img_new, photo, region), (_, s_old, img_old, *_) = new[i], old[i]
        for picture, caption in ((outlined(photo, region), f"face {face}: edited region"),
                                 (img_old, f"older model: seam {s_old or 0:.1f}"),
                                 (img_new, f"this model: seam {s_new or 0:.1f}")):
            h, w = picture.shape[:2]
            tiles.append(Image.fromarray(picture).resize((w * args.zoom, h * args.zoom),
                                                         Image.Resampling.NEAREST))
            captions.append(caption)
    write_image(args.out, make_grid([np.asarray(t) for t in tiles], 3, captions=captions))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
