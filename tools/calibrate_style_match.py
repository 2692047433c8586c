"""Fit a model's style match and store it in its config.json (and that file's hash in
manifest.json): the per-class blend (per Lab axis or across the axes) of the style source's
and the target's rendering errors and photo colours that brings a restyled part's colour
closest to the true transfer on mgpe-synth pairs (:mod:`mgpe_core.style_calibration`; about
2.5 minutes for 500 faces at 128 px on 2 cores, 1 minute once the faces are cached).

    python tools/calibrate_style_match.py mgpe-synth-128            # print the fit only
    python tools/calibrate_style_match.py mgpe-synth-128 --write    # and store it

MODEL: a model name or folder. Weights and every other field are untouched; re-run
``mgpe eval`` and ``tools/refresh_builtin_metrics.py`` afterwards for a built-in model.
For your own models use ``mgpe models calibrate`` (it refuses to change installed built-in
models, which this packaging tool is for).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from mgpe_core.console import progress_bar
    from mgpe_core.registry import find_model
    from mgpe_core.style_calibration import calibrate, store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a model name or folder")
    ap.add_argument("--n", type=int, default=500, help="calibration faces (default 500)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--write", action="store_true", help="store the fit in the model folder")
    args = ap.parse_args()
    folder = Path(find_model(args.model).path)
    with progress_bar("calibrating", None) as advance:
        entry = calibrate(args.model, n=args.n, device=args.device, progress=advance)
    print(json.dumps(entry, indent=2))
    if args.write:
        store(folder, entry)
        print(f"stored in {folder / 'config.json'}")


if __name__ == "__main__":
    main()
