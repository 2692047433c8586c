"""The example plugin package (examples/mgpe-plugin-example) end to end, as a user would see it.

A throwaway virtualenv (no pip of its own, no network) sees this interpreter's site-packages
through a ``.pth`` file, so torch and mgpe (an editable install) are importable there; the example
is then pip-installed into it for real (``--no-index --no-build-isolation``: setuptools comes from
the parent environment), which writes its ``mgpe`` entry point. Everything runs through the CLI in
subprocesses, so the plugin is found by entry-point discovery exactly as after ``pip install``.

A second, broken plugin (its module raises ImportError) is an installed distribution laid out by
hand in a separate folder put on PYTHONPATH for the isolation tests only, so the shared venv stays
clean for the other tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "mgpe-plugin-example"
OP = "flip-mask"
TIMEOUT = 120  # seconds per subprocess (each takes ~1-3 s)

pytestmark = pytest.mark.slow  # a pip install into a fresh venv, then subprocesses


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MGPE_DISABLE_PLUGINS", "MGPE_STRICT_PLUGINS", "MGPE_DEBUG",
                        "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(COLUMNS="200", OMP_NUM_THREADS="2", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONDONTWRITEBYTECODE="1")
    for key, value in extra.items():
        if key == "PYTHONPATH" and env.get(key):
            value = os.pathsep.join([str(value), env[key]])
        env[key] = str(value)
    return env


def run(python: Path, *args, check: bool = True, **env) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(python), *map(str, args)], capture_output=True, text=True,
                          env=_env(**env), timeout=TIMEOUT)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def mgpe(python: Path, *args, check: bool = True, **env) -> subprocess.CompletedProcess:
    return run(python, "-m", "mgpe_cli", *args, check=check, **env)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> Path:
    """A fresh venv with the example plugin pip-installed (offline)."""
    tmp = tmp_path_factory.mktemp("example_plugin")
    venv = tmp / "venv"
    # --without-pip: faster, and the parent's pip and setuptools are used (seen via the .pth).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=TIMEOUT, env=_env())
    python = _venv_python(venv)
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    lines = [f"import site; site.addsitedir({d!r})" for d in _site_dirs()]
    (Path(purelib.stdout.strip()) / "_mgpe_parent_env.pth").write_text("\n".join(lines) + "\n")
    # Build from a copy: pip builds in the source tree (build/, *.egg-info) and the checkout
    # must stay untouched.
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation",
        "--no-cache-dir", "--quiet", src)
    return python


@pytest.fixture(scope="module")
def broken_plugin(tmp_path_factory) -> Path:
    """A folder holding an installed distribution whose ``mgpe`` entry point fails to import."""
    site = tmp_path_factory.mktemp("broken_site")
    (site / "mgpe_broken_plugin.py").write_text(
        'raise ImportError("mgpe_broken_plugin needs a library that is not installed")\n')
    info = site / "mgpe_broken_plugin-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mgpe-broken-plugin\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[mgpe]\nbroken = mgpe_broken_plugin\n")
    return site


def test_example_is_listed_with_its_operation_and_version(venv_python):
    proc = mgpe(venv_python, "plugins", "--json")
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    row = rows["example"]
    assert row["module"] == "mgpe_plugin_example.plugin"
    assert row["version"] == "0.1.0"
    assert row["builtin"] is False
    assert row["operations"] == [OP]
    assert row["registered"] == {"operations": [OP]}
    assert row["error"] is None
    assert rows["style"]["builtin"] is True  # built-ins are still there
    assert "warning" not in proc.stderr


def test_edit_help_lists_the_operation(venv_python):
    out = mgpe(venv_python, "edit", "--help").stdout
    assert OP in out
    assert "mirrored mask" in out  # the summary is the short help
    help_text = mgpe(venv_python, "edit", OP, "--help").stdout
    assert f"Example: mgpe edit {OP} sample:0 -o flipped.png" in help_text
    assert "--mirror-styles" in help_text


def test_edit_runs_the_operation(venv_python, tiny_home, tmp_path):
    from mgpe_core.engine import to_square
    from mgpe_core.io import read_image, read_label_map
    from mgpe_core.operations import OpContext

    out = tmp_path / "out.png"
    proc = mgpe(venv_python, "edit", OP, "sample:0", "--model", "tiny", "-o", out, "--crop",
                "--save-mask", "--mirror-styles", "--json", MGPE_HOME=tiny_home)
    summary = json.loads(proc.stdout)
    assert summary["operation"] == OP
    assert summary["model"] == "tiny"
    assert summary["outputs"][0]["output"] == str(out)
    image = read_image(out)
    assert image.shape == (64, 64, 3)  # the model's resolution (--crop)

    # The mask used is the photo's own, mirrored with left/right classes swapped.
    used, schema = read_label_map(Path(summary["outputs"][0]["mask"]))
    sample = OpContext(schema).portrait("sample:0")
    _, expected, _ = to_square(sample.image, schema.flip(sample.labels), 64)
    np.testing.assert_array_equal(used, expected)
    _, own, _ = to_square(sample.image, sample.labels, 64)
    assert (used != own).any()


def test_eval_and_demo_run_the_operation(venv_python, tiny_home, tmp_path):
    """The plugin's declared evaluation cases are scored by `mgpe eval --ops`, like a built-in
    operation's, and its demo row joins the built-in figure."""
    proc = mgpe(venv_python, "eval", "--ops", OP, "--n", "4", "--model", "tiny", "--json",
                MGPE_HOME=tiny_home)
    report = json.loads(proc.stdout)
    scored = report["mask_fidelity"]["operations"]
    assert set(scored) == {OP, f"{OP}-mirror-styles"}
    assert scored[OP]["n"] == 4 and 0 <= scored[OP]["mean_iou"] <= 1
    assert set(report["locality"]["operations"]) == {OP, f"{OP}-mirror-styles"}
    assert report["style_transfer"]["regions"] == {}  # no colour case declared

    # Not part of the default benchmark: installing a plugin leaves its figures alone.
    proc = mgpe(venv_python, "eval", "--n", "2", "--model", "tiny", "--json",
                MGPE_HOME=tiny_home)
    assert OP not in json.loads(proc.stdout)["mask_fidelity"]["operations"]

    proc = mgpe(venv_python, "demo", "--model", "tiny", "-o", tmp_path / "demo", "--json",
                MGPE_HOME=tiny_home)
    summary = json.loads(proc.stdout)
    assert f"{OP}: mirrored mask" in summary["rows"]["component_edits"]
    assert (tmp_path / "demo" / "component_edits.png").is_file()


