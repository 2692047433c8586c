"""The real-photo pipeline (mgpe_core.faces): alignment accuracy, per-stage times, parser IoU.

1. **Accuracy.** Every built-in sample (12) is turned, scaled and moved onto a 960 x 720
   backdrop (``mgpe_core.faces.scenes``; centres drawn at random in the middle 40 %) for each
   rotation x scale of the grid; ``find_faces`` + ``align_face`` (128 px, mgpe-synth framing).
   Found: share of the placed faces found (the largest face found is used). Eye error: where
   the true eye centres (eye-class centroids of the sample's mask, moved with the placement) land
   in the crop, against where the alignment from the true points puts them, in % of the eye
   distance (``scenes.eye_error_after_alignment``). Baseline, same run: the alignment from the
   detector's own eye and mouth key points (``mesh=False``). The same for skimage's astronaut
   (a real photo; its truth: the eyes and mouth found on the upright photo, moved with the
   placement).
2. **Times** on a 4000 x 3000 JPEG (the astronaut scaled 5x, turned 10 degrees, on a backdrop):
   read (``read_photo``, JPEG decode + EXIF), detect (``find_faces``), align (``align_face``,
   256 px), paste back (``paste_back`` of a mouth-sized edit). Warm: median of ``--repeat``
   calls in this process after one warm-up. Cold: the first call of each stage in a fresh
   process (``--cold`` processes, median), detect including ``import mediapipe`` and the
   models' load. Detect's parts, warm: the detector alone on one pass (``tiles=0``,
   ``mesh=False``), with the default tiles (``mesh=False``), and the default (tiles + mesh).
3. **Landmark parser** per-class IoU on the two real Helen pictures with real 11-class labels
   of the original MGPE release (``--helen DIR``, default the shared reference folder; skipped
   when absent: they are test inputs, not shipped).

    python bench/bench_faces.py [--repeat 5] [--cold 3] [--helen DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HELEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "original-mgpe"
ANGLES = (-30, -15, 0, 15, 30)
SCALES = (0.5, 1.0, 2.0)  # sample tile (256 px) scale: eye distance ~30, 60, 120 px
CANVAS = (720, 960)


def accuracy_samples() -> list[tuple]:
    from mgpe_core.faces import scenes
    from mgpe_core.faces.align import align_face
    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.framing import MGPE_SYNTH
    from mgpe_core.samples import load_sample, sample_count

    rng = np.random.default_rng(0)
    rows = []
    for angle in ANGLES:
        for scale in SCALES:
            errors, base, found, n, dist = [], [], 0, 0, []
            for i in range(sample_count()):
                image, labels = load_sample(i)
                canvas = scenes.background(CANVAS, seed=i)
                centre = (rng.uniform(0.3, 0.7) * CANVAS[1], rng.uniform(0.3, 0.7) * CANVAS[0])
                true = scenes.place_face(canvas, image, labels, centre, scale, angle)
                dist.append(float(np.hypot(*(true[1] - true[0]))))
                n += 1
                faces = find_faces(canvas)
                if not faces:
                    continue
                found += 1
                aligned = align_face(canvas, faces[0], 128, MGPE_SYNTH)
                errors += list(scenes.eye_error_after_alignment(true, aligned, MGPE_SYNTH))
                coarse = find_faces(canvas, mesh=False)  # baseline: the detector's key points
                if coarse:
                    aligned = align_face(canvas, coarse[0], 128, MGPE_SYNTH)
                    base += list(scenes.eye_error_after_alignment(true, aligned, MGPE_SYNTH))
            rows.append((angle, scale, np.mean(dist), found, n,
                         float(np.mean(errors)) if errors else float("nan"),
                         float(np.max(errors)) if errors else float("nan"),
                         float(np.mean(base)) if base else float("nan")))
    return rows


def accuracy_astronaut() -> list[tuple]:
    from skimage.data import astronaut

    from mgpe_core.faces import scenes
    from mgpe_core.faces.align import align_face
    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.framing import MGPE_SYNTH
    from mgpe_core.faces.warp import apply, warp_affine

    photo = astronaut()
    ref = find_faces(photo)[0]
    truth = np.vstack([ref.eyes, ref.mouth[None]])
    rows = []
    hw = (1080, 1440)
    for angle in ANGLES:
        for scale in (0.6, 1.0, 2.0):
            m = scenes.placement(512, (720.0, 540.0), scale, angle)
            canvas = scenes.background(hw, seed=angle + 100)
            pixels = warp_affine(photo, m, hw, pad="edge")
            cover = warp_affine(np.ones((512, 512), np.float32), m, hw, pad="zero") > 0.5
            canvas[cover] = pixels[cover]
            faces = find_faces(canvas)
            true = apply(m, truth)
            if faces:
                aligned = align_face(canvas, faces[0], 256, MGPE_SYNTH)
                err = scenes.eye_error_after_alignment(true, aligned, MGPE_SYNTH)
            rows.append((angle, scale, float(np.hypot(*(true[1] - true[0]))), int(bool(faces)),
                         1, float(err.mean()) if faces else float("nan"),
                         float(err.max()) if faces else float("nan")))
    return rows


def big_photo(path: Path) -> None:
    """A 4000 x 3000 JPEG: the astronaut scaled 5x, turned 10 degrees, on a backdrop."""
    from skimage.data import astronaut

    from mgpe_core.faces import scenes
    from mgpe_core.faces.warp import warp_affine
    from mgpe_core.io import write_image

    hw = (3000, 4000)
    canvas = scenes.background(hw, seed=11)
    m = scenes.placement(512, (2100.0, 1500.0), 5.0, 10.0)
    pixels = warp_affine(astronaut(), m, hw, pad="edge")
    cover = warp_affine(np.ones((512, 512), np.float32), m, hw, pad="zero") > 0.5
    canvas[cover] = pixels[cover]
    write_image(path, canvas, quality=92)


def stages(path: Path) -> dict[str, float]:
    """One pass of every stage, seconds each."""
    from mgpe_core.faces.align import align_face
    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.framing import MGPE_SYNTH
    from mgpe_core.faces.paste import paste_back
    from mgpe_core.faces.photo import read_photo

    t = {}
    t0 = time.perf_counter()
    photo = read_photo(path)
    t["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    faces = find_faces(photo)
    t["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    aligned = align_face(photo, faces[0], 256, MGPE_SYNTH)
    t["align"] = time.perf_counter() - t0
    crop = aligned.image.copy()
    region = np.zeros((256, 256), bool)
    region[170:200, 90:170] = True
    crop[region] = 255 - crop[region]
    t0 = time.perf_counter()
    out = paste_back(photo, aligned, crop, region)
    t["paste_back"] = time.perf_counter() - t0
    assert out.shape == photo.shape
    return t


def detect_parts(path: Path, repeat: int) -> dict[str, float]:
    """Median seconds of find_faces on the photo: one detector pass, tiles, tiles + mesh."""
    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.photo import read_photo

    photo = read_photo(path)
    out = {}
    for name, kw in (("one pass (tiles=0, mesh=False)", dict(tiles=0, mesh=False)),
                     ("tiles=1, mesh=False", dict(tiles=1, mesh=False)),
                     ("tiles=1 + mesh (default)", {})):
        find_faces(photo, **kw)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            find_faces(photo, **kw)
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


def helen_iou(folder: Path) -> list[tuple[str, dict[str, float]]]:
    from PIL import Image

    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.landmark_parser import parse_landmarks
    from mgpe_core.labels import get_schema

    schema = get_schema("mgpe-11")  # Helen-style ids, l_ = the image's left (SPEC.md)
    out = []
    for demo in sorted(folder.glob("demo-*")):
        image = np.asarray(Image.open(demo / "source_image.png").convert("RGB"))
        truth = np.asarray(Image.open(demo / "source_label.png"))
        t0 = time.perf_counter()
        labels = parse_landmarks(image, find_faces(image)[0], schema)
        seconds = time.perf_counter() - t0
        iou = {}
        for k, name in enumerate(schema.classes):
            union = ((labels == k) | (truth == k)).sum()
            if union:
                iou[name] = float(((labels == k) & (truth == k)).sum() / union)
        iou["seconds"] = seconds
        out.append((demo.name, iou))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cold", type=int, default=3)
    ap.add_argument("--helen", type=Path, default=HELEN)
    ap.add_argument("--cold-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cold_child:
        print(json.dumps(stages(args.cold_child)))
        return

    print("## Alignment accuracy: built-in samples (12 per cell), 960 x 720 backdrop, 128 px\n")
    print("| rotation deg | scale | eye distance px | found | mean eye error % | max % "
          "| baseline: detector key points, mean % | x baseline |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    all_err, all_base, all_found, all_n = [], [], 0, 0
    for angle, scale, dist, found, n, mean, mx, base in accuracy_samples():
        print(f"| {angle} | {scale} | {dist:.0f} | {found}/{n} | {mean:.2f} | {mx:.2f} "
              f"| {base:.2f} | {base / mean:.1f} |")
        all_found, all_n = all_found + found, all_n + n
        all_err.append(mean)
        all_base.append(base)
    print(f"\nall: found {all_found}/{all_n}, mean of cell means {np.nanmean(all_err):.2f} % "
          f"(baseline {np.nanmean(all_base):.2f} %)\n")

    print("## Alignment accuracy: the astronaut (real photo), 1440 x 1080 backdrop, 256 px\n")
    print("| rotation deg | scale | eye distance px | found | mean eye error % | max % |")
    print("|---:|---:|---:|---:|---:|---:|")
    for angle, scale, dist, found, n, mean, mx in accuracy_astronaut():
        print(f"| {angle} | {scale} | {dist:.0f} | {found}/{n} | {mean:.2f} | {mx:.2f} |")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jpg"
        big_photo(path)
        cold = []
        for _ in range(args.cold):
            proc = subprocess.run([sys.executable, __file__, "--cold-child", str(path)],
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(Path.cwd())})
            cold.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        stages(path)  # warm-up
        warm = [stages(path) for _ in range(args.repeat)]
        parts = detect_parts(path, args.repeat)
    print(f"\n## Per stage, 4000 x 3000 JPEG (median; warm of {args.repeat}, cold of "
          f"{args.cold} fresh processes)\n")
    print("| stage | warm ms | cold ms |")
    print("|---|---:|---:|")
    for stage in ("read", "detect", "align", "paste_back"):
        w = statistics.median(r[stage] for r in warm) * 1000
        c = statistics.median(r[stage] for r in cold) * 1000
        print(f"| {stage} | {w:.0f} | {c:.0f} |")
    print("\n| detect, warm | ms |\n|---|---:|")
    for name, seconds in parts.items():
        print(f"| {name} | {seconds * 1000:.0f} |")

    if args.helen.is_dir():
        print("\n## Landmark parser IoU on the Helen demo pictures (mgpe-11)\n")
        results = helen_iou(args.helen)
        from mgpe_core.labels import get_schema

        names = [n for n in get_schema("mgpe-11").classes if any(n in r for _, r in results)]
        print("| class | " + " | ".join(d for d, _ in results) + " |")
        print("|---|" + "---:|" * len(results))
        for name in names:
            print(f"| {name} | " + " | ".join(f"{r[name]:.3f}" if name in r else
                                               "absent in both" for _, r in results) + " |")
        means = [np.mean([v for k, v in r.items() if k != "seconds"]) for _, r in results]
        print("| mean (classes present) | " + " | ".join(f"{m:.3f}" for m in means) + " |")
        print("| seconds (find + parse) | " + " | ".join(f"{r['seconds']:.2f}"
                                                        for _, r in results) + " |")
    else:
        print(f"\n(landmark parser IoU skipped: {args.helen} not found)")


if __name__ == "__main__":
    main()
