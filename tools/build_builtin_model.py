"""Package a training run as a built-in model (``mgpe_plugins/model_data/NAME``).

    python tools/build_builtin_model.py --run RUN --parser PARSER --name mgpe-synth-128 \\
        --data-command "mgpe data synth ... && mgpe data prepare ..." \\
        --train-command "mgpe train ..." [--variant eye-mask=mgpe-synth-128-eyemask] \\
        [--eval-n 500] [--checkpoint RUN/checkpoints/step-000003250.json]

    python tools/build_builtin_model.py --run RUN --parser-from-model mgpe-synth-128 \\
        --variant-of mgpe-synth-128 --variant-name eye-mask --name mgpe-synth-128-eyemask ...

Steps: import the run's newest complete checkpoint (raw + EMA generator; or the one
``--checkpoint`` names, e.g. chosen with tools/pick_checkpoint.py) and its parser into a
temporary float16 model folder (what ships); run ``mgpe eval`` on the held-out mgpe-synth test
split; write the final folder with float16 weights (the package budget) and a ``config.json``
that records the exact recipe (data command and seed, training command, steps, wall time from
``stats.jsonl``, the machine), the stand-in styles for a component a donor lacks
(``default_styles``, picked from the built-in samples) and the measured metrics. The folder is
replaced atomically.

A variant shares its base's parser instead of shipping a copy (``--parser-from-model``: the
base must be packaged first, it is looked up as an installed model) and records what it is
(``--variant-of``, ``--variant-name``: ``"variant_of"`` and ``"variant"`` in config.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_DATA = ROOT / "mgpe_plugins" / "model_data"


def training_wall_time(run: Path, upto: int | None = None) -> dict:
    """Sum of step times in stats.jsonl (across resumed sessions) and the last step, counting
    only steps up to ``upto`` when given (an older checkpoint than the newest)."""
    total, last = 0.0, 0
    stats = run / "stats.jsonl"
    if stats.exists():
        for line in stats.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if upto is not None and int(rec.get("step", 0)) > upto:
                continue
            total += float(rec.get("step_time", 0.0))
            last = max(last, int(rec.get("step", 0)))
    return {"train_seconds": round(total, 1), "train_hours": round(total / 3600, 2),
            "stats_last_step": last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    parser_group = ap.add_mutually_exclusive_group(required=True)
    parser_group.add_argument("--parser", type=Path,
                              help="Parser to ship a copy of (train-parser folder or model).")
    parser_group.add_argument("--parser-from-model", metavar="MODEL",
                              help="Use this installed model's parser (no copy shipped).")
    ap.add_argument("--name", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--data-command", required=True)
    ap.add_argument("--parser-command", default="")
    ap.add_argument("--train-command", required=True)
    ap.add_argument("--variant", action="append", default=[], metavar="KIND=MODEL",
                    help="A variant of this model (config.json 'variants').")
    ap.add_argument("--variant-of", metavar="MODEL", default=None,
                    help="This model is a variant of MODEL (config.json 'variant_of').")
    ap.add_argument("--variant-name", metavar="KIND", default=None,
                    help="... named KIND, e.g. eye-mask (config.json 'variant').")
    ap.add_argument("--eval-n", type=int, default=500)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="Package this checkpoint of the run (its .json sidecar) instead of the "
                         "newest.")
    ap.add_argument("--base-model", type=Path, default=None,
                    help="For a run fine-tuned from a model (--init-from MODEL): a copy of that "
                         "model's folder; its recipe and metrics are recorded as the base.")
    ap.add_argument("--init-note", default=None,
                    help="How to name what the run started from in the recipe (default: as "
                         "run.json records it).")
    ap.add_argument("--weights", choices=["ema", "raw"], default="ema",
                    help="Which generator edits by default (recorded as default_weights; "
                         "evaluated): the EMA or the trained weights, whichever measured better "
                         "(tools/pick_checkpoint.py --weights).")
    ap.add_argument("--no-default-styles", dest="default_styles", action="store_false",
                    help="Name no stand-in styles (config.json default_styles) for a component "
                         "a donor lacks; by default the packager picks them from the built-in "
                         "samples (mgpe_core.default_styles.pick_default_styles), before the "
                         "evaluation, which then measures them.")
    ap.add_argument("--report", type=Path, default=None,
                    help="Also write the full evaluation report (JSON, Markdown, examples) here.")
    args = ap.parse_args()
    if (args.variant_of is None) != (args.variant_name is None):
        ap.error("--variant-of and --variant-name go together")

    from mgpe_core.evaluate import evaluate, headline
    from mgpe_core.registry import import_run, read_model_config
    from mgpe_core.train.runs import portable_name, read_run_info

    variants = dict(v.split("=", 1) for v in args.variant)
    source, upto = args.run, None
    if args.checkpoint is not None:
        source = args.checkpoint
        upto = int(json.loads(args.checkpoint.read_text())["step"])
    run_info = read_run_info(args.run)
    origin = {}
    if run_info.get("init_from"):  # a fine-tune: name the run and step it started from
        sidecar = Path(run_info["init_from"])
        origin = {"init_from": f"{sidecar.parent.parent.name} step "
                               f"{json.loads(sidecar.read_text())['step']}"
                  if sidecar.exists() else portable_name(run_info["init_from"])}
    if args.init_note:
        origin["init_from"] = args.init_note
    if args.base_model is not None:  # the model a fine-tune started from: its own recipe
        base = read_model_config(args.base_model)
        origin["base"] = {"recipe": base.get("recipe", {}), "metrics": base.get("metrics", {})}
    recipe = {**origin,
        "data_command": args.data_command, "parser_command": args.parser_command,
        "train_command": args.train_command, **training_wall_time(args.run, upto),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
    }
    extra = {"recipe": recipe, "variants": variants, "default_weights": args.weights,
             "licence": "MIT; trained only on procedurally generated mgpe-synth faces"}
    if args.variant_of:
        extra.update(variant=args.variant_name, variant_of=args.variant_of)
    parser = {"parser": args.parser, "parser_model": args.parser_from_model}
    with tempfile.TemporaryDirectory() as tmp:
        # evaluate the float16 weights that ship, not the float32 ones of the run
        probe = import_run(source, args.name, dest_root=Path(tmp) / "probe", **parser,
                           description=args.description, extra=extra, half=True)
        if args.default_styles:  # picked with the weights that ship, then measured with them
            from mgpe_core.default_styles import FIELD, pick_default_styles
            from mgpe_core.registry import load_model

            extra[FIELD] = pick_default_styles(load_model(str(probe), device=args.device),
                                               device=args.device)
            print(f"{FIELD}: {json.dumps(extra[FIELD])}")
            probe = import_run(source, args.name, dest_root=Path(tmp) / "probe-styled",
                               **parser, description=args.description, extra=extra, half=True)
        report = evaluate(str(probe), n=args.eval_n, device=args.device)
        metrics = headline(report)
        if args.report is not None:
            from mgpe_core.evaluate import write_report

            # where the evaluated files ship, not the temporary copy they were scored from
            write_report({**report, "model_path": f"mgpe_plugins/model_data/{args.name}"},
                         args.report)
        print(json.dumps(metrics, indent=2))
        staged = Path(tmp) / "staged"
        final = import_run(source, args.name, dest_root=staged, **parser,
                           description=args.description,
                           extra={**extra, "metrics": metrics}, half=True)
        target = MODEL_DATA / args.name
        MODEL_DATA.mkdir(parents=True, exist_ok=True)
        old = target.with_name(f".{args.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        shutil.move(str(final), target)
        shutil.rmtree(old, ignore_errors=True)
    size = sum(f.stat().st_size for f in target.iterdir()) / 2**20
    print(f"wrote {target} ({size:.1f} MiB)")


if __name__ == "__main__":
    main()
