"""A click group whose sub-commands are imported only when they run (or when help lists them).

The root maps command names to ``"module:attribute"`` strings, so ``mgpe --help`` and shell
completion never import a command's dependencies.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """``lazy_commands``: name -> "module:attr" of a click command, imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None,
                 load_plugins=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        self._load_plugins = load_plugins
        self._plugins_loaded = False

    def _plugin_commands(self) -> None:
        """Let plugins add their commands, once (plugin modules are light to import)."""
        if not self._plugins_loaded and self._load_plugins is not None:
            self._plugins_loaded = True
            self._load_plugins(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands and cmd_name not in self.commands:
            self._plugin_commands()
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attr = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter) -> None:
        """click's listing, except that a command whose short help cannot be built (a plugin's
        command with a malformed help) is listed without it instead of failing ``--help``."""
        commands = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                commands.append((name, cmd))
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        rows = []
        for name, cmd in commands:
            try:
                text = cmd.get_short_help_str(limit)
            except Exception:  # noqa: BLE001 - a plugin's help must not break everyone's
                text = "(no help: its help text is malformed)"
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        # Suggest close matches for a mistyped command (click only says "No such command").
        name = click.utils.make_str(args[0]) if args else None
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from mgpe_core.errors import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)
