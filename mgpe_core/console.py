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

``err_console`` and ``out_console`` are :class:`rich.console.Console` objects. When stderr is
not a terminal (CI logs, pipes, ``nohup ... > log``) the bar is replaced by a plain progress
line every :data:`HEARTBEAT_SECONDS` (``MGPE_PROGRESS_SECONDS``), so a log of long work is never
empty for long and a short command's log stays clean. See docs/plugins.md.
"""

from __future__ import annotations

import contextlib
import os
import time

from rich.console import Console

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


MIN_RATE_SECONDS = 1.0

#: Seconds between the plain progress lines written when stderr is not a terminal; the
#: environment variable ``MGPE_PROGRESS_SECONDS`` overrides it (0: a line at every advance).
HEARTBEAT_SECONDS = 60.0


def duration_text(seconds: float) -> str:
    """A duration as people read it in a log: ``42 s``, ``3 min 05 s``, ``2 h 07 min``,
    ``1 d 4 h``."""
    seconds = int(round(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m:02d} min"
    return f"{m} min {s:02d} s" if m else f"{s} s"


def heartbeat_seconds() -> float:
    """:data:`HEARTBEAT_SECONDS`, or ``MGPE_PROGRESS_SECONDS`` when set to a number >= 0."""
    try:
        value = float(os.environ.get("MGPE_PROGRESS_SECONDS", HEARTBEAT_SECONDS))
    except ValueError:
        return HEARTBEAT_SECONDS
    return value if value >= 0 else HEARTBEAT_SECONDS


class _Heartbeat:
    """The plain progress line of a bar that cannot be drawn: ``rendering faces: 1200/6000
    (20%), 9.8/s, ETA 8 min 10 s, 2 min 02 s so far`` on stderr, at most every ``every``
    seconds, the first one ``every`` seconds after the start (work shorter than that prints
    nothing)."""

    def __init__(self, description: str, total: int | None, every: float,
                 now=time.monotonic):
        self.description, self.total, self.every, self.now = description, total, every, now
        self.done = 0
        self.start = self.last = now()

    def advance(self, n: int) -> None:
        self.done += n
        t = self.now()
        if t - self.last >= self.every:
            self.last = t
            err_console.print(self.line(t - self.start), highlight=False, soft_wrap=True,
                              markup=False)

    def line(self, elapsed: float) -> str:
        text = f"{self.description}: {self.done}"
        if self.total:
            text += f"/{self.total} ({100 * self.done / self.total:.0f}%)"
        if elapsed >= MIN_RATE_SECONDS and self.done:
            rate = self.done / elapsed
            text += f", {rate:.1f}/s"
            if self.total and self.done < self.total:
                text += f", ETA {duration_text((self.total - self.done) / rate)}"
        return text + f", {duration_text(elapsed)} so far"


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
def progress_bar(description: str, total: int | None, heartbeat: bool = True):
    """Yield ``advance(n=1)`` (with ``advance.set_total(n)`` for work whose size is found
    later and ``advance.describe(text)`` to show live figures such as losses); shows a rich
    bar with rate and ETA on stderr.

    When stderr is not a terminal (CI logs, pipes) the bar is hidden and, unless
    ``heartbeat=False`` (a command that logs its own lines, such as ``mgpe train``), a plain
    line (:class:`_Heartbeat`) says every :func:`heartbeat_seconds` how far the work is; a final
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
    beat = (_Heartbeat(description, total, heartbeat_seconds())
            if heartbeat and not err_console.is_terminal else None)
    with progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)
            if beat is not None:
                beat.advance(n)

        def set_total(n: int) -> None:
            progress.update(task, total=n)
            if beat is not None:
                beat.total = n

        advance.set_total = set_total
        advance.describe = lambda text: progress.update(task, description=text)
        yield advance
