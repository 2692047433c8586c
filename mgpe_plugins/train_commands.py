"""``mgpe train`` and ``mgpe train-parser``: the training commands.

Importing this module is cheap: torch and the trainer are imported inside the commands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from mgpe_core import hookimpl
from mgpe_core.outputs import overwrite_option

DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:<index>."


def _console():
    from mgpe_core.console import err_console

    return err_console


@click.command("train-parser")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Prepared folder (mgpe data prepare).")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to write parser.safetensors and parser.json into.")
@click.option("--schema", default="mgpe-11", show_default=True,
              help="Label schema the parser predicts.")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--base-channels", type=click.IntRange(4), default=32, show_default=True)
@click.option("--depth", type=click.IntRange(1, 6), default=4, show_default=True)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init-from", "init_from", metavar="PARSER|MODEL",
              help="Continue training another parser (a train-parser run folder, its "
                   "parser.json, or a model such as mgpe-synth-128): its architecture and "
                   "weights, a fresh optimizer; --base-channels and --depth are ignored.")
@overwrite_option("files")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def train_parser_command(data_dir, run_dir, schema, steps, batch, lr, base_channels, depth,
                         device, seed, init_from, overwrite, as_json):
    """Train the U-Net face parser used by the parsing loss and to score edits.

    Reports pixel accuracy and mean IoU on the test split.

    Example: mgpe train-parser --data prepared128/ --out runs/parser128 --steps 2000

    Continue a model's parser at a lower rate: mgpe train-parser --data prepared128/
    --out runs/parser128-ft --init-from mgpe-synth-128 --steps 2000 --lr 3e-4
    """
    from mgpe_core.console import progress_bar
    from mgpe_core.device import resolve_device
    from mgpe_core.errors import LabelError, UsageError
    from mgpe_core.io import clean_write_temporaries
    from mgpe_core.labels import get_schema
    from mgpe_core.model.config import ParserConfig
    from mgpe_core.outputs import check_folder_output
    from mgpe_core.train.parser_io import PARSER_FILES
    from mgpe_core.train.parser_trainer import train_parser

    try:
        schema_obj = get_schema(schema)
    except LabelError as e:
        raise UsageError(f"--schema: {e}") from None
    # an earlier train-parser run (its parser.json) is replaced when this one finishes; any
    # other folder with files only with --overwrite; never the data folder or around it
    check_folder_output(run_dir, "parser.json", "mgpe train-parser", overwrite=overwrite,
                        reads=[data_dir], option="--out")
    dev = resolve_device(device)
    console = _console()
    removed = clean_write_temporaries(run_dir, PARSER_FILES)
    if removed:
        console.print(f"removed {len(removed)} temporary file(s) left by an interrupted "
                      f"write in {run_dir}", highlight=False)

    with progress_bar("training parser", steps) as advance:
        def on_step(step, loss):
            advance()
            advance.describe(f"training parser  loss {loss:.4f}")
            if not console.is_terminal and (step % 100 == 0 or step == steps):
                console.print(f"parser step {step}/{steps} loss {loss:.4f}", highlight=False)

        result = train_parser(
            data_dir, run_dir, schema_obj, steps=steps, batch=batch, lr=lr,
            cfg=ParserConfig(base_channels=base_channels, depth=depth), seed=seed, device=dev,
            on_step=on_step, init_from=init_from,
        )
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        console.print(
            f"[green]done[/]: parser in {run_dir}: pixel accuracy "
            f"{result['pixel_accuracy']:.4f}, mean IoU {result['mean_iou']:.4f} "
            f"({result['split']} split), {result['seconds']:.0f} s")


@click.command("train")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Prepared folder (mgpe data prepare) at the model's resolution.")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: config, stats.jsonl, samples/, checkpoints/.")
@click.option("--parser", "parser_path", type=click.Path(path_type=Path),
              help="Trained parser for the parsing loss: a train-parser run folder, its "
                   "parser.json, or a model (name or folder) whose parser is used.")
@click.option("--size", type=click.Choice(["64", "128", "256", "512"]), default=None,
              help="Resolution [default: the data's].")
@click.option("--schema", "schema_name", default=None, metavar="NAME",
              help="Label schema of the model, e.g. mgpe-13 (mgpe-11 plus glasses and neck) "
                   "[default: mgpe-11, or the resumed run's]. The data is converted to it; the "
                   "parser must predict it.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Total steps to reach.")
@click.option("--batch", type=click.IntRange(1), default=None, help="Batch per process.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="JSON config (model, loss, train sections).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set model.width=0.5 --set loss.parsing=2.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="[default: bf16 on GPU, fp32 on CPU]")
@click.option("--resume", default=None, metavar="auto|fresh|PATH",
              help="Continue the run: auto = newest complete checkpoint in --out (refused when "
                   "every checkpoint there is damaged); fresh = train again from step 0, the "
                   "old checkpoints and stats moved aside to checkpoints.discarded-N/.")
@click.option("--init-from", "init_from", metavar="RUN|CHECKPOINT|MODEL",
              help="Fine-tune: start from other weights with fresh optimizers. A run folder or "
                   "checkpoint gives generator, EMA and discriminators (e.g. a variant from the "
                   "original model); a model (name such as mgpe-synth-128, or folder) gives "
                   "generator and EMA, the discriminators start fresh: pair it with --set "
                   "train.d_warmup_steps=N. Without --config the run takes its model config "
                   "(change a variant with --set). Ignored when --resume finds a checkpoint.")
@click.option("--preset", default=None, metavar="NAME",
              help="A named recipe, applied before --set: cpu-small (the built-in models' "
                   "widths and batch: a laptop CPU, data at 128 px, 1.5-3.5 s a step on 2 "
                   "cores) or paper (the default: the paper's widths, for GPUs).")
@click.option("--log-every", type=click.FloatRange(min=1), default=30.0, show_default=True,
              metavar="SECONDS",
              help="When stderr is not a terminal (a log file): a progress line after the "
                   "first step, then every SECONDS (step, losses, images/s, ETA).")
@click.option("--seed", type=int, default=None)
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="DataLoader worker processes.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and parameter counts.")
@overwrite_option("files")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def train_command(data_dir, run_dir, parser_path, size, schema_name, steps, batch, config_file,
                  overrides, device, precision, resume, init_from, preset, log_every, seed,
                  workers, dry_run, overwrite, as_json):
    """Train the MGPE generator (paired + unpaired steps, multiscale discriminators, feature
    matching, parsing loss through the frozen parser, device augmentations).

    Runs on one device or many GPUs under torchrun (rank and world size from the environment).
    Ctrl-C or SIGTERM writes a checkpoint and exits cleanly; --resume auto continues.

    Before the first step it prints the parameter counts, the size of a checkpoint and the
    expected step time (one timed forward pass); after it, the measured step time and the ETA.

    Example: mgpe train --data prepared128/ --parser runs/parser128 --out runs/g128 --steps 20000

    On a laptop CPU: mgpe train --preset cpu-small --data prepared128/ --parser runs/parser128
    --out runs/g128 --steps 3000
    """
    from mgpe_core.errors import UsageError
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.typed_config import apply_overrides, from_dict, to_dict

    run_config = run_dir / "config.json"
    if resume and run_config.exists() and not config_file:
        cfg = MgpeConfig.load(run_config)  # a resumed run keeps its own config
    elif config_file:
        cfg = MgpeConfig.load(config_file, recorded=False)  # a person's file: today's defaults
    elif init_from:  # a fine-tune starts from the architecture of what it starts from
        from mgpe_core.train.trainer import init_model_config

        cfg = MgpeConfig.from_dict({"model": init_model_config(init_from)})
    else:
        cfg = MgpeConfig()
    data_size = None
    if data_dir is not None:
        from mgpe_core.data.prepared import PreparedFolder

        data_size = PreparedFolder(data_dir).size
    model_changes = {}
    if size or (data_size and not config_file and not (resume and run_config.exists())):
        model_changes["resolution"] = int(size) if size else data_size
    if schema_name is not None:
        from mgpe_core.errors import LabelError
        from mgpe_core.labels import get_schema

        try:
            model_changes["schema"] = get_schema(schema_name).to_dict()
        except LabelError as e:
            raise UsageError(f"--schema: {e}") from None
    train_changes = {k: v for k, v in (("steps", steps), ("batch", batch), ("seed", seed),
                                       ("precision", precision)) if v is not None}
    data = to_dict(cfg)
    data["model"].update(model_changes)
    data["train"].update(train_changes)
    from mgpe_core.train.presets import preset_overrides

    cfg = apply_overrides(from_dict(MgpeConfig, data), preset_overrides(preset) + list(overrides))

    if dry_run:
        from mgpe_core.train.trainer import describe, parser_folder_config

        if parser_path is not None:  # the run takes the parser as given: count that one
            cfg = parser_folder_config(cfg, parser_path)
        click.echo(json.dumps(describe(cfg), indent=2))
        return
    if data_dir is None or parser_path is None:
        raise UsageError("mgpe train needs --data and --parser (or --dry-run)")
    _run_training(cfg, data_dir, run_dir, parser_path, device, precision, resume, init_from,
                  workers, overwrite, log_every, as_json)


def _run_training(cfg, data_dir, run_dir, parser_path, device, precision, resume, init_from,
                  workers, overwrite, log_every, as_json):
    import dataclasses

    from mgpe_core.console import progress_bar
    from mgpe_core.io import write_json
    from mgpe_core.outputs import check_folder_output
    from mgpe_core.train.distributed import (
        bf16_emulation_note,
        destroy_process_group,
        dist_info_from_env,
        init_process_group,
        resolve_device,
    )
    from mgpe_core.train.progress import StepClock, estimate_step_seconds, training_plan
    from mgpe_core.train.runs import read_run_info, write_run_info
    from mgpe_core.train.trainer import StopFlag, Trainer, install_signal_handlers

    # an earlier run (its run.json or config.json) is resumed as --resume says; any other
    # folder with files only with --overwrite; never the data or parser folder or around them
    check_folder_output(run_dir, ("run.json", "config.json"), "mgpe train",
                        overwrite=overwrite, option="--out",
                        reads=[data_dir, *([parser_path] if parser_path.is_dir() else [])])
    info = dist_info_from_env()
    dev = resolve_device(device, info)
    if precision is None and dev.type == "cuda":
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, precision="bf16"))
    init_process_group(info, dev)
    console = _console()
    note = bf16_emulation_note(cfg.train.precision, dev)
    if note and info.is_main:
        console.print(f"warning: {note}", markup=False, highlight=False)
    try:
        # Everything is checked (data, parser, resume / init checkpoints) before the run folder
        # gets its first file: a refused run leaves nothing behind.
        trainer = Trainer(cfg, data_dir, run_dir, parser_path, dev, info,
                          log=console.print if info.is_main else (lambda *_: None),
                          num_workers=workers)
        resumed = trainer.resume(resume)
        run_info = {}
        if init_from is not None and not resumed:
            run_info["init_from"] = trainer.init_from(init_from)
        else:  # a resumed fine-tune keeps its origin on record
            previous = read_run_info(run_dir)
            run_info.update({k: previous[k] for k in ("init_from",) if k in previous})
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            # the trainer's config: the model's parser entry is the parser actually used
            write_json(run_dir / "config.json", trainer.cfg.to_dict())
            write_run_info(run_dir, {
                **run_info, "data": str(data_dir), "parser": str(parser_path),
                "device": str(dev), "world_size": info.world_size, "pid": os.getpid(),
                "parameters": trainer.param_counts,
            })
        stop = StopFlag()
        restore = install_signal_handlers(stop)
        total = cfg.train.steps
        clock = StepClock(trainer.step, total, log_every)
        if info.is_main:
            console.print(training_plan(trainer, estimate_step_seconds(trainer)),
                          highlight=False, soft_wrap=True)
        with progress_bar("training", total, heartbeat=False) as advance:
            if trainer.step:
                advance(trainer.step)

            def on_step(step, record, dt):
                advance()
                d = record["d_real"] + record["d_fake"]
                if "g_total" in record:
                    text = (f"G {record['g_total']:.3f}  L_local {record['local']:.3f}  "
                            f"L_GP {record['parsing']:.3f}  D {d:.3f}")
                else:
                    text = f"discriminator warm-up  D {d:.3f}"
                advance.describe(f"training  {text}")
                due = clock.tick(step, dt)
                if not info.is_main:
                    return
                if clock.first(step):  # the measured step time, whatever the terminal
                    console.print(f"first step: {dt:.1f} s; {clock.eta_text(step)}",
                                  highlight=False, soft_wrap=True)
                elif due and not console.is_terminal:
                    console.print(f"step {step}/{total} {text} "
                                  f"{record['images_per_second']:.1f} img/s, "
                                  f"{clock.eta_text(step)}", highlight=False, soft_wrap=True)

            try:
                result = trainer.run(total, stop, on_step)
            finally:
                restore()
    finally:
        destroy_process_group(info)
    if not info.is_main:
        return
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        how = f"stopped by {result['stopped_by']}" if result["stopped_by"] else "done"
        console.print(f"[green]{how}[/]: step {result['step']}, checkpoint "
                      f"{result['checkpoint']}", highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(train_command)
    cli.add_command(train_parser_command)
