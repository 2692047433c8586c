"""``mgpe plugins``: what is installed and what each plugin registered."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array on stdout.")
def plugins(as_json):
    """List plugins (built-in and installed), their versions and what each registered.

    Example: mgpe plugins --json
    """
    from mgpe_core.plugins import describe_plugins

    from ..console import out_console
    from ..main import cli

    cli.list_commands(click.get_current_context())  # make sure command hooks ran
    rows = describe_plugins()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="mgpe plugins")
    for col in ("name", "version", "kind", "registered", "status"):
        table.add_column(col)
    for r in rows:
        reg = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["registered"].items()) or "-"
        table.add_row(r["name"], r["version"] or "-", "built-in" if r["builtin"] else "installed",
                      reg, "[red]error[/]" if r["error"] else "ok")
    out_console.print(table)
