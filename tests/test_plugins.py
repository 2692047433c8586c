"""Plugin loading: built-ins, isolation of broken plugins, switches, clashes, subset hooks."""

import types

import pytest
from conftest import FakeEP, plugin_module

from mgpe_core import hookimpl, hookspecs
from mgpe_core import plugins as P
from mgpe_core.operations import Operation


class Dummy(Operation):
    def __init__(self, name):
        self.name, self.summary, self.example = name, "dummy", f"mgpe edit {name} x -o y.png"


@pytest.fixture
def fake_eps(monkeypatch):
    eps = []
    monkeypatch.setattr(P, "_entry_points", lambda: eps)
    yield eps
    # the real entry points and environment back first (a test may have set
    # MGPE_DISABLE_PLUGINS): reloading under the fakes left later tests of this worker
    # with the fake plugins and without the disabled ones ("No such operation 'style'")
    monkeypatch.undo()
    P.load_plugins(reload=True)


def test_builtins_register_every_operation():
    state = P.load_plugins(reload=True)
    assert {"mask-to-face", "swap-mouth", "swap-eyes", "swap-brows", "swap-nose", "edit-mask",
            "bangs", "style"} <= set(state.operations)
    for op in state.operations.values():
        assert op.summary and op.example.startswith(f"mgpe edit {op.name} ")
    assert state.owners[("operation", "bangs")] == "bangs"
    assert not state.errors
    with pytest.raises(Exception, match="Did you mean: bangs"):
        P.get_operation("bang")


def test_broken_plugin_is_reported_and_skipped(fake_eps, monkeypatch):
    fake_eps.append(FakeEP("broken", ImportError("no module named torchvision")))
    fake_eps.append(FakeEP("good", plugin_module(
        register_operations=lambda register: register(Dummy("dummy-op")))))
    state = P.load_plugins(reload=True)
    assert "dummy-op" in state.operations and "bangs" in state.operations
    assert state.plugins["broken"].error.startswith("plugin 'broken' failed to load")
    assert state.plugins["good"].version == "9.9"
    assert state.plugins["good"].registered == {"operations": ["dummy-op"]}
    monkeypatch.setenv("MGPE_STRICT_PLUGINS", "1")
    with pytest.raises(P.PluginError, match="'broken' failed to load"):
        P.load_plugins(reload=True)
    monkeypatch.delenv("MGPE_STRICT_PLUGINS")
    monkeypatch.setenv("MGPE_DISABLE_PLUGINS", "broken,style")
    state = P.load_plugins(reload=True)
    assert "broken" not in state.plugins and "style" not in state.operations
    assert not state.errors


def test_name_clash_is_an_error_naming_both(fake_eps):
    fake_eps.append(FakeEP("rival", plugin_module(
        register_operations=lambda register: register(Dummy("bangs")))))
    state = P.load_plugins(reload=True)
    assert any("'bangs' is registered by both 'bangs' and 'rival'" in e or
               "'bangs' is registered by both 'rival' and 'bangs'" in e for e in state.errors)
    with pytest.raises(P.PluginError, match="registered by both"):
        P.get_operation("bangs")


def test_misspelled_hook_is_caught(fake_eps):
    mod = types.ModuleType("typo")
    mod.register_operation = hookimpl(lambda register: None)  # missing "s"
    fake_eps.append(FakeEP("typo", mod))
    state = P.load_plugins(reload=True)
    assert "typo" in state.plugins and "invalid" in state.plugins["typo"].error


HOOKS = ("register_operations", "register_models", "register_commands")


def test_every_hook_is_documented_and_takes_register_or_cli():
    import inspect

    declared = {n for n in vars(hookspecs) if n.startswith("register_")}
    assert declared == set(HOOKS)
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and len(fn.__doc__) > 30
        assert list(inspect.signature(fn).parameters) in (["register"], ["cli"])


def test_hook_docs_name_what_exists():
    """The hookspec and docs/plugins.md name the hooks and Operation members that exist."""
    import re
    from pathlib import Path

    doc = hookspecs.register_operations.__doc__
    for member in ("name", "summary", "example", "input_kind", "options", "prepare"):
        assert f"``{member}" in doc and hasattr(Operation, member)
    assert "build_command" not in doc
    text = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    table = {m for m in re.findall(r"^\| `(register_\w+)\(", text, re.M)}
    assert table == set(HOOKS)  # the hooks table: every hook, nothing else
    assert "load_plugins().datasets" not in text and "`datasets`" not in text
    assert "mgpe_core.console" in text and "progress_bar" in text
    state = P.load_plugins(reload=True)
    assert not hasattr(state, "datasets") and not hasattr(state, "metrics")


def test_a_removed_hook_makes_a_plugin_invalid(fake_eps):
    """register_datasets / register_metrics were dropped: implementing one is an unknown hook."""
    mod = plugin_module(register_datasets=lambda register: None)
    fake_eps.append(FakeEP("old", mod))
    state = P.load_plugins(reload=True)
    assert "invalid" in state.plugins["old"].error
    assert "register_datasets" in state.plugins["old"].error


def test_command_clash_keeps_the_core_command(fake_eps):
    import click

    from mgpe_cli.lazy import LazyGroup

    @click.command("models")
    def fake_models():
        """Not the real one."""

    fake_eps.append(FakeEP("hijack", plugin_module(
        register_commands=lambda cli: cli.add_command(fake_models))))
    state = P.load_plugins(reload=True)
    group = LazyGroup(lazy_commands={"models": "mgpe_cli.commands.models:models"})
    P.register_commands(group)
    assert "models" not in group.commands  # the lazy core command still wins
    assert any("command 'models' is registered by both 'mgpe' and 'hijack'" in e
               for e in state.errors)
