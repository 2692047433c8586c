"""Plugins (and model folders) that must not break everyone: each broken one is named in one
warning or error, every other command keeps working, no traceback (issue 21)."""

import json
import shutil
import sys

import click
import pytest
from conftest import FakeEP, plugin_module

from mgpe_cli import console as cli_console
from mgpe_cli.commands.edit import edit as edit_group
from mgpe_cli.main import cli as root_group
from mgpe_cli.main import main
from mgpe_core import plugins as P
from mgpe_core.operations import Operation


class Dummy(Operation):
    def __init__(self, name, options=None):
        self.name, self.summary, self.example = name, "dummy", f"mgpe edit {name} x -o y.png"
        self._options = options

    def options(self):
        return self._options() if callable(self._options) else []


def _reset_cli():
    root_group._plugins_loaded = False
    for name in [n for n in root_group.commands if n not in ("edit", "models", "plugins")]:
        del root_group.commands[name]
    edit_group.commands.clear()
    edit_group._broken.clear()
    edit_group._warned.clear()
    cli_console._reported = False


@pytest.fixture
def fake_eps(monkeypatch):
    eps = []
    monkeypatch.setattr(P, "_entry_points", lambda: eps)
    monkeypatch.delenv("MGPE_STRICT_PLUGINS", raising=False)
    P.load_plugins(reload=True)
    _reset_cli()
    yield eps
    monkeypatch.delenv("MGPE_STRICT_PLUGINS", raising=False)
    P.load_plugins(reload=True)
    _reset_cli()


def run(capsys, *args):
    _reset_cli()
    P._STATE = None  # loaded afresh by the command
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, " ".join(err.split())  # rich wraps long lines


def assert_everyone_still_works(capsys, plugin, failures=1):
    """--help, edit --help and a built-in operation's help work; the plugin is named once per
    failure."""
    code, out, err = run(capsys, "--help")
    assert code == 0 and "models" in out and "edit" in out
    assert err.count(repr(plugin)) == failures, err
    code, out, err = run(capsys, "edit", "--help")
    assert code == 0 and "bangs" in out and "swap-mouth" in out
    assert err.count(repr(plugin)) <= 1, err  # commands are loaded by the root group only
    code, out, _ = run(capsys, "edit", "bangs", "--help")
    assert code == 0 and "--mode" in out
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    row = next(r for r in json.loads(out) if r["name"] == plugin)
    assert row["error"] and repr(plugin) in row["error"]


# -- the cases --------------------------------------------------------------------------------


def test_operation_name_not_a_string(fake_eps, capsys):
    fake_eps.append(FakeEP("badname", plugin_module(
        register_operations=lambda register: register(Dummy(42)))))
    assert_everyone_still_works(capsys, "badname")
    assert "name is not a non-empty string: 42" in P.load_plugins(reload=True).errors[0]


def test_options_that_raise(fake_eps, capsys, monkeypatch):
    def boom():
        raise RuntimeError("options exploded")

    fake_eps.append(FakeEP("boomer", plugin_module(
        register_operations=lambda register: (register(Dummy("boom-op", boom)),
                                              register(Dummy("bad-opts", lambda: "x"))))))
    code, out, err = run(capsys, "edit", "--help")
    assert code == 0 and "bangs" in out and "boom-op" not in out and "bad-opts" not in out
    assert err.count("plugin 'boomer': operation 'boom-op' is unusable: RuntimeError: "
                     "options exploded") == 1
    assert err.count("'bad-opts' is unusable: TypeError: options() returned str") == 1
    code, _, err = run(capsys, "edit", "boom-op", "x.png", "-o", "y.png")
    assert code == 1 and err.count("'boomer'") == 1 and "options exploded" in err
    assert run(capsys, "edit", "bad-opts", "x.png", "-o", "y.png")[0] == 1
    code, out, _ = run(capsys, "--help")
    assert code == 0
    code, out, _ = run(capsys, "edit", "bangs", "--help")
    assert code == 0
    monkeypatch.setenv("MGPE_STRICT_PLUGINS", "1")
    code, _, err = run(capsys, "edit", "--help")
    assert code == 1 and "'boomer'" in err and "MGPE_STRICT_PLUGINS" in err


@pytest.mark.parametrize("junk", [lambda: None, "not a command", 42])
def test_non_command_in_the_cli(fake_eps, capsys, junk):
    @click.command("fine")
    def fine():
        """A well-behaved command."""

    def register_commands(cli):
        cli.add_command(fine)
        cli.add_command(junk, "junk")

    fake_eps.append(FakeEP("junky", plugin_module(register_commands=register_commands)))
    assert_everyone_still_works(capsys, "junky")
    code, out, err = run(capsys, "--help")
    assert "junk " not in out and "fine" in out and "not a click command" in err
    assert run(capsys, "fine")[0] == 0


