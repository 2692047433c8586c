"""A 3000 px `--paste-back` edit end to end, against the PIL MaxFilter feathering it replaced.

The edit: ``Editor.edit([EditRequest(photo, styles={"mouth": ref, "hair": ref})],
paste_back=True)`` with the built-in model ``mgpe-synth-128`` (the first installed model when it
is not installed; the output says which), the photo built-in sample 0 upscaled (Lanczos, its mask
nearest) to 3000 x 3000 and cropped to 2000 px wide (a 3000 x 2000 portrait, so the square
padding runs too; ``--width 3000`` keeps it square), the reference sample 4 at 256 px. The
editor is built once; each timing is one ``Editor.edit`` call (networks at 128 px, paste-back:
bicubic upscale, feathered alpha, blend at the photo's size).

Baseline, in the same run: the same call with ``mgpe_core.engine.feathered`` patched to a copy of
the old one below (dilation by PIL's ``MaxFilter(2r+1)``, O(r²) per pixel; the mask is feathered
at 1024 px, r = 16 here). Rows take turns, median of ``--repeat``. ``max |diff|``: the largest
difference of the output pixels from the baseline's, in uint8 levels (must be <= 1). A second
table times ``feathered`` alone on this edit's region, and one Lanczos squaring of the photo
(the pass ``_edit_batch`` no longer repeats for the edited mask) for scale.

    python bench/bench_paste_back.py [--repeat 3] [--width 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it (a shared machine)

import numpy as np  # noqa: E402

DEFAULT = "mgpe-synth-128"


from mgpe_core.testing import pil_feathered as old_feathered  # noqa: E402  (the baseline)


def pick_model() -> str:
    from mgpe_core.registry import all_models

    names = sorted(all_models())
    if DEFAULT in names:
        return DEFAULT
    if not names:
        raise SystemExit("no model installed: `mgpe models list` is empty")
    return names[0]


def portrait(index: int, schema, height: int = 3000, width: int = 2000):
    """Sample ``index`` upscaled to ``height`` px square (photo Lanczos, mask nearest), the
    central ``width`` columns kept."""
    from PIL import Image

    from mgpe_core.engine import Portrait
    from mgpe_core.labels import convert, get_schema
    from mgpe_core.samples import load_sample

    img, lab = load_sample(index)
    lab = convert(lab, get_schema("celebamask-19"), schema)
    big = np.asarray(Image.fromarray(img).resize((height, height), Image.Resampling.LANCZOS))
    big_lab = np.asarray(Image.fromarray(lab).resize((height, height), Image.Resampling.NEAREST))
    x0 = (height - width) // 2
    return Portrait(big[:, x0:x0 + width].copy(), big_lab[:, x0:x0 + width].copy(),
                    f"sample:{index} at {width}x{height}")


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per row (median)")
    ap.add_argument("--width", type=int, default=2000,
                    help="photo width (its height is 3000 px; 3000: a square photo)")
    args = ap.parse_args()

    from mgpe_core import engine
    from mgpe_core.engine import Editor, EditRequest, blend_radius, edit_region
    from mgpe_core.registry import load_model

    name = pick_model()
    editor = Editor(load_model(name))
    photo = portrait(0, editor.schema, 3000, args.width)
    ref = portrait(4, editor.schema, 256, 256)
    req = EditRequest(photo, styles={"mouth": ref, "hair": ref})
    new_feathered = engine.feathered

    def run(feather):
        engine.feathered = feather
        try:
            return editor.edit([req], paste_back=True)[0].image
        finally:
            engine.feathered = new_feathered

    run(new_feathered)  # warm-up: first-call allocations, thread pools
    rows = {"old: PIL MaxFilter feathering (baseline)": old_feathered,
            "new: separable numpy dilation": new_feathered}
    times: dict[str, list[float]] = {k: [] for k in rows}
    outs: dict[str, np.ndarray] = {}
    for _ in range(args.repeat):  # rows take turns
        for label, feather in rows.items():
            t, outs[label] = median_time(lambda f=feather: run(f), 1)
            times[label].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    base_label = next(iter(rows))
    base = med[base_label]

    h, w = photo.image.shape[:2]
    print(f"model {name}; photo {w}x{h} (sample:0 upscaled), Editor.edit(paste_back=True), "
          f"median of {args.repeat}\n")
    print("| feathering | median s | x baseline | max abs diff (uint8) |")
    print("|---|---:|---:|---:|")
    for label in rows:
        diff = int(np.abs(outs[label].astype(np.int16) - outs[base_label].astype(np.int16)).max())
        print(f"| {label} | {med[label]:.3f} | {base / med[label]:.2f} | {diff} |")
    speedup = base / med["new: separable numpy dilation"]
    print(f"\ntarget >= 3x end to end: {'met' if speedup >= 3 else 'NOT met'} ({speedup:.2f}x)")

    region = edit_region(req, editor.schema)
    radius = blend_radius(max(h, w))
    t_old, a_old = median_time(lambda: old_feathered(region, radius), args.repeat)
    t_new, a_new = median_time(lambda: new_feathered(region, radius), args.repeat)
    t_sq, _ = median_time(lambda: engine.to_square(photo.image, None, editor.resolution),
                          args.repeat)
    print(f"\nParts (median of {args.repeat}), the edit's region at {w}x{h}, radius {radius} "
          f"(feathered at 1024 px: r = {max(1, round(radius * 1024 / max(h, w)))}):\n")
    print("| step | ms |")
    print("|---|---:|")
    print(f"| feathered, PIL MaxFilter (old) | {t_old * 1000:.1f} |")
    print(f"| feathered, separable numpy dilation (new) | {t_new * 1000:.1f} |")
    print(f"| one Lanczos squaring of the photo to {editor.resolution} px | {t_sq * 1000:.1f} |")
    print(f"\nalpha max |new - old|: {float(np.abs(a_new - a_old).max()) * 255:.3f} / 255")


if __name__ == "__main__":
    main()
