"""How much of mgpe-synth's lip colour is the skin tone, and what that means for lip transfer.

mgpe-synth draws each face's lip colour from its skin tone pulled towards a rosy red
(``mgpe_core/synth/attributes.py``). This fits lip Lab from skin Lab by least squares over a
synth folder's ``attributes.jsonl`` (R^2 per channel), then takes random pairs whose lip colours
differ by more than 10 delta E (as ``mgpe eval`` pairs them) and asks: if an edit moved only the
part of the lip colour that the skin does not explain (the target keeps its own skin, so lips
that stay consistent with it keep the skin's part), what share of the Lab distance to the style
source would ``mgpe eval``'s lip measure call removed?

    python tools/synth_lip_skin.py runs/synth128/attributes.jsonl [--pairs 5000]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("attributes", help="attributes.jsonl of an mgpe data synth folder")
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--min-delta-e", type=float, default=10.0)
    args = ap.parse_args()

    from mgpe_core.metrics.image_metrics import rgb_to_lab

    with open(args.attributes) as f:
        attrs = [json.loads(line) for line in f if line.strip()]
    skin = rgb_to_lab(np.array([a["skin_tone"] for a in attrs], np.float32))
    lip = rgb_to_lab(np.array([a["lip_color"] for a in attrs], np.float32))
    x = np.c_[skin, np.ones(len(attrs))]
    coef, *_ = np.linalg.lstsq(x, lip, rcond=None)
    pred = x @ coef
    r2 = 1 - ((lip - pred) ** 2).sum(0) / ((lip - lip.mean(0)) ** 2).sum(0)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(attrs), (2, args.pairs))
    before = np.linalg.norm(lip[i] - lip[j], axis=1)
    keep = (before > args.min_delta_e) & (i != j)
    # the target's skin-explained lip colour plus the source's own deviation from it
    after = np.linalg.norm(pred[i] + (lip[j] - pred[j]) - lip[j], axis=1)
    b, a = before[keep].mean(), after[keep].mean()
    print(f"faces: {len(attrs)}")
    print("| measure | L | a | b |\n|---|---:|---:|---:|")
    print(f"| R^2 of lip Lab from skin Lab | {r2[0]:.3f} | {r2[1]:.3f} | {r2[2]:.3f} |")
    print(f"\npairs with lip delta E > {args.min_delta_e:g}: {int(keep.sum())}")
    print(f"mean delta E before: {b:.1f}; after moving only the skin-independent part: {a:.1f}")
    print(f"share removed by such a transfer: {100 * (1 - a / b):.0f}%")


if __name__ == "__main__":
    main()
