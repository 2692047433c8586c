"""The CLI's console: the core's consoles and progress bars (:mod:`mgpe_core.console`, the API
plugins use too), plus the one-time report of plugin load problems."""

from __future__ import annotations

from mgpe_core.console import err_console, out_console, progress_bar

__all__ = ["err_console", "out_console", "progress_bar", "report_plugin_errors"]

_reported = False


def report_plugin_errors() -> None:
    """Print plugin load/registration problems once per process, as warnings on stderr."""
    global _reported
    if _reported:
        return
    _reported = True
    from mgpe_core.plugins import load_plugins

    for message in load_plugins().errors:
        err_console.print(f"warning: {message}", markup=False, highlight=False)
