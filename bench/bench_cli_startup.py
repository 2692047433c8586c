"""Start-up time of the CLI's help paths, against Python itself and a bare `import torch`.

Prints a table of medians over --repeat cold processes. `mgpe --help` must not import torch:
its time should sit near the Python baseline, far from the torch row.

    python bench/bench_cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = [
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
    ("python -c 'import torch'", [sys.executable, "-c", "import torch"]),
    ("mgpe --help", [sys.executable, "-m", "mgpe_cli", "--help"]),
    ("mgpe --version", [sys.executable, "-m", "mgpe_cli", "--version"]),
    ("mgpe data --help", [sys.executable, "-m", "mgpe_cli", "data", "--help"]),
    ("mgpe data synth --help", [sys.executable, "-m", "mgpe_cli", "data", "synth", "--help"]),
    ("mgpe edit --help", [sys.executable, "-m", "mgpe_cli", "edit", "--help"]),
    ("mgpe edit swap-mouth --help",
     [sys.executable, "-m", "mgpe_cli", "edit", "swap-mouth", "--help"]),
]


def median_seconds(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rows = [(name, median_seconds(cmd, args.repeat)) for name, cmd in CASES]
    base = rows[0][1]
    print(f"{'command':<28} {'median s':>9} {'x baseline':>11}")
    for name, t in rows:
        print(f"{name:<28} {t:>9.3f} {t / base:>11.2f}")


if __name__ == "__main__":
    main()
