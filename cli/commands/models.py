"""``mgpe models``: list, inspect, import, export, verify and remove models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..console import err_console, out_console


@click.group()
def models():
    """Manage models: built-in ones ship with mgpe, yours live in $MGPE_HOME/models.

    \b
    Examples:
      mgpe models list
      mgpe models import runs/g128 --name my-model
      mgpe models verify my-model
      mgpe models calibrate my-model
    """


@models.command("list")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array on stdout.")
def list_command(pattern, as_json):
    """List models (optionally those matching a glob PATTERN).

    Example: mgpe models list 'mgpe-synth-*' --json
    """
    from mgpe_core.errors import MgpeError
    from mgpe_core.registry import list_models

    from ..console import report_plugin_errors

    report_plugin_errors()
    rows = []
    for m in list_models(pattern, include_broken=True):
        try:  # one broken folder is marked, never hides the others
            rows.append({**m.describe(), "error": None})
        except MgpeError as e:
            rows.append({"name": m.name, "path": str(m.path), "source": m.source,
                         "error": str(e)})
            err_console.print(f"warning: {e}", markup=False, highlight=False)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="mgpe models")
    for col in ("name", "source", "resolution", "schema", "eye window", "parser", "status"):
        table.add_column(col)
    for r in rows:
        if r["error"] is not None:
            table.add_row(r["name"], r["source"], "-", "-", "-", "-", "[red]broken[/]")
            continue
        parser = "only" if r.get("kind") == "parser" else "yes" if r["has_parser"] else "no"
        table.add_row(r["name"], r["source"], str(r["resolution"]), str(r["schema"]),
                      str(r["eye_window"]), parser, "ok")
    out_console.print(table)


@models.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def info_command(name, as_json):
    """Show a model's description, config, variants, recipe and metrics.

    Variants are what `mgpe edit --variant` takes ("default" is always the model itself).

    Example: mgpe models info mgpe-synth-128
    """
    from mgpe_core.registry import find_model, read_model_config

    entry = find_model(name)
    meta = read_model_config(entry.path)
    data = {**entry.describe(), "config": meta.get("config"), "recipe": meta.get("recipe"),
            "parser": _parser_description(meta)}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key in ("name", "kind", "architecture", "source", "path", "description", "resolution",
                "schema",
                "eye_window",
                "mask_encoder", "has_parser", "parser_from", "has_ema", "variant", "variant_of",
                "licence", "mgpe_version"):
        if key in ("parser_from", "variant", "variant_of") and data.get(key) is None:
            continue
        out_console.print(f"[bold]{key}[/]: {data.get(key)}", highlight=False)
    calibrated = ", ".join(data["style_match"]) or "none (each restyled part loses its style " \
        "source's rendering error)"
    out_console.print(f"[bold]style match calibrated for[/]: {calibrated}", highlight=False)
    variants = ", ".join(f"{v} -> {m}" for v, m in data["variants"].items())
    out_console.print(f"[bold]variants[/]: default -> {data['name']}"
                      f"{', ' + variants if variants else ''}", highlight=False)
    out_console.print_json(json.dumps({"recipe": data["recipe"], "metrics": data["metrics"]}))


def _parser_description(meta: dict) -> dict | None:
    """config.json's parser entry; for a model that uses another's parser, that model's entry
    (config, metrics, recipe) with ``"model"`` naming it."""
    from mgpe_core.registry import all_models, parser_reference, read_model_config

    ref = parser_reference(meta)
    models = all_models() if ref else {}
    if ref not in models:
        return meta.get("parser")
    return {"model": ref, **read_model_config(models[ref].path).get("parser", {})}


@models.command("import")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Name of the new model.")
@click.option("--parser", type=click.Path(exists=True, path_type=Path),
              help="Parser to ship with it [default: the run's own, from run.json].")
@click.option("--description", default="", help="One line about the model.")
def import_command(run, name, parser, description):
    """Turn a training run (its newest complete checkpoint, EMA + raw weights) into a model.

    Example: mgpe models import runs/g128 --name my-model
    """
    from mgpe_core.registry import import_run

    path = import_run(run, name, parser=parser, description=description)
    err_console.print(f"[green]imported[/]: {name} -> {path}", highlight=False)


@models.command("convert")
@click.argument("source", metavar="SOURCE")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Name of the new model.")
@click.option("--overwrite", is_flag=True, help="Replace a user model of that name.")
@click.option("--parser", "parser_model", metavar="MODEL",
              help="original-mgpe only: an installed model whose parser the new model uses.")
def convert_command(source, file, name, overwrite, parser_model):
    """Convert another project's released weights (a .pth you downloaded) into a model.

    \b
    SOURCE is one of:
      bisenet-face-parsing  face-parsing.PyTorch's BiSeNet face parser (79999_iter.pth):
                            a parser-only model (mgpe parse --model NAME)
      original-mgpe         the authors' MGPE release: FILE is the folder of its
                            latest_net_*.pth files (11 used; the release's parser
                            is not usable: --parser names an installed model's)

    The file is read weights-only (never unpickled beyond tensors), every key and shape
    checked, and written as safetensors with a SHA-256 manifest. Such weights carry their
    own licence (BiSeNet's: trained on CelebAMask-HQ, non-commercial use only).

    Example: mgpe models convert bisenet-face-parsing 79999_iter.pth --name face-parsing
    """
    import importlib

    from mgpe_core.convert import CONVERTERS, FOLDER_SOURCES, PARSER_SOURCES
    from mgpe_core.errors import UsageError, did_you_mean
    from mgpe_core.registry import _check_name, all_models, user_models_dir

    if source not in CONVERTERS:
        raise UsageError(f"unknown source {source!r} (known: {', '.join(CONVERTERS)})."
                         f"{did_you_mean(source, CONVERTERS, cutoff=0.3)}")
    _check_name(name)
    if parser_model is not None and source not in PARSER_SOURCES:
        raise UsageError(f"--parser applies to {', '.join(sorted(PARSER_SOURCES))} only")
    if source in FOLDER_SOURCES:
        if not file.is_dir():
            raise UsageError(f"{file}: no such folder" if not file.exists()
                             else f"{file} is not a folder (give the folder of the files)")
    elif not file.is_file():
        raise UsageError(f"{file}: no such file" if not file.exists() else f"{file} is not a file")
    existing = all_models().get(name)
    if existing is not None and existing.source != "user":
        raise UsageError(f"model {name!r} is {existing.source}; choose another name")
    if existing is not None and not overwrite:
        raise UsageError(f"a model named {name!r} already exists; pass --overwrite to replace it")
    module, func = CONVERTERS[source].split(":")
    convert = getattr(importlib.import_module(module), func)
    extra = {"parser": parser_model} if parser_model is not None else {}
    path = convert(file, user_models_dir(), name, overwrite=overwrite, **extra)
    err_console.print(f"[green]converted[/]: {file} -> {name} ({path})", highlight=False)


@models.command("export")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
def export_command(name, dest):
    """Copy a model folder out (to share it or ship it in a plugin).

    Example: mgpe models export my-model /tmp/my-model
    """
    from mgpe_core.registry import export_model

    err_console.print(f"[green]exported[/]: {export_model(name, dest)}", highlight=False)


@models.command("verify")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def verify_command(name, as_json):
    """Check every file of a model against its SHA-256 manifest (exit 1 on a mismatch).

    Example: mgpe models verify mgpe-synth-128
    """
    from mgpe_core.errors import MgpeError
    from mgpe_core.registry import find_model, verify

    entry = find_model(name)
    report = verify(entry.path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for f, status in report["files"].items():
            out_console.print(f"{f}: {status}", highlight=False)
    if not report["ok"]:
        bad = [f"{f}: {status}" for f, status in report["files"].items() if status != "ok"]
        raise MgpeError(f"model {entry.name} failed verification ({', '.join(bad)})")


@models.command("calibrate")
@click.argument("name")
@click.option("--n", "n", type=int, default=500, show_default=True,
              help="mgpe-synth faces to fit on (seed 8888, rendered once and cached in "
                   "$MGPE_HOME/eval; never the held-out faces mgpe eval scores).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--dry-run", is_flag=True, help="Fit and show the result; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the fitted entry as JSON.")
def calibrate_command(name, n, device, dry_run, as_json):
    """Fit how a model's restyled parts are colour-matched, and store it in the model.

    Runs every colour transfer of the benchmark (hair, lips, eyes, skin) on mgpe-synth faces
    whose true transfer is known, and fits per class how much of the style source's and the
    target's rendering errors and photo colours the engine's offset takes, per Lab axis or
    as a map across the axes, whichever does better on the held-out half
    (docs/builtin-models.md, "Calibrated style match"). A class is kept only when it beats
    the source's error alone there. Writes config.json's style_match and the
    manifest's hash of it; the weights are untouched. About 2.5 minutes for 500 faces at
    128 px on 2 CPU cores. Re-run mgpe eval afterwards to see the effect.

    Your models ($MGPE_HOME/models) and model folders given by path can be calibrated;
    built-in and plugin models only with --dry-run (they ship calibrated or not as their
    authors measured).

    Example: mgpe models calibrate my-model
    """
    from mgpe_core.console import progress_bar
    from mgpe_core.errors import UsageError
    from mgpe_core.registry import find_model
    from mgpe_core.style_calibration import calibrate, store

    entry = find_model(name)
    if entry.source not in ("user", "path") and not dry_run:
        raise UsageError(f"model {entry.name} is {entry.source}: calibrating it would change "
                         "installed files. Export a copy (mgpe models export "
                         f"{entry.name} DIR) and calibrate that folder, or use --dry-run")
    with progress_bar("calibrating", None) as advance:
        fit = calibrate(entry.path, n=n, device=device, progress=advance)
    if as_json:
        click.echo(json.dumps(fit, indent=2))
    else:
        from rich.table import Table

        table = Table("class", "pairs", "source's error alone", "per axis", "across axes",
                      "kept", title="mean delta E to the true transfer, held-out half")
        for cls, row in fit["fit"]["classes"].items():
            table.add_row(cls, str(row["pairs"]), str(row.get("source_error", "—")),
                          *(str(row.get(form, row.get("why", "—")))
                            for form in ("diagonal", "affine")),
                          "no" if not row["kept"] else
                          "per axis" if row["form"] == "diagonal" else "across axes")
        out_console.print(table)
    if dry_run:
        err_console.print("dry run: nothing stored", highlight=False)
        return
    store(entry.path, fit)
    err_console.print(f"[green]calibrated[/]: {entry.name} ({len(fit['classes'])} classes; "
                      f"{entry.path / 'config.json'})", highlight=False)


@models.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_command(name, yes):
    """Delete a user model (built-in models cannot be removed).

    Example: mgpe models remove my-model --yes
    """
    from mgpe_core.registry import find_model, remove_model

    find_model(name)
    if not yes:
        click.confirm(f"remove model {name}?", abort=True)
    err_console.print(f"[green]removed[/]: {remove_model(name)}", highlight=False)
