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
    """Register edit operations: ``register(operation)`` where ``operation`` has ``name``,
    ``summary`` and ``build_command()`` / ``prepare(...)`` (see ``mgpe_core.operations``)."""


@hookspec
def register_models(register):
    """Register model folders: ``register(name, path)`` for built-in or packaged models."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the root ``mgpe`` group: ``cli.add_command(cmd)``."""


@hookspec
def register_datasets(register):
    """Register dataset makers: ``register(name, factory)``."""


@hookspec
def register_metrics(register):
    """Register evaluation metrics: ``register(name, function)``."""
