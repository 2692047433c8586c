"""The console API for commands, plugins' included: diagnostics and progress go to stderr,
data to stdout.

A command plugin reports through this module (never through ``mgpe_cli``, which loads plugins
and would import them back)::

    from mgpe_core.console import err_console, progress_bar

    with progress_bar("my work", total=len(items)) as advance:
        for item in items:
            ...
            advance()            # advance(n) for n items; advance.set_total(n) when the size
                                 # is found later; advance.describe(text) for live figures
    err_console.print("[green]done[/]: 3 files", highlight=False)

``err_console`` and ``out_console`` are :class:`rich.console.Console` objects; the bar is hidden
when stderr is not a terminal (CI logs, pipes). See docs/plugins.md.
"""

from __future__ import annotations

import contextlib

from rich.console import Console

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


MIN_RATE_SECONDS = 1.0


def _rate_column_class():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, the figure users compare across machines.

        Shown from the first second on: work that finishes in chunks (a process pool's) lands
        its first results within milliseconds of each other, and a rate over that span read
        hundreds of thousands per second.
        """

        def render(self, task):
            settled = task.speed and (task.elapsed or 0.0) >= MIN_RATE_SECONDS
            return Text(f"{task.speed:.1f}/s" if settled else "-/s", style="cyan")

    return RateColumn


@contextlib.contextmanager
def progress_bar(description: str, total: int | None):
    """Yield ``advance(n=1)`` (with ``advance.set_total(n)`` for work whose size is found
    later and ``advance.describe(text)`` to show live figures such as losses); shows a rich
    bar with rate and ETA on stderr.

    The bar is hidden when stderr is not a terminal (CI logs, pipes) to keep logs clean; a final
    summary line is the command's job.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    _RateColumn = _rate_column_class()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        advance.set_total = lambda n: progress.update(task, total=n)
        advance.describe = lambda text: progress.update(task, description=text)
        yield advance