def test_non_string_command_name_and_removed_core_command(fake_eps, capsys):
    def register_commands(cli):
        cli.commands[7] = click.Command("seven")
        cli.commands.pop("edit", None)

    fake_eps.append(FakeEP("rude", plugin_module(register_commands=register_commands)))
    assert_everyone_still_works(capsys, "rude")


@pytest.mark.parametrize("fault, text", [(SystemExit(3), "SystemExit: 3"),
                                         (SystemExit(), "SystemExit"),
                                         (KeyboardInterrupt(), "KeyboardInterrupt")])
def test_exit_or_interrupt_at_import(fake_eps, capsys, monkeypatch, fault, text):
    fake_eps.append(FakeEP("quitter", fault))
    state = P.load_plugins(reload=True)
    assert state.plugins["quitter"].error == f"plugin 'quitter' failed to load: {text}"
    assert_everyone_still_works(capsys, "quitter")
    code, out, err = run(capsys, "models", "list", "--json")
    assert code == 0 and "Aborted" not in err
    monkeypatch.setenv("MGPE_STRICT_PLUGINS", "1")
    code, _, err = run(capsys, "edit", "--help")
    assert code == 1 and f"'quitter' failed to load: {text}" in err


def test_exit_inside_a_hook(fake_eps, capsys):
    def register_operations(register):
        register(Dummy("early-op"))
        sys.exit(5)

    fake_eps.append(FakeEP("hooky", plugin_module(register_operations=register_operations,
                                                  register_commands=lambda cli: sys.exit(6))))
    state = P.load_plugins(reload=True)
    assert "early-op" in state.operations  # what was registered before stays
    assert_everyone_still_works(capsys, "hooky", failures=2)  # one per failing hook


def test_model_under_a_builtin_name(fake_eps, capsys, tmp_path):
    from mgpe_core.registry import DEFAULT_MODEL, find_model

    fake_eps.append(FakeEP("thief", plugin_module(
        register_models=lambda register: register(DEFAULT_MODEL, tmp_path))))
    state = P.load_plugins(reload=True)
    assert state.models[DEFAULT_MODEL] != tmp_path  # the built-in wins
    assert state.owners[("model", DEFAULT_MODEL)] == "builtin_models"
    (error,) = state.errors
    assert "'builtin_models' (built-in, kept) and 'thief'" in error
    entry = find_model(DEFAULT_MODEL)
    assert entry.source == "builtin:builtin_models"
    code, out, err = run(capsys, "models", "list", "--json")
    assert code == 0 and err.count("'thief'") == 1
    row = next(r for r in json.loads(out) if r["name"] == DEFAULT_MODEL)
    assert row["error"] is None and row["source"] == "builtin:builtin_models"
    code, out, err = run(capsys, "models", "info", DEFAULT_MODEL)
    assert code == 0 and "Did you mean" not in err


def test_model_clash_between_two_plugins_is_still_withdrawn(fake_eps, tmp_path):
    for name in ("one", "two"):
        fake_eps.append(FakeEP(name, plugin_module(
            register_models=lambda register: register("shared-model", tmp_path))))
    state = P.load_plugins(reload=True)
    assert "shared-model" not in state.models
    assert any("'shared-model' is registered by both 'one' and 'two'" in e for e in state.errors)


def test_using_a_model_two_plugins_clash_on_names_both(fake_eps, tmp_path, capsys):
    """Not "unknown model" with a did-you-mean: the reason, naming both plugins."""
    for name in ("one", "two"):
        fake_eps.append(FakeEP(name, plugin_module(
            register_models=lambda register: register("shared-model", tmp_path))))
    P.load_plugins(reload=True)
    for argv in (["models", "info", "shared-model"],
                 ["edit", "bangs", "sample:0", "--mode", "add", "--model", "shared-model", "-o",
                  str(tmp_path / "o.png")]):
        code, out, err = run(capsys, *argv)
        assert code == 1, err
        assert "model 'shared-model' is registered by both plugins 'one' and 'two', so " \
            "neither is used" in err, err
        assert "unknown model" not in err and "Did you mean" not in err
    assert not (tmp_path / "o.png").exists()


def test_model_registered_without_a_path(fake_eps):
    fake_eps.append(FakeEP("pathless", plugin_module(
        register_models=lambda register: register("no-path-model"))))
    state = P.load_plugins(reload=True)
    assert "no-path-model" not in state.models
    assert "without a folder path" in state.plugins["pathless"].error


