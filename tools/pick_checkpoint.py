"""Compare a run's kept checkpoints by ``mgpe eval`` before packaging one as a built-in model.

A GAN's figures move from one checkpoint to the next (the built-in original measured PSNR
23.38 / hair transfer 76% at step 2328 and 22.68 / 69% at step 3380), so the newest checkpoint is
not always the one to ship. This evaluates each checkpoint's float16 EMA generator (what would
ship) on the same held-out faces and prints one row per checkpoint with the issue's target
measures (issue 23's) and the distance from each target, best first:

    python tools/pick_checkpoint.py --run runs/g128m13 --parser runs/parser128m13 [--n 100]
                                    [--last 4] [--weights ema raw]

Then package the chosen one: ``tools/build_builtin_model.py ... --checkpoint SIDECAR``.
The score is the sum of the shortfalls from the targets (a ratio that must stay under its
goal falls short by how far it is over), each relative to its target (0 = every
target met); ties and trade-offs are for the reader of the table to judge.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

# issue 23's targets: (report path, goal, "min" for "at least", "max" for "at most")
TARGETS = {
    "psnr": (("reconstruction", "psnr"), 27.0, "min"),
    "mask_miou": (("mask_fidelity", "total", "mean_iou"), 0.88, "min"),
    "hair_artifacts": (("artifacts", "hair", "ratio"), 1.2, "max"),
    "hair": (("style_transfer", "regions", "hair", "removed"), 0.75, "min"),
    "lips": (("style_transfer", "regions", "lips", "removed"), 0.75, "min"),
    "eyes": (("style_transfer", "regions", "eyes", "removed"), 0.75, "min"),
    "skin": (("style_transfer", "regions", "skin", "removed"), 0.75, "min"),
}
#: shown beside the targets, not scored: the raw generator's colour transfer (the targets read
#: the engine's result, which also removes the generator's error on the style source), and
#: the engine's result against the true transfer (mgpe-synth faces re-rendered with the
#: source's colour: see mgpe_core.evaluate)
SHOWN = {f"{region} ({label})": ("style_transfer", "regions", region, key)
             for label, key in (("generator", "generator_removed"), ("true", "true_removed"))
             for region in ("lips", "eyes")}


def measure(report: dict, path: tuple[str, ...]) -> float:
    value = report
    for key in path:
        value = (value or {}).get(key)
    return float("nan") if value is None else float(value)


def shortfall(values: dict) -> float:
    """Sum over targets of how far on the wrong side of its goal a measure is, relative to
    the goal (a measure the report lacks counts as missing its goal by the whole goal)."""
    total = 0.0
    for k, (_, goal, side) in TARGETS.items():
        v = values[k]
        if v != v:  # nan: not measured
            total += 1.0
        else:
            total += max(0.0, (goal - v) if side == "min" else (v - goal)) / goal
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--parser", type=Path, required=True)
    ap.add_argument("--n", type=int, default=100, help="held-out faces per checkpoint")
    ap.add_argument("--last", type=int, default=4, help="how many of the newest checkpoints")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", type=Path, default=None,
                    help="prepared folder to score on (its test split); default: the held-out "
                         "mgpe-synth set")
    ap.add_argument("--weights", nargs="+", choices=["ema", "raw"], default=["ema"],
                    help="which generators to score: the EMA, the trained weights, or both")
    args = ap.parse_args()

    from mgpe_core.checkpoint import list_checkpoints
    from mgpe_core.evaluate import evaluate
    from mgpe_core.registry import import_run, load_model

    sidecars = list_checkpoints(args.run / "checkpoints")[-args.last:]
    if not sidecars:
        raise SystemExit(f"no checkpoints in {args.run / 'checkpoints'}")
    rows = []
    for sidecar in sidecars:
        step = json.loads(sidecar.read_text())["step"]
        with tempfile.TemporaryDirectory() as tmp:
            probe = import_run(sidecar, f"probe-{step}", parser=args.parser,
                               dest_root=Path(tmp), half=True)
            for weights in args.weights:
                report = evaluate(load_model(probe, weights=weights), data_dir=args.data,
                                  n=args.n, device=args.device)
                values = {k: measure(report, path) for k, (path, _, _) in TARGETS.items()}
                values.update({k: measure(report, path) for k, path in SHOWN.items()})
                rows.append((shortfall(values), f"{step} {weights}", values, sidecar))
                print(f"step {step} {weights}: "
                      + ", ".join(f"{k} {v:.3f}" for k, v in values.items()), flush=True)
    rows.sort(key=lambda r: r[0])
    where = args.data or "the held-out mgpe-synth set"
    print(f"\n{args.n} faces each from {where}; shortfall = sum of (goal - value) / goal")
    print("| step, weights | "
          + " | ".join(f"{k} ({'>=' if side == 'min' else '<='} {g})"
                       for k, (_, g, side) in TARGETS.items())
          + "".join(f" | {k}" for k in SHOWN) + " | shortfall | checkpoint |")
    print("|---:|" + "---:|" * (len(TARGETS) + len(SHOWN)) + "---:|---|")
    for score, step, values, sidecar in rows:
        print(f"| {step} | " + " | ".join(f"{values[k]:.3f}" for k in [*TARGETS, *SHOWN])
              + f" | {score:.3f} | {sidecar} |")


if __name__ == "__main__":
    main()
