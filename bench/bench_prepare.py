"""Speed of `mgpe data prepare` against the straightforward sequential script it replaces.

Input: an mgpe-synth folder in the real CelebAMask-HQ layout, built before any timing: part masks
at ``--mask-size`` (512 px, as CelebAMask-HQ), photos re-saved at ``--photo-size`` (1024 px JPEG,
as CelebA-HQ; mgpe-synth itself writes photos at the mask size). Output: the mgpe-11 schema at
each ``--sizes`` resolution, PNG photos (the CLI's default).

Rows, for each size (images/s = faces fully prepared, photo and label map, per second):

- ``baseline``: the code a person writes first, one face at a time in this process: open each
  part file with PIL, threshold it, merge at 512 px in the standard order (later parts
  overwrite earlier ones), resize the merged map with PIL nearest, convert to the schema, save
  the label PNG; open the photo, decode it at full size, resize with Lanczos, save it as PNG;
- ``prepare -j 1`` / ``-j 2``: :func:`prepare_dataset` as ``mgpe data prepare -j N`` calls it
  (fresh output folder; atomic writes, SHA-256 log, splits and manifest included; ``-j 2``
  includes starting the process pool);
- ``bound``: only the work no implementation with the same inputs and output bytes can skip,
  in one process: decoding every part PNG (with the fastest decoder at hand, as ``prepare``
  does) and encoding the output photo PNG. Its ratio is about the most a one-process
  ``prepare`` could reach over the baseline.

The label maps of the baseline and of every prepare run are compared pixel for pixel (the
script fails if they differ). A second table times the label path alone (the baseline's
merge-at-512-then-resize against prepare's ``merge_parts_resized`` + convert + encode), to show
where the speed-up comes from. Each figure is the median of ``--repeat`` runs.

    python bench/bench_prepare.py [--count 64] [--sizes 128 256] [--workers 1 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from mgpe_core.data.mask_png import read_grey_mask
from mgpe_core.data.prepare import (
    ANNO_DIR,
    IMG_DIR,
    load_photo,
    merge_parts_resized,
    prepare_dataset,
    scan_source,
)
from mgpe_core.io import encode_image, encode_label_map, read_label_map
from mgpe_core.labels import CELEBAMASK_CLASSES, convert, get_schema
from mgpe_core.synth import write_dataset

SCHEMA = "mgpe-11"


def make_source(root: Path, count: int, mask_size: int, photo_size: int) -> None:
    """mgpe-synth faces at mask_size; photos upscaled to photo_size JPEGs (the real layout)."""
    write_dataset(root, count=count, size=mask_size, seed=0, workers=2)
    if photo_size != mask_size:
        for p in sorted((root / IMG_DIR).glob("*.jpg")):
            with Image.open(p) as img:
                big = img.convert("RGB").resize((photo_size, photo_size),
                                                Image.Resampling.BICUBIC)
            big.save(p, quality=95)


# -- the baseline ------------------------------------------------------------------------------

def baseline_labels(root: Path, k: int, size: int) -> np.ndarray:
    """Merge every part at mask resolution, then resize the label map with PIL nearest."""
    sub = root / ANNO_DIR / str(k // 2000)
    merged = None
    for label, name in enumerate(CELEBAMASK_CLASSES[1:], start=1):
        path = sub / f"{k:05d}_{name}.png"
        if not path.exists():
            continue
        mask = np.asarray(Image.open(path).convert("L")) > 127
        if merged is None:
            merged = np.zeros(mask.shape, np.uint8)
        merged[mask] = label
    resized = np.asarray(Image.fromarray(merged).resize((size, size), Image.Resampling.NEAREST))
    return convert(resized, get_schema("celebamask-19"), get_schema(SCHEMA))


def baseline(root: Path, out: Path, ids: list[int], size: int) -> None:
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    for k in ids:
        labels = baseline_labels(root, k, size)
        Image.fromarray(labels).save(out / "labels" / f"{k:05d}.png")
        photo = Image.open(root / IMG_DIR / f"{k}.jpg").convert("RGB")
        photo.resize((size, size), Image.Resampling.LANCZOS).save(out / "images" / f"{k:05d}.png")


def bound(root: Path, out: Path, ids: list[int], size: int,
          photos: dict[int, np.ndarray]) -> None:
    items = {it.id: it for it in scan_source(root)}
    for k in ids:
        for path in items[k].parts.values():
            read_grey_mask(path)  # the fastest decoder at hand, as prepare reads them
        encode_image(photos[k], ".png", png_level=1)  # as prepare writes them


def _prepare(root: Path, out: Path, size: int, workers: int) -> None:
    prepare_dataset(root, out, size=size, schema=SCHEMA, workers=workers)


# -- labels alone ------------------------------------------------------------------------------

def labels_only_baseline(root: Path, out: Path, ids: list[int], size: int) -> None:
    out.mkdir(parents=True)
    for k in ids:
        Image.fromarray(baseline_labels(root, k, size)).save(out / f"{k:05d}.png")


def labels_only_prepare(root: Path, out: Path, ids: list[int], size: int) -> None:
    out.mkdir(parents=True)
    items = {it.id: it for it in scan_source(root)}
    src, dst = get_schema("celebamask-19"), get_schema(SCHEMA)
    for k in ids:
        labels = convert(merge_parts_resized(items[k].parts, size), src, dst)
        (out / f"{k:05d}.png").write_bytes(encode_label_map(labels, dst))


# -- timing ------------------------------------------------------------------------------------

def timed(cases: dict[str, Callable[[Path], object]], tmp: Path, repeat: int) -> dict[str, float]:
    """Median seconds of each ``fn(out)``, each run into an empty ``out``; the cases take turns
    (round robin), so a change in background load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for i, (name, fn) in enumerate(cases.items()):
            out = tmp / f"case{i}"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            fn(out)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def read_labels(folder: Path, ids: list[int]) -> list[np.ndarray]:
    return [np.asarray(Image.open(folder / f"{k:05d}.png")) for k in ids]


