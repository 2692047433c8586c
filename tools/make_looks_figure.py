"""Make the close-up figure of the built-in model's looks (issue 23, docs/builtin-models.md):
each case run through the CLI exactly as a user runs it, then a crop of the result at 3x zoom
(nearest neighbour, so that each generated pixel shows), beside the same crop of the photo.

    python tools/make_looks_figure.py --model mgpe-synth-128 --out docs/images/looks/NAME.png

Rows: hair of a mask-to-face result (checkerboards), hair colour transfer, lip colour
transfer, the forehead after removing bangs (its hairline and seam), and the jaw under a skin
restyle (the neck seam). Made on the built-in procedural samples (mgpe-synth faces): run it
with the old and the new model for a before / after pair.
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
    parser.add_argument("--model", default="mgpe-synth-128")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    tiles, captions = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (caption, photo, edit, (y0, y1, x0, x1)) in enumerate(CASES):
            out = Path(tmp) / f"{k}.png"
            code = mgpe(["edit", edit[0], photo, *edit[1:], "--model", args.model, "-o",
                         str(out)])
            if code != 0:
                raise SystemExit(f"{caption}: mgpe edit exited {code}")
            result = read_image(out if out.exists() else sorted(Path(tmp).glob(f"{k}*.png"))[0])
            before = load_sample(int(photo.split(":")[1]))[0]
            for image, what in ((before, "photo"), (result, caption)):
                crop = image[y0:y1, x0:x1]
                tiles.append(np.repeat(np.repeat(crop, ZOOM, 0), ZOOM, 1))
                captions.append(what)
    height, width = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, width - t.shape[1]), (0, 0)),
                    constant_values=255) for t in tiles]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, make_grid(tiles, ncol=2, captions=captions))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
