"""Speed of mgpe-synth: faces per second at several sizes.

Rows, for each size:

- ``render, 4x supersampled (baseline)``: the naive way to anti-alias, rendering every shape at
  4x the resolution and box-filtering down (what the analytic coverage replaces);
- ``render, analytic AA``: ``render_face`` alone (one core), coverage from signed distances;
- ``write_dataset, workers=N``: the whole pipeline (render, JPEG + part PNGs, atomic writes).

The last column is the speed-up over the baseline row of the same size.

    python bench/bench_synth.py [--sizes 64 128 256] [--count 48] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from mgpe_core.synth import render_face, write_dataset
from mgpe_core.synth.writer import face_attributes


def supersampled(attrs: dict, size: int, factor: int = 4):
    """Baseline: render at ``factor`` x the size, then average blocks (image and masks)."""
    image, parts = render_face(attrs, size * factor)
    img = image.reshape(size, factor, size, factor, 3).mean((1, 3))
    masks = {k: m.reshape(size, factor, size, factor).mean((1, 3)) >= 0.5
             for k, m in parts.items()}
    return np.round(img).astype(np.uint8), masks


def faces_per_second(fn, attrs: list[dict], size: int) -> float:
    fn(attrs[0], size)  # warm-up
    t0 = time.perf_counter()
    for a in attrs:
        fn(a, size)
    return len(attrs) / (time.perf_counter() - t0)


def dataset_faces_per_second(count: int, size: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_dataset(tmp, count=count, size=size, seed=0, workers=workers)
        return count / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--count", type=int, default=48, help="faces per measurement")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    attrs = [face_attributes(0, k) for k in range(args.count)]
    print(f"{'size':>5}  {'what':<36} {'faces/s':>9} {'x baseline':>11}")
    for size in args.sizes:
        base = faces_per_second(supersampled, attrs[: max(4, args.count // 4)], size)
        rows = [("render, 4x supersampled (baseline)", base),
                ("render, analytic AA", faces_per_second(render_face, attrs, size))]
        for w in args.workers:
            rows.append((f"write_dataset, workers={w}", dataset_faces_per_second(args.count,
                                                                                  size, w)))
        for name, fps in rows:
            print(f"{size:>5}  {name:<36} {fps:>9.1f} {fps / base:>11.2f}")


if __name__ == "__main__":
    main()
