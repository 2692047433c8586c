"""The CLI's contract: fast help without torch, version, exit codes, one-line errors."""

import os
import subprocess
import sys

import pytest

from mgpe_cli.main import main
from mgpe_core import __version__


def _run(args):
    return subprocess.run([sys.executable, "-m", "mgpe_cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["data", "--help"], ["data", "synth", "--help"],
                                  ["data", "prepare", "--help"], ["--version"],
                                  ["edit", "--help"], ["edit", "swap-mouth", "--help"],
                                  ["models", "--help"], ["plugins"], ["train", "--help"]])
def test_help_paths_do_not_import_torch(args):
    code = (f"import sys; from mgpe_cli.main import main; rc = main({args!r}); "
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "NOTORCH 0", proc.stdout + proc.stderr


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands_with_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "data" in out and "mgpe data synth" in out


def test_every_command_help_has_an_example(capsys):
    for args in (["data", "synth"], ["data", "prepare"], ["data", "check"]):
        assert main([*args, "--help"]) == 0
        assert "Example: mgpe " in capsys.readouterr().out


def test_unknown_command_exits_2_with_suggestion(capsys):
    assert main(["dta"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'dta'" in err and "Did you mean: data" in err


def test_bad_option_value_exits_2(capsys):
    assert main(["data", "synth", "x", "--size", "10"]) == 2
    assert "10 is not in the range 64<=x<=1024" in capsys.readouterr().err


def test_library_error_is_one_line_without_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _run(["data", "prepare", str(tmp_path / "empty"), str(tmp_path / "out")])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "is not a CelebAMask-HQ folder" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_schema_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    assert main(["data", "prepare", str(tmp_path / "src"), str(tmp_path / "o"),
                 "--schema", "mgpe11"]) == 2  # an unknown option value: a usage error
    assert "Did you mean: mgpe-11" in capsys.readouterr().err


def test_debug_shows_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _run(["--debug", "data", "prepare", str(tmp_path / "empty"), str(tmp_path / "o")])
    assert proc.returncode == 1 and "Traceback" in proc.stderr


@pytest.mark.parametrize("given, want", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_cli_makes_cpu_threads_wait_passively_unless_told(given, want):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, sys\nfrom mgpe_cli.main import main\nmain(['--version'])\n"
            "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.stdout.split()[-2:] == [want, "False"]  # set before torch could load OpenMP


def test_progress_rate_waits_for_a_settled_figure():
    """A burst of results in the first milliseconds (a pool's first chunks) shows no rate."""
    from types import SimpleNamespace

    from mgpe_core.console import MIN_RATE_SECONDS, _rate_column_class

    column = _rate_column_class()()
    burst = SimpleNamespace(speed=167734.2, elapsed=0.01)
    settled = SimpleNamespace(speed=273.5, elapsed=MIN_RATE_SECONDS + 0.5)
    nothing = SimpleNamespace(speed=None, elapsed=5.0)
    assert column.render(burst).plain == "-/s"
    assert column.render(settled).plain == "273.5/s"
    assert column.render(nothing).plain == "-/s"
