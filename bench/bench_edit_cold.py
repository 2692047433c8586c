"""Cold-process time of one `mgpe edit`, against a cold `import torch`, and where it goes.

The command is what a user types once: ``mgpe edit swap-mouth sample:0 --reference sample:4
-o OUT.png`` with the default built-in model (``mgpe-synth-128``; when it is not installed the
first installed model is passed with ``--model`` and the table says so). Every row is the median
of ``--repeat`` fresh processes (stdout and stderr discarded); the rows take turns, so a change
in background load hits them alike. Baseline: ``python -c "import torch"``, the floor of any
command that runs a network; ``x baseline`` is the ratio to it.

The edit runs four ways: default torch threads (one per core), ``OMP_WAIT_POLICY=PASSIVE``
(same threads; waiting threads sleep instead of spinning), ``OMP_NUM_THREADS=1``, and with the
C library's malloc defaults instead of the heap retention the CLI sets
(``MGPE_RETAIN_HEAP=0``). On a machine whose cores are busy with another process, spinning
OpenMP threads wait for a thread that is not running, and every parallel region pays for it;
the outputs of all four are compared pixel for pixel. One more row calls the CLI as a
function, which skips the ``gc.freeze()`` that ``mgpe_cli.main.main`` does before the process
exits (the interpreter's final garbage collection over torch's objects).

The breakdown comes from ``--repeat`` more runs of the same command in a fresh process whose
phases are timed from inside (medians), by a driver that imports what the edit path imports
first, then wraps the registry's, engine's and CLI's functions with timers (no code changes):

- interpreter start-up and exit: the process's wall time less the time measured inside;
- imports: the CLI, plugins, torch and the mgpe modules of the edit path (with ``-X importtime``
  the largest top-level imports are listed too);
- model load: manifest verification (SHA-256 of every file in ``manifest.json``), reading,
  hashing again and parsing the safetensors files actually loaded, building the networks and
  loading the weights; editor set-up (inference copy of the generator);
- inputs (samples, the operation's mask edit), the edit itself (networks + blend), writing.

The SHA-256 cost of a load (bytes hashed per load, and the time to hash them once in a warm
process) is measured separately.

    python bench/bench_edit_cold.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MGPE = str(Path(sys.executable).with_name("mgpe"))
DEFAULT = "mgpe-synth-128"

# Runs the real CLI (mgpe_cli.main.main) in this process with timers around its phases; prints
# one JSON object of seconds on the last line of stdout.
DRIVER = r"""
import time
T0 = time.perf_counter()
import json, sys
from collections import defaultdict
import mgpe_cli.main, mgpe_cli.commands.edit as cli_edit
import mgpe_core.checkpoint as checkpoint, mgpe_core.engine as engine
import mgpe_core.registry as registry
import mgpe_core.model.build, mgpe_core.model.parser, mgpe_core.model.optimize
import mgpe_core.train.distributed, safetensors.torch, torch
from mgpe_core.plugins import load_plugins
load_plugins()
T_IMPORTS = time.perf_counter()
spent = defaultdict(float)

