"""Refresh a built-in model's measured numbers after an engine change, without retraining or
repackaging it: the headline metrics in its config.json (and that file's hash in
manifest.json) and its full report in docs/eval/NAME/.

    mgpe eval --model mgpe-synth-128 --n 500 --out /tmp/e500/mgpe-synth-128
    python tools/refresh_builtin_metrics.py mgpe-synth-128 --from /tmp/e500/mgpe-synth-128

``--from`` takes the folder ``mgpe eval --out`` wrote (report.json, report.md, examples.png),
so the 5-minute evaluation is not run twice. The weights are untouched; the report must be of
the same model (its name, resolution and the 500-face set are checked).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_DATA = ROOT / "mgpe_plugins" / "model_data"
REPORTS = ROOT / "docs" / "eval"


def main() -> None:
    from mgpe_core.errors import UsageError
    from mgpe_core.evaluate import headline
    from mgpe_core.io import write_json
    from mgpe_core.registry import update_model_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="a built-in model (a folder in mgpe_plugins/model_data)")
    ap.add_argument("--from", dest="source", type=Path, required=True,
                    help="the folder `mgpe eval --model NAME --n 500 --out` wrote")
    args = ap.parse_args()
    folder = MODEL_DATA / args.name
    config = json.loads((folder / "config.json").read_text())
    report = json.loads((args.source / "report.json").read_text())
    want_n = config.get("metrics", {}).get("eval_n")
    if report["model"] != args.name or report["n"] != want_n:
        raise UsageError(f"{args.source}: a report of {report['model']} on {report['n']} faces; "
                         f"{args.name} records {want_n}")
    report["model_path"] = f"mgpe_plugins/model_data/{args.name}"  # not this machine's path
    config = update_model_config(folder, {"metrics": headline(report)})
    dest = REPORTS / args.name
    write_json(dest / "report.json", report)
    for name in ("report.md", "examples.png"):
        tmp = dest / f".{name}.tmp"
        shutil.copyfile(args.source / name, tmp)
        tmp.replace(dest / name)
    print(json.dumps(config["metrics"], indent=2))


if __name__ == "__main__":
    main()