def check_identical(ref: list[np.ndarray], folder: Path, ids: list[int], what: str) -> None:
    for k, want in zip(ids, ref, strict=True):
        got, schema = read_label_map(folder / f"{k:05d}.png")
        assert schema.name == SCHEMA, (what, k, schema.name)
        assert np.array_equal(got, want), f"{what}: label map of face {k} differs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=64, help="faces in the source folder")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("--mask-size", type=int, default=512)
    ap.add_argument("--photo-size", type=int, default=1024)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        make_source(src, args.count, args.mask_size, args.photo_size)
        ids = [it.id for it in scan_source(src)]
        n = len(ids)
        print(f"{n} faces: {args.photo_size} px JPEG photos, {args.mask_size} px part masks; "
              f"schema {SCHEMA}; median of {args.repeat} runs\n")

        rows, label_rows = [], []
        for size in args.sizes:
            photos = {k: load_photo(src / IMG_DIR / f"{k}.jpg", size) for k in ids}
            cases = {"baseline (sequential PIL script)": partial(baseline, src, ids=ids, size=size)}
            for w in args.workers:
                cases[f"prepare -j {w}"] = partial(_prepare, src, size=size, workers=w)
            cases["bound: decode part PNGs + encode photo PNG"] = partial(
                bound, src, ids=ids, size=size, photos=photos)
            t = timed(cases, tmp / f"{size}", args.repeat)
            base_s = t["baseline (sequential PIL script)"]
            rows += [(size, name, n / s, base_s / s) for name, s in t.items()]
            # every case's last run is still on disk: compare the label maps
            ref = read_labels(tmp / f"{size}" / "case0" / "labels", ids)
            for i, name in enumerate(cases):
                if name.startswith("prepare"):
                    check_identical(ref, tmp / f"{size}" / f"case{i}" / "labels", ids,
                                    f"{name}, {size} px")

            label_cases = {
                "baseline: merge at 512 px, PIL nearest": partial(labels_only_baseline, src,
                                                                  ids=ids, size=size),
                "prepare: merge_parts_resized": partial(labels_only_prepare, src, ids=ids,
                                                        size=size),
            }
            t = timed(label_cases, tmp / f"labels{size}", args.repeat)
            check_identical(ref, tmp / f"labels{size}" / "case1", ids, f"labels only, {size} px")
            lb = t["baseline: merge at 512 px, PIL nearest"]
            label_rows += [(size, name, n / s, lb / s) for name, s in t.items()]

        print("identical label maps: yes\n")
        print("| size | what | images/s | x baseline |")
        print("|---:|---|---:|---:|")
        for size, what, ips, ratio in rows:
            print(f"| {size} | {what} | {ips:.1f} | {ratio:.2f} |")
        print("\nLabel maps alone (one process):\n")
        print("| size | what | label maps/s | x baseline |")
        print("|---:|---|---:|---:|")
        for size, what, ips, ratio in label_rows:
            print(f"| {size} | {what} | {ips:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
