"""``mgpe eval``: the quality benchmark of a model on held-out faces (see
:mod:`mgpe_core.evaluate` and docs/evaluation.md)."""

from __future__ import annotations

from pathlib import Path

import click

from mgpe_core import hookimpl
from mgpe_core.outputs import overwrite_option


@click.command("eval")
@click.option("--model", default=None, help="Model name or folder [default: mgpe-synth-128].")
@click.option("--data", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Prepared folder (`mgpe data prepare` output); its test split is used. "
                   "Default: a held-out mgpe-synth set, rendered once into "
                   "$MGPE_HOME/eval/ and reused.")
@click.option("--n", "n", type=click.IntRange(min=1), default=200, show_default=True,
              help="Number of faces (the first of the split).")
@click.option("--split", type=click.Choice(["test", "train", "all"]), default=None,
              help="Faces of DIR to use [default: test (every face if it is empty); every "
                   "face of the generated set].")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout.")
@click.option("--out", type=click.Path(path_type=Path), default=None, metavar="REPORT",
              help="Folder for report.json, report.md and examples.png.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the pairings (which face is whose reference / style source).")
@click.option("--fid-weights", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="FID Inception weights (.safetensors); without them FID is skipped.")
@click.option("--ops", "ops", metavar="OP[,OP...]", default=None,
              help="Operations (or case labels such as bangs-add) to score, comma-separated; "
                   "any registered operation, plugins' included [default: the benchmark's "
                   "built-in cases].")
@click.option("--parser", default=None, metavar="MODEL",
              help="Score mask fidelity with another model's parser (e.g. a converted BiSeNet: "
                   "mgpe models convert); labels converted by class name [default: the "
                   "model's own].")
@click.option("--compile", "compile_synthesis", is_flag=True,
              help="Compile the synthesis network first (torch.compile; tens of seconds up "
                   "front, then faster edits: worth it for large --n).")
@click.option("--no-colour-match", "no_colour_match", is_flag=True,
              help="Blend the edits without the engine's tone matching (as `mgpe edit "
                   "--no-colour-match`): to measure what it does to the seams and colours.")
@overwrite_option("report files")
def eval_command(model, data, n, split, as_json, out, device, seed, fid_weights, ops,
                 parser, compile_synthesis, no_colour_match, overwrite):
    """Benchmark a model: reconstruction (PSNR, SSIM), mask fidelity (parser mIoU of edited
    outputs), style transfer (colour distance to the style source), locality (change outside
    the edited region) and, with --fid-weights, FID.

    Every edit runs through the registered operation's own code, as `mgpe edit` runs it;
    an operation declares how it is scored (docs/plugins.md), so a plugin's operation is
    scored like a built-in one.

    \b
    Examples:
      mgpe eval --model mgpe-synth-128 --n 200 --out eval-report/
      mgpe eval --ops swap-brows,swap-nose --n 50
    """
    import json

    from mgpe_core.console import err_console, progress_bar
    from mgpe_core.evaluate import (
        evaluate,
        json_report,
        report_markdown,
        select_cases,
        write_report,
    )
    from mgpe_core.registry import DEFAULT_MODEL, find_model

    find_model(model or DEFAULT_MODEL)  # an unknown name fails now, with suggestions
    if ops is not None:
        ops = [o.strip() for o in ops.split(",") if o.strip()]
        select_cases(ops)  # an unknown operation fails now, with suggestions
    if parser is not None:
        from mgpe_core.evaluate import parser_for_scoring

        parser_for_scoring(parser)  # an unknown model or one without a parser fails now
    if out is not None:  # the report is written last: refuse an impossible --out first
        from mgpe_core.outputs import check_folder_output

        # an earlier report folder (report.json) is replaced; another folder with files only
        # with --overwrite; never the data folder or one around it
        check_folder_output(out, "report.json", "mgpe eval", overwrite=overwrite,
                            reads=[data] if data is not None else [], option="--out")
    if data is not None:
        from mgpe_core.data.prepared import PreparedFolder

        PreparedFolder(data)  # a missing or invalid folder fails before any network loads
    if fid_weights is not None:
        from mgpe_core.metrics.inception import load_inception

        # a missing or wrong weights file fails now, not after the whole benchmark (which may
        # also skip FID altogether, e.g. with fewer than 2 faces)
        load_inception(fid_weights, device="cpu", channels_last=False)
    with progress_bar("evaluating", None) as advance:
        report = evaluate(model or DEFAULT_MODEL, data, n=n, seed=seed, device=device,
                          fid_weights=fid_weights, progress=advance, split=split,
                          compile=compile_synthesis, ops=ops, parser=parser,
                          match_colour=not no_colour_match)
    data_json = write_report(report, out) if out is not None else json_report(report)
    if as_json:
        click.echo(json.dumps(data_json, indent=2))
    else:
        click.echo(report_markdown(data_json, examples=None))
    where = f" -> {out}" if out is not None else ""
    err_console.print(f"[green]done[/]: {data_json['n']} faces in {data_json['seconds']:.1f} s"
                      f"{where}", highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(eval_command)
