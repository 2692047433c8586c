"""The landmark parser against the built-in model's parser, on real faces with real labels.

The two Helen pictures of the original MGPE release (``--helen DIR``, default the shared
reference folder: ``demo-*/source_image.png`` and ``source_label.png``, 256 px, 11 Helen
classes = mgpe-11, ``l_`` = the image's left; test inputs only, never shipped) go through what
``mgpe edit`` does with a photo: ``find_faces``, ``align_face`` to the built-in model's framing at
its resolution (128 px), then the crop is labelled

- (a) by the built-in model's parser (``load_model(MODEL)`` in an ``Editor``, ``Editor.parse``
  on the crop: ``--parser model``, the default);
- (b) by the landmark parser (``parse_landmarks`` on the photo, warped to the crop with
  ``warp_labels``, nearest: ``--parser landmarks``).

The true labels are warped to the crop the same way (nearest). Scores count only the crop's
pixels that lie inside the photo (``Aligned.outside`` is padding: no truth there). Per-class IoU
over those pixels; a class absent from both the truth and a parser's map is left out; mean IoU
over the classes present in the truth or in that parser's map (a class a parser invents scores
0); pixel accuracy. A model of other classes than the truth's mgpe-11 (the built-in mgpe-13:
glasses, neck) has its maps converted to mgpe-11 by class name first (neck is background there).
Baseline: the built-in parser (ratio: landmark / built-in). Times: warm
median of ``--repeat`` per face, the detection and alignment shared, not counted.

``--figure``: one row per picture: the aligned crop, the true labels, the built-in parser's,
the landmark parser's (mgpe-11 colours; padding grey). The Helen pictures are test inputs, not
material for mgpe's documentation (the reference folder's README and SPEC.md, section 8), so
the figure goes to ``runs/`` (git-ignored) by default. ``--astronaut-figure``: the same row,
without truth, for skimage's astronaut (a public-domain NASA photo), which may be shipped.

    python bench/bench_parsers.py [--helen DIR] [--repeat 3] [--figure PATH]
                                  [--astronaut-figure docs/images/photos/parsers_on_astronaut.png]
"""

from __future__ import annotations

import os

# as the `mgpe` command does for its process (cli/main.py), before torch is imported: without
# it, OpenMP threads spin while waiting, which on two shared cores made the parser 7x slower
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HELEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "original-mgpe"
MODEL = "mgpe-synth-128"
TRUTH_SCHEMA = "mgpe-11"  # the Helen labels' classes (image-left l_)
FIGURE = Path("runs/bench/parsers_on_real_faces.png")
TILE = 256  # figure tiles: the 128 px crop shown 2x (nearest)
PADDING_GREY = (160, 160, 160)


