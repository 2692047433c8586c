"""The plugin hooks of mgpe (pluggy, project name and entry-point group ``mgpe``).

Every hook receives a ``register`` callback instead of returning lists, so the core knows which
plugin registered what (``mgpe plugins --json`` shows it). Implementations may accept a subset of
a hook's arguments; hooks may gain keyword arguments later, never lose one.

A plugin is a module with functions marked ``@hookimpl``::

    from mgpe_core import hookimpl

    @hookimpl
    def register_operations(register):
        register(MyOperation())

Plugin modules must import nothing heavy (no torch) at import time.
"""

import pluggy

hookspec = pluggy.HookspecMarker("mgpe")
hookimpl = pluggy.HookimplMarker("mgpe")


@hookspec
def register_operations(register):
    """Register edit operations: ``register(operation)``, where ``operation`` is a
    ``mgpe_core.operations.Operation`` (``name``, ``summary``, ``example``, ``input_kind``,
    ``options()``, ``prepare(ctx, target, **options)``); the CLI builds ``mgpe edit <name>``
    from it, and ``prepare`` only describes the edit (it never runs networks)."""


@hookspec
def register_models(register):
    """Register model folders: ``register(name, path)`` for built-in or packaged models."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the root ``mgpe`` group: ``cli.add_command(cmd)``.

    Commands report through ``mgpe_core.console`` (``err_console``, ``progress_bar``) and raise
    ``mgpe_core.errors`` types; they never import ``mgpe_cli``, which loads the plugins."""