def timer(owner, name, label):
    fn = getattr(owner, name)
    def wrapped(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[label] += time.perf_counter() - t
    setattr(owner, name, wrapped)

timer(registry, "_require_verified", "verify")
timer(checkpoint, "load_tensors", "load_tensors")
timer(registry, "load_model", "load_model")
timer(cli_edit, "_load_editor", "load_editor")
timer(engine.Editor, "edit", "edit")
timer(cli_edit, "_write_results", "write")
timer(cli_edit, "run_operation", "run_operation")
sys.argv[0] = "mgpe"
try:
    code = mgpe_cli.main.main()  # no argv: the console script's path (gc.freeze before exit)
finally:
    T_END = time.perf_counter()
print(json.dumps({"code": code, "imports": T_IMPORTS - T0, "inside": T_END - T0,
                  "main": T_END - T_IMPORTS, **spent}))
"""

# The CLI called as a function (argv given): it does not freeze the heap before exit, which is
# how every `mgpe` process ended before the gc.freeze in mgpe_cli.main.
NO_FREEZE = "import sys; from mgpe_cli.main import main; sys.exit(main(sys.argv[1:]))"


def edit_args(model: str | None, out: Path) -> list[str]:
    args = ["edit", "swap-mouth", "sample:0", "--reference", "sample:4", "-o", str(out)]
    return args + (["--model", model] if model else [])


def pick_model() -> tuple[str | None, str]:
    """(--model to pass or None, name of the model used)."""
    from mgpe_core.registry import all_models

    names = sorted(all_models())
    if DEFAULT in names:
        return None, DEFAULT
    if not names:
        sys.exit("no model installed: `mgpe models list` is empty")
    return names[0], names[0]


def run_cold(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env={**os.environ, **(env or {})})
    return time.perf_counter() - t0


def run_driver(args: list[str], env: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], capture_output=True, text=True,
                          check=True, env={**os.environ, **env})
    wall = time.perf_counter() - t0
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec["code"] == 0, proc.stderr
    rec["wall"] = wall
    return rec


def top_imports(args: list[str], n: int = 6) -> list[tuple[str, float]]:
    """Largest top-level imports of one real `mgpe edit` run (cumulative seconds)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", MGPE, *args], capture_output=True,
                          text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue  # not an import line, or the header
        name = fields[2]
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: imported directly
            rows.append((name.strip(), int(fields[1]) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:n]


def hashing_cost(model_path: Path) -> tuple[float, float, float]:
    """(MB hashed by one load, MB of weights actually loaded, seconds to hash the former once)."""
    manifest = json.loads((model_path / "manifest.json").read_text())["files"]
    config = json.loads((model_path / "config.json").read_text())
    weights = config.get("weights", {})
    gen = weights.get("generator_ema") or weights.get("generator")
    loaded = [f for f in (gen, weights.get("parser")) if f]
    hashed = list(manifest) + loaded  # verify() hashes every file, load_tensors() again
    blobs = {f: (model_path / f).read_bytes() for f in set(hashed)}
    t0 = time.perf_counter()
    for f in hashed:
        hashlib.sha256(blobs[f]).hexdigest()
    seconds = time.perf_counter() - t0
    mb = sum(len(blobs[f]) for f in hashed) / 1e6
    return mb, sum(len(blobs[f]) for f in loaded) / 1e6, seconds


def max_pixel_diff(a: Path, b: Path) -> int:
    import numpy as np
    from PIL import Image

    x, y = (np.asarray(Image.open(p), dtype=np.int16) for p in (a, b))
    return int(np.abs(x - y).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="cold processes per row (median)")
    args = ap.parse_args()

    model_arg, model_name = pick_model()
    edit_label = "mgpe edit swap-mouth sample:0 --reference sample:4" + (
        f" --model {model_arg} (mgpe-synth-128 not installed)" if model_arg else "")
    # (row label, command, extra environment, output file or None)
    envs = {"default threads": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
            "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
            "MGPE_RETAIN_HEAP=0 (C library's malloc defaults)": {"MGPE_RETAIN_HEAP": "0"}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [
            ('python -c "import torch" (baseline)', [sys.executable, "-c", "import torch"], {},
             None),
            ("python -c pass", [sys.executable, "-c", "pass"], {}, None),
            ('python -c "import mgpe_core.engine"',
             [sys.executable, "-c", "import mgpe_core.engine"], {}, None),
        ]
        for i, (label, env) in enumerate(envs.items()):
            out = tmp / f"OUT{i}.png"
            cases.append((f"{edit_label}, {label}", [MGPE, *edit_args(model_arg, out)], env, out))
        cases.append((f"{edit_label}, OMP_WAIT_POLICY=PASSIVE, without the exit gc.freeze",
                      [sys.executable, "-c", NO_FREEZE, *edit_args(model_arg, tmp / "nf.png")],
                      envs["OMP_WAIT_POLICY=PASSIVE"], None))
        run_cold(cases[3][1])  # warm the page cache (weights, .pyc files)
        times: dict[str, list[float]] = {c[0]: [] for c in cases}
        drivers: dict[str, list[dict]] = {"default threads": [], "OMP_WAIT_POLICY=PASSIVE": []}
        driver_args = edit_args(model_arg, tmp / "driver.png")
        for _ in range(args.repeat):
            for name, cmd, env, _out in cases:
                times[name].append(run_cold(cmd, env))
            for label in drivers:
                drivers[label].append(run_driver(driver_args, envs[label]))
        outs = [c[3] for c in cases if c[3] is not None]
        diffs = {label: max_pixel_diff(outs[0], o) for label, o in zip(envs, outs, strict=True)}
        imports = top_imports(edit_args(model_arg, tmp / "imports.png"))

    med = {k: statistics.median(v) for k, v in times.items()}
    base = med['python -c "import torch" (baseline)']
    print(f"model {model_name}; median of {args.repeat} cold processes\n")
    print("| command | median s | x baseline |")
    print("|---|---:|---:|")
    for name, t in med.items():
        print(f"| `{name}` | {t:.2f} | {t / base:.2f} |")
    edit_s = med[f"{edit_label}, default threads"]
    print(f"\ntarget <= 3 s end to end: {'met' if edit_s <= 3 else 'NOT met'} ({edit_s:.2f} s, "
          "default threads)")
    print("OUT.png max |difference| from the default-threads output (0-255): "
          + ", ".join(f"{k} {v}" for k, v in diffs.items()))

    keys = ("wall", "inside", "imports", "main", "verify", "load_tensors", "load_model",
            "load_editor", "edit", "write", "run_operation")
    meds = {label: {k: statistics.median(r.get(k, 0.0) for r in recs) for k in keys}
            for label, recs in drivers.items()}

    def phases(d: dict) -> list[tuple[str, float]]:
        return [
            ("interpreter start-up + exit", d["wall"] - d["inside"]),
            ("imports (CLI, plugins, torch, mgpe modules)", d["imports"]),
            ("CLI parsing (click, operation command)", d["main"] - d["run_operation"]),
            ("model load: verify manifest (SHA-256 of every file)", d["verify"]),
            ("model load: read + SHA-256 + parse safetensors", d["load_tensors"]),
            ("model load: build networks, load weights",
             d["load_model"] - d["verify"] - d["load_tensors"]),
            ("editor set-up (inference copy: deepcopy, fold BN, channels-last)",
             d["load_editor"] - d["load_model"]),
            ("inputs (samples, mask edit)",
             d["run_operation"] - d["load_editor"] - d["edit"] - d["write"]),
            ("edit (networks + blend)", d["edit"]),
            ("write OUT.png", d["write"]),
            ("total (driver process wall time)", d["wall"]),
        ]

    table = {label: phases(d) for label, d in meds.items()}
    labels = list(table)
    print("\nBreakdown (medians of the driver runs), seconds:\n")
    print("| phase | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for i, (name, _) in enumerate(table[labels[0]]):
        print(f"| {name} | " + " | ".join(f"{table[lb][i][1]:.3f}" for lb in labels) + " |")
    print("\nLargest top-level imports of one `mgpe edit` run (-X importtime, cumulative):\n")
    print("| module | s |")
    print("|---|---:|")
    for name, s in imports:
        print(f"| `{name}` | {s:.3f} |")

    from mgpe_core.registry import find_model

    mb, loaded_mb, hash_s = hashing_cost(find_model(model_arg or DEFAULT).path)
    print(f"\nSHA-256 per load: {mb:.1f} MB hashed for {loaded_mb:.1f} MB of weights loaded, "
          f"{hash_s * 1000:.0f} ms to hash once in a warm process "
          f"({hash_s / edit_s:.1%} of the edit command)")


if __name__ == "__main__":
    main()