def read_demo(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    image = np.asarray(Image.open(folder / "source_image.png").convert("RGB"))
    truth = np.asarray(Image.open(folder / "source_label.png"))
    return image, truth


class Parsers:
    """The two ways `mgpe edit` labels a photo's aligned face, for one model."""

    def __init__(self, model_name: str) -> None:
        from mgpe_core.engine import Editor
        from mgpe_core.faces.framing import framing_for
        from mgpe_core.registry import load_model

        model = load_model(model_name)
        self.editor = Editor(model)
        self.schema = model.schema
        self.size = model.resolution
        self.framing = framing_for(model.config.model)

    def frame(self, image: np.ndarray):
        from mgpe_core.faces.align import align_face
        from mgpe_core.faces.detect import find_faces

        faces = find_faces(image)
        if not faces:
            raise SystemExit("no face found")
        return faces[0], align_face(image, faces[0], self.size, self.framing)

    def builtin(self, image, face, aligned) -> np.ndarray:
        return self.editor.parse([aligned.image])[0]

    def landmarks(self, image, face, aligned) -> np.ndarray:
        from mgpe_core.faces.landmark_parser import parse_landmarks
        from mgpe_core.faces.warp import warp_labels

        full = parse_landmarks(image, face, self.schema)
        return warp_labels(full, aligned.matrix, (self.size, self.size))


def scores(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray,
           classes: tuple[str, ...]) -> dict[str, float]:
    """Per-class IoU over ``valid`` pixels (classes absent from both left out), ``mean`` over
    those, and ``accuracy``."""
    p, t = pred[valid], truth[valid]
    out: dict[str, float] = {}
    for k, name in enumerate(classes):
        union = int(((p == k) | (t == k)).sum())
        if union:
            out[name] = float(((p == k) & (t == k)).sum() / union)
    out["mean"] = float(np.mean(list(out.values())))
    out["accuracy"] = float((p == t).mean())
    return out


def timed(f, args: tuple, repeat: int) -> float:
    f(*args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def label_tile(labels: np.ndarray, schema, outside: np.ndarray) -> np.ndarray:
    rgb = schema.colorize(labels).copy()
    rgb[outside] = PADDING_GREY
    return enlarge(rgb)


def enlarge(rgb: np.ndarray) -> np.ndarray:
    k = TILE // rgb.shape[0]
    return np.repeat(np.repeat(rgb, k, axis=0), k, axis=1) if k > 1 else rgb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--helen", type=Path, default=HELEN)
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--figure", type=Path, default=FIGURE,
                    help=f"the Helen figure (default {FIGURE}: not for the docs, see above)")
    ap.add_argument("--astronaut-figure", type=Path, default=None,
                    help="also the astronaut's row (crop, built-in parser, landmark parser)")
    args = ap.parse_args()

    from mgpe_core.faces.warp import warp_labels
    from mgpe_core.io import write_image
    from mgpe_core.pictures import make_grid

    demos = sorted(args.helen.glob("demo-*"))
    if not demos:
        raise SystemExit(f"no demo-* folders in {args.helen}")
    from mgpe_core.labels import convert, get_schema

    parsers = Parsers(args.model)
    # scored (and drawn) in the truth's classes: a model of other classes (mgpe-13's glasses
    # and neck) has its maps converted by class name, as mgpe-11 defines them
    schema = get_schema(TRUTH_SCHEMA)
    classes = tuple(schema.classes)
    rows, tiles, captions = [], [], []
    for demo in demos:
        image, truth = read_demo(demo)
        face, aligned = parsers.frame(image)
        true_crop = warp_labels(truth, aligned.matrix, (parsers.size, parsers.size))
        valid = ~aligned.outside
        result = {"name": demo.name.removeprefix("demo-"), "inside": float(valid.mean()),
                  "eye_px": face.eye_distance}
        maps = {}
        for key, f in (("builtin", parsers.builtin), ("landmarks", parsers.landmarks)):
            maps[key] = convert(f(image, face, aligned), parsers.schema, schema)
            result[key] = scores(maps[key], true_crop, valid, classes)
            result[key + "_s"] = timed(f, (image, face, aligned), args.repeat)
        rows.append(result)
        name = result["name"]
        tiles += [enlarge(aligned.image), label_tile(true_crop, schema, aligned.outside),
                  label_tile(maps["builtin"], schema, aligned.outside),
                  label_tile(maps["landmarks"], schema, aligned.outside)]
        captions += [f"{name}: aligned crop, {parsers.size} px", "true labels (Helen)",
                     f"built-in parser, mIoU {result['builtin']['mean']:.2f}",
                     f"landmark parser, mIoU {result['landmarks']['mean']:.2f}"]

    print(f"{args.model} ({parsers.size} px crops, framing {parsers.framing.name}); "
          f"scores over the crop's pixels inside the photo\n")
    head = " | ".join(f"{r['name']}: built-in | {r['name']}: landmarks" for r in rows)
    print(f"| class | {head} |")
    print("|---|" + "---:|---:|" * len(rows))
    for name in classes:
        cells = []
        for r in rows:
            for key in ("builtin", "landmarks"):
                v = r[key].get(name)
                cells.append("absent" if v is None else f"{v:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for what, fmt in (("mean", "**{:.3f}**"), ("accuracy", "{:.3f}")):
        label = "mean IoU" if what == "mean" else "pixel accuracy"
        print(f"| {label} | " + " | ".join(fmt.format(r[k][what]) for r in rows
                                            for k in ("builtin", "landmarks")) + " |")
    print("| ms per face (warm) | " + " | ".join(f"{r[k + '_s'] * 1e3:.0f}" for r in rows
                                                   for k in ("builtin", "landmarks")) + " |")
    print()
    print("| picture | eye distance px | crop inside the photo | mean IoU built-in "
          "(baseline) | landmarks | x baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        b, m = r["builtin"]["mean"], r["landmarks"]["mean"]
        print(f"| {r['name']} | {r['eye_px']:.0f} | {r['inside']:.0%} | {b:.3f} | {m:.3f} "
              f"| {m / b:.2f} |")

    args.figure.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.figure, make_grid(tiles, ncol=4, captions=captions))
    print(f"\nfigure: {args.figure}")

    if args.astronaut_figure is not None:
        from skimage.data import astronaut

        image = astronaut()
        face, aligned = parsers.frame(image)
        own = parsers.schema  # no truth here: each map in the model's own classes
        a_tiles = [enlarge(aligned.image),
                   label_tile(parsers.builtin(image, face, aligned), own, aligned.outside),
                   label_tile(parsers.landmarks(image, face, aligned), own, aligned.outside)]
        a_caps = [f"astronaut: aligned crop, {parsers.size} px", "built-in parser",
                  "landmark parser"]
        args.astronaut_figure.parent.mkdir(parents=True, exist_ok=True)
        write_image(args.astronaut_figure, make_grid(a_tiles, ncol=3, captions=a_caps))
        print(f"astronaut figure: {args.astronaut_figure}")


if __name__ == "__main__":
    main()