def test_broken_plugin_is_isolated(venv_python, broken_plugin):
    proc = mgpe(venv_python, "plugins", "--json", PYTHONPATH=broken_plugin)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert "ImportError" in rows["broken"]["error"]
    assert "not installed" in rows["broken"]["error"]
    assert rows["broken"]["version"] == "0.0.1"
    assert rows["example"]["error"] is None and rows["example"]["operations"] == [OP]
    assert "warning" in proc.stderr and "'broken'" in proc.stderr
    # Other commands keep working, the example's operation included.
    assert OP in mgpe(venv_python, "edit", "--help", PYTHONPATH=broken_plugin).stdout


def test_broken_plugin_is_fatal_when_strict(venv_python, broken_plugin):
    proc = mgpe(venv_python, "plugins", "--json", check=False, PYTHONPATH=broken_plugin,
                MGPE_STRICT_PLUGINS="1")
    assert proc.returncode == 1, proc.stderr
    assert "'broken'" in proc.stderr and "MGPE_STRICT_PLUGINS" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_broken_plugin_can_be_disabled(venv_python, broken_plugin):
    proc = mgpe(venv_python, "plugins", "--json", PYTHONPATH=broken_plugin,
                MGPE_DISABLE_PLUGINS="broken", MGPE_STRICT_PLUGINS="1")
    names = [r["name"] for r in json.loads(proc.stdout)]
    assert "broken" not in names and "example" in names
    assert "broken" not in proc.stderr
    # And disabling the example removes its operation.
    proc = mgpe(venv_python, "plugins", "--json", MGPE_DISABLE_PLUGINS="example")
    rows = json.loads(proc.stdout)
    assert "example" not in [r["name"] for r in rows]
    assert all(OP not in r["operations"] for r in rows)
