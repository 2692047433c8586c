"""Make the close-up figure of the built-in model's looks (issue 23, docs/builtin-models.md):
each case run through the CLI exactly as a user runs it, then a crop of the result at 3x zoom
(nearest neighbour, so that each generated pixel shows), beside the same crop of the photo.

    python tools/make_looks_figure.py --model mgpe-synth-128 --out docs/images/looks/NAME.png
    python tools/make_looks_figure.py --model OLD_FOLDER mgpe-synth-128 --label before after \
        --out docs/images/looks/before-after.png

Rows: hair of a mask-to-face result (checkerboards), hair colour transfer, lip colour
transfer, the forehead after removing bangs (its hairline and seam), and the jaw under a skin
restyle (the neck seam). Made on the built-in procedural samples (mgpe-synth faces): with two
models, a column each: a before / after pair.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

#: (caption, photo, mgpe edit arguments, crop y0, y1, x0, x1 of the 256 px sample)
CASES = [
    ("mask-to-face: hair", "sample:0",
     ["mask-to-face", "--styles", "sample:5", "--whole-image"], (20, 100, 60, 196)),
    ("hair colour from sample 5", "sample:1",
     ["style", "--from", "sample:5", "--regions", "hair"], (20, 100, 60, 196)),
    ("lip colour from sample 4", "sample:2",
     ["style", "--from", "sample:4", "--regions", "lips"], (145, 225, 60, 196)),
    ("remove bangs: forehead", "sample:3", ["bangs", "--mode", "remove"], (30, 110, 60, 196)),
    ("skin from sample 4: jaw and neck", "sample:2",
     ["style", "--from", "sample:4", "--regions", "skin"], (170, 250, 60, 196)),
]
ZOOM = 3


def main() -> None:
    import numpy as np

    from mgpe_cli.main import main as mgpe
    from mgpe_core.io import read_image, write_image
    from mgpe_core.pictures import make_grid
    from mgpe_core.samples import load_sample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["mgpe-synth-128"],
                        help="one or more models (names or folders): one column each, beside "
                             "the photo's")
    parser.add_argument("--label", nargs="+", default=None,
                        help="a caption word per model (default: the model's name)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    labels = args.label or [Path(m).name for m in args.model]
    if len(labels) != len(args.model):
        raise SystemExit(f"--label: {len(labels)} labels for {len(args.model)} models")

    tiles, captions = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (caption, photo, edit, (y0, y1, x0, x1)) in enumerate(CASES):
            before = load_sample(int(photo.split(":")[1]))[0]
            row = [(before, "photo")]
            for m, (model, label) in enumerate(zip(args.model, labels, strict=True)):
                out = Path(tmp) / f"{k}-{m}.png"
                code = mgpe(["edit", edit[0], photo, *edit[1:], "--model", model, "-o",
                             str(out)])
                if code != 0:
                    raise SystemExit(f"{caption} ({model}): mgpe edit exited {code}")
                result = read_image(out if out.exists()
                                    else sorted(Path(tmp).glob(f"{k}-{m}*.png"))[0])
                row.append((result, f"{caption}: {label}" if len(labels) > 1
                            else caption))
            for image, what in row:
                crop = image[y0:y1, x0:x1]
                tiles.append(np.repeat(np.repeat(crop, ZOOM, 0), ZOOM, 1))
                captions.append(what)
    height, width = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, width - t.shape[1]), (0, 0)),
                    constant_values=255) for t in tiles]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, make_grid(tiles, ncol=1 + len(args.model), captions=captions))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
