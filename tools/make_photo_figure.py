"""Make the README's real-photo figure: `mgpe edit` on the astronaut (a real photo that
scikit-image ships) with the built-in model, each edit run through the CLI exactly as a user
runs it (faces found, aligned, parsed, edited, pasted back at the photo's size).

    python tools/make_photo_figure.py [--out docs/images/photos/astronaut_edits.png]

Needs the dev and photos extras (scikit-image, mediapipe). The tiles show the face's
surroundings of each full-size result; every pixel outside the edited region is the photo's.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

EDITS = [
    ("open the mouth", ["swap-mouth", "--reference", "sample:6"]),
    ("add bangs", ["bangs", "--mode", "add"]),
    ("hair colour from sample 5", ["style", "--from", "sample:5", "--regions", "hair"]),
    ("lip colour from sample 4", ["style", "--from", "sample:4", "--regions", "lips"]),
    ("skin (beard) from sample 0", ["style", "--from", "sample:0", "--regions", "beard"]),
]
VIEW = (10, 230, 110, 350)  # y0, y1, x0, x1 of the 512 px photo: the head


def main() -> None:
    import numpy as np
    from skimage.data import astronaut

    from mgpe_cli.main import main as mgpe
    from mgpe_core.io import read_image, write_image
    from mgpe_core.pictures import fit_square, make_grid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path("docs/images/photos/astronaut_edits.png"))
    parser.add_argument("--model", default="mgpe-synth-128")
    args = parser.parse_args()
    y0, y1, x0, x1 = VIEW
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.png"
        write_image(photo, astronaut())
        tiles, captions = [read_image(photo)[y0:y1, x0:x1]], ["the photo (real)"]
        for caption, argv in EDITS:
            out = Path(tmp) / f"{len(tiles)}.png"
            if mgpe(["edit", argv[0], str(photo), *argv[1:], "--model", args.model,
                     "-o", str(out)]) != 0:
                raise SystemExit(f"mgpe edit {' '.join(argv)} failed")
            tiles.append(read_image(out)[y0:y1, x0:x1])
            captions.append(caption)
    side = max(y1 - y0, x1 - x0)
    grid = make_grid([fit_square(t, side) for t in tiles], ncol=3, captions=captions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, np.asarray(grid))
    print(args.out)


if __name__ == "__main__":
    main()
