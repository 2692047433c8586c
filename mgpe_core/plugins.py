"""Plugin discovery and registration (pluggy; entry-point group ``mgpe``).

Built-in plugins are listed by their package (:data:`BUILTIN_PACKAGE`) and loaded exactly like
third-party ones.
Loading is isolated per plugin: a plugin that fails to import or to register is reported (once,
on stderr, by the CLI) and skipped, so one broken package never takes down other commands.
``MGPE_STRICT_PLUGINS=1`` makes such failures fatal (for plugin development and CI);
``MGPE_DISABLE_PLUGINS=a,b`` blocks plugins by name.

Hooks take a ``register`` callback; the manager wraps it per plugin, so it knows who registered
what. Two plugins registering the same name is an error that names both (never resolved by load
order). Everything here is cheap: plugin modules must not import torch at import time.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import MgpeError

GROUP = "mgpe"

#: The package of the built-in plugins. It lists its own plugin modules (``BUILTIN_PLUGINS`` in
#: its ``__init__``), so the core names none of them; they are loaded like entry points.
BUILTIN_PACKAGE = "mgpe_plugins"


def builtin_plugin_modules() -> tuple[str, ...]:
    """Module names of the built-in plugins, in load order (empty without the package)."""
    try:
        package = importlib.import_module(BUILTIN_PACKAGE)
    except ImportError:
        return ()
    return tuple(getattr(package, "BUILTIN_PLUGINS", ()))


class PluginError(MgpeError):
    """A plugin failed to load or register, or two plugins clash."""


#: What a plugin may raise that is its failure, not the user's: any exception, and also
#: ``SystemExit`` (a plugin calling ``sys.exit()``) and ``KeyboardInterrupt`` raised by its
#: code (at import or in a hook). Either would otherwise end every mgpe command without naming
#: the plugin; both are recorded and the plugin skipped like any other failure.
PLUGIN_FAULTS = (Exception, SystemExit, KeyboardInterrupt)


def fault_text(e: BaseException) -> str:
    """``Type: message`` of a plugin's exception (``SystemExit: 3``, ``KeyboardInterrupt``)."""
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _check_operation(op, plugin: str) -> str:
    """The name of an operation a plugin registers, after checking its declaration (cheap
    attributes only: ``options()`` is built when the sub-command is built)."""
    name = getattr(op, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"plugin {plugin!r} registered an operation whose name is not a "
                          f"non-empty string: {name!r}")
    for attr in ("summary", "example"):
        value = getattr(op, attr, None)
        if not isinstance(value, str):
            raise PluginError(f"plugin {plugin!r}: operation {name!r} has a {attr} that is not "
                              f"a string: {value!r}")
    kind = getattr(op, "input_kind", "image")
    if kind not in ("image", "mask"):
        raise PluginError(f"plugin {plugin!r}: operation {name!r} has input_kind {kind!r} "
                          "(image or mask)")
    if not callable(getattr(op, "options", None)) or not callable(getattr(op, "prepare", None)):
        raise PluginError(f"plugin {plugin!r}: operation {name!r} has no options() and "
                          "prepare() methods")
    return name


@dataclass
class PluginRecord:
    name: str
    module: str
    version: str | None
    builtin: bool
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class PluginState:
    manager: pluggy.PluginManager
    plugins: dict[str, PluginRecord]
    operations: dict[str, Any]
    models: dict[str, Any]
    owners: dict[tuple[str, str], str]
    errors: list[str]
    clashes: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("MGPE_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _strict() -> bool:
    return os.environ.get("MGPE_STRICT_PLUGINS", "") not in ("", "0")


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _call_impl(impl, **kwargs):
    """Call one hook implementation with only the arguments it accepts."""
    return impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})