@pytest.fixture
def damaged_home(tiny_home, tmp_path, monkeypatch):
    """A MGPE_HOME with 'tiny' and damaged folders beside it."""
    models = tmp_path / "home" / "models"
    shutil.copytree(tiny_home / "models" / "tiny", models / "tiny")
    cfg = json.loads((models / "tiny" / "config.json").read_text())
    (models / "not-json").mkdir()
    (models / "not-json" / "config.json").write_text("{ truncated")
    for name, damage in {"list-config": {"config": [1, 2]},
                         "string-model": {"config": {"model": "big"}},
                         "bad-resolution": {"config": {**cfg["config"], "model": {
                             **cfg["config"]["model"], "resolution": "huge"}}},
                         "weights-list": {"weights": ["generator"]},
                         "no-format": {"format": None}}.items():
        (models / name).mkdir()
        (models / name / "config.json").write_text(json.dumps({**cfg, **damage}))
    (models / "no-config").mkdir()
    (models / "mgpe-synth-128").mkdir()  # shadows the built-in: not used, marked
    (models / "mgpe-synth-128" / "config.json").write_text(json.dumps(cfg))
    (models / ".tiny2.tmp-123").mkdir()  # an interrupted import's temporary: not a model
    (models / "stray-file.txt").write_text("x")
    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    return models


BROKEN = ("not-json", "list-config", "string-model", "bad-resolution", "weights-list",
          "no-format", "no-config")


def test_broken_model_folders_are_listed_and_marked(damaged_home, fake_eps, capsys):
    code, out, err = run(capsys, "models", "list", "--json")
    assert code == 0
    rows = {r["name"] + ("*" if r["error"] and r["name"] == "mgpe-synth-128" else ""): r
            for r in json.loads(out)}
    assert rows["tiny"]["error"] is None and rows["tiny"]["resolution"] == 64
    assert rows["mgpe-synth-128"]["error"] is None
    assert rows["mgpe-synth-128"]["source"].startswith("builtin")
    assert "not used" in rows["mgpe-synth-128*"]["error"]
    for name in BROKEN:
        assert name in rows[name]["error"], name
    assert err.count("warning: ") == len(BROKEN) + 1, err
    assert not any(n.startswith(".") or n == "stray-file.txt" for n in rows)
    assert "resolution" in rows["bad-resolution"]["error"]
    code, out, err = run(capsys, "models", "list")
    assert code == 0 and "broken" in out and "tiny" in out
    for name in ("not-json", "list-config", "no-config"):
        code, _, err = run(capsys, "models", "info", name)
        assert code in (1, 2) and name in err


def test_edit_with_another_model_still_works(damaged_home, fake_eps, capsys, tmp_path):
    code, _, err = run(capsys, "edit", "style", "sample:0", "--from", "sample:1",
                       "--model", "tiny", "-o", str(tmp_path / "out.png"))
    assert code == 0, err
    assert (tmp_path / "out.png").exists()
    code, _, err = run(capsys, "edit", "style", "sample:0", "--from", "sample:1",
                       "--model", "not-json", "-o", str(tmp_path / "bad.png"))
    assert code == 1 and "not-json" in err and "not valid JSON" in err


class Showy(Dummy):
    """A plugin operation that declares a demo row and an eval case, and whose ``options()``
    or ``prepare()`` fails."""

    def __init__(self, name, options=None, fail_prepare=False):
        super().__init__(name, options)
        self.fail_prepare = fail_prepare

    def prepare(self, ctx, target, **options):
        if self.fail_prepare:
            raise ValueError("prepare exploded")
        return super().prepare(ctx, target, **options)

    def demo_cases(self):
        from mgpe_core.operations import DemoCase

        return [DemoCase("plugin_rows", "sample:0", (), f"{self.name} row")]

    def eval_cases(self):
        from mgpe_core.operations import EvalCase

        return [EvalCase(self.name)]


def test_demo_and_eval_isolate_a_failing_plugin_operation(fake_eps, tiny_home, tmp_path,
                                                          capsys):
    """``mgpe demo`` leaves the failing rows out, naming each, and writes every other figure;
    ``mgpe eval --ops`` of such an operation is one error naming it (never "Internal error")."""
    def boom():
        raise RuntimeError("options exploded")

    fake_eps.append(FakeEP("boomer", plugin_module(
        register_operations=lambda register: (register(Showy("boom-op", boom)),
                                              register(Showy("bad-prep", fail_prepare=True))))))
    code, out, err = run(capsys, "demo", "--model", "tiny", "--out", tmp_path / "demo",
                         "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert "boom-op: boom-op row: PluginError: operation 'boom-op' is unusable: options() " \
        "raised RuntimeError: options exploded" in summary["skipped"]
    assert "bad-prep: bad-prep row: ValueError: prepare exploded" in summary["skipped"]
    assert "plugin_rows.png" not in summary["figures"] and "component_edits.png" in \
        summary["figures"]
    assert not (tmp_path / "demo" / "plugin_rows.png").exists()
    code, _, err = run(capsys, "eval", "--model", "tiny", "--n", "2", "--ops", "boom-op")
    assert code == 1, err
    assert "Error: operation 'boom-op' is unusable: options() raised RuntimeError: options " \
        "exploded" in err and "Internal error" not in err
    code, _, err = run(capsys, "eval", "--model", "tiny", "--n", "2", "--ops", "bad-prep")
    assert code == 1, err
    assert "Error: operation 'bad-prep' failed in prepare() on face 0: ValueError: prepare " \
        "exploded" in err and "Internal error" not in err