class _Loader:
    def __init__(self):
        self.pm = _new_manager()
        self.state = PluginState(self.pm, {}, {}, {}, {}, [])

    def fail(self, record: PluginRecord | None, message: str) -> None:
        if record is not None:
            record.error = message
        self.state.errors.append(message)
        if _strict():
            raise PluginError(message + " (MGPE_STRICT_PLUGINS is set)")

    def add(self, name: str, module_name: str, version: str | None, builtin: bool,
            load) -> None:
        record = PluginRecord(name, module_name, version, builtin)
        self.state.plugins[name] = record
        try:
            module = load()
            self.pm.register(module, name=name)
        except PLUGIN_FAULTS as e:  # a broken plugin must not break other commands
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self.fail(record, f"plugin {name!r} failed to load: {fault_text(e)}")
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as e:
            self.pm.unregister(name=name)
            self.fail(record, f"plugin {name!r} is invalid: {e}")

    def load_all(self) -> PluginState:
        blocked = _disabled()
        for module_name in builtin_plugin_modules():
            name = module_name.rsplit(".", 1)[-1]
            if name in blocked or module_name in blocked:
                continue
            from . import __version__

            self.add(name, module_name, __version__, True,
                     lambda m=module_name: importlib.import_module(m))
        for ep in _entry_points():
            if ep.name in blocked:
                continue
            if ep.name in self.state.plugins:
                self.fail(None, f"plugin name {ep.name!r} is used twice "
                                f"({self.state.plugins[ep.name].module} and {ep.value})")
                continue
            version = ep.dist.version if getattr(ep, "dist", None) else None
            self.add(ep.name, ep.value, version, False, ep.load)
        self.collect()
        return self.state

    def collect(self) -> None:
        kinds = {"register_operations": ("operations", "operation"),
                 "register_models": ("models", "model")}
        for hook_name, (attr, kind) in kinds.items():
            target = getattr(self.state, attr)
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():  # load order
                plugin = impl.plugin_name
                record = self.state.plugins[plugin]

                def register(obj, value=None, *, _plugin=plugin, _target=target, _kind=kind,
                             _record=record):
                    if _kind == "operation":
                        name = _check_operation(obj, _plugin)
                    else:
                        name = obj if isinstance(obj, str) else getattr(obj, "name", None)
                    if not isinstance(name, str) or not name:
                        raise PluginError(f"plugin {_plugin!r} registered a {_kind} "
                                          f"without a name (got {name!r})")
                    if _kind == "model" and not isinstance(value, (str, os.PathLike)):
                        raise PluginError(f"plugin {_plugin!r} registered model {name!r} "
                                          f"without a folder path (got {value!r})")
                    owner = self.state.owners.get((_kind, name))
                    if (owner is not None and _kind == "model"
                            and self.state.plugins[owner].builtin and not _record.builtin):
                        # A plugin can never replace a built-in model: the built-in is kept,
                        # the plugin's model dropped, and the clash reported naming both.
                        raise PluginError(f"model {name!r} is registered by both {owner!r} "
                                          f"(built-in, kept) and {_plugin!r} (ignored); "
                                          "rename the plugin's model")
                    if owner is not None:
                        # Never resolved by load order: the name is withdrawn and using it
                        # fails with a message naming both plugins.
                        _target.pop(name, None)
                        self.state.clashes[(_kind, name)] = (owner, _plugin)
                        owned = self.state.plugins[owner].registered.get(_kind + "s", [])
                        if name in owned:
                            owned.remove(name)
                        raise PluginError(f"{_kind} {name!r} is registered by both "
                                          f"{owner!r} and {_plugin!r}")
                    self.state.owners[(_kind, name)] = _plugin
                    _target[name] = obj if value is None else value
                    _record.registered.setdefault(_kind + "s", []).append(name)

                try:
                    _call_impl(impl, register=register)
                except PluginError as e:
                    self.fail(record, str(e))
                except PLUGIN_FAULTS as e:
                    self.fail(record, f"plugin {plugin!r} failed in {hook_name}: "
                                      f"{fault_text(e)}")


def _entry_points():
    try:
        return list(metadata.entry_points(group=GROUP))
    except Exception:  # a broken distribution's metadata must not stop mgpe
        return []


_STATE: PluginState | None = None


def load_plugins(reload: bool = False) -> PluginState:
    """Load (once per process) every plugin and collect what they register."""
    global _STATE
    if _STATE is None or reload:
        _STATE = _Loader().load_all()
    return _STATE


def plugin_failure(plugin: str | None, message: str) -> None:
    """Record a failure found after loading (a command or operation that cannot be built):
    the plugin's ``error``, the state's ``errors``; fatal (PluginError) under
    ``MGPE_STRICT_PLUGINS``."""
    state = load_plugins()
    loader = _Loader.__new__(_Loader)
    loader.state = state
    loader.fail(state.plugins.get(plugin) if plugin else None, message)


def register_commands(cli) -> None:
    """Let each plugin add click commands to the root group (errors isolated per plugin).

    Only click commands are kept: anything else a plugin puts into the group (a function, a
    string, a command under a non-string name) is removed and reported, so that listing the
    commands (``mgpe --help``) never fails for everyone."""
    import click

    state = load_plugins()
    loader = _Loader.__new__(_Loader)
    loader.state = state
    owners = {name: "mgpe" for name in set(cli.commands) | set(getattr(cli, "lazy_commands", {}))}
    for impl in state.manager.hook.register_commands.get_hookimpls():
        record = state.plugins[impl.plugin_name]
        before = dict(cli.commands)
        failure = None
        try:
            _call_impl(impl, cli=cli)
        except PLUGIN_FAULTS as e:
            failure = (f"plugin {impl.plugin_name!r} failed in register_commands: "
                       f"{fault_text(e)}")
        for name in [n for n in cli.commands if before.get(n) is not cli.commands[n]]:
            cmd = cli.commands[name]
            if not isinstance(name, str) or not isinstance(cmd, click.Command):
                del cli.commands[name]
                if name in before:
                    cli.commands[name] = before[name]
                loader.fail(record, f"plugin {impl.plugin_name!r} added a "
                                    f"{type(cmd).__name__} as command {name!r}: not a click "
                                    "command (ignored)")
                continue
            if name in owners:  # a clash: keep the first, report both
                if name in before:
                    cli.commands[name] = before[name]
                else:
                    del cli.commands[name]
                loader.fail(record, f"command {name!r} is registered by both "
                                    f"{owners[name]!r} and {impl.plugin_name!r}")
                continue
            owners[name] = impl.plugin_name
            record.registered.setdefault("commands", []).append(name)
        for name in [n for n in before if n not in cli.commands]:  # removed by the plugin
            cli.commands[name] = before[name]
        if failure is not None:
            loader.fail(record, failure)


def get_operation(name: str):
    from .errors import UsageError

    state = load_plugins()
    ops = state.operations
    if ("operation", name) in state.clashes:
        a, b = state.clashes[("operation", name)]
        raise PluginError(f"operation {name!r} is registered by both {a!r} and {b!r}; "
                          f"disable one with MGPE_DISABLE_PLUGINS")
    if name not in ops:
        from .errors import did_you_mean

        hint = did_you_mean(name, ops)
        raise UsageError(f"unknown operation {name!r}; known: {', '.join(sorted(ops))}.{hint}")
    return ops[name]


def describe_plugins() -> list[dict]:
    state = load_plugins()
    return [
        {"name": r.name, "module": r.module, "version": r.version, "builtin": r.builtin,
         "registered": r.registered, "operations": r.registered.get("operations", []),
         "error": r.error}
        for r in state.plugins.values()
    ]
