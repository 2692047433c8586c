"""Process pools for file-crunching jobs (`mgpe data prepare -j N`, `mgpe data synth -j N`).

Spawned workers each start an interpreter and import numpy and PIL: about 0.3 s before the
first face, 13% of `prepare -j 2` on 256 faces (bench/bench_prepare.py). Forking skips that, and
is used on Linux when torch is not loaded in this process (its OpenMP threads are the classic
fork hazard); elsewhere (macOS, Windows, a process that loaded torch) workers are spawned.

Other threads may run when the pool forks (the CLI's progress bar). The workers these pools are
for only compute, read and write files and return results, touching no lock such a thread could
hold, and the pool ends them with SIGTERM, without flushing the standard streams. Work that
uses torch or prints must not run in these pools.
"""

from __future__ import annotations

import sys


def start_method() -> str:
    """"fork" on Linux when torch is not loaded in this process, else "spawn"."""
    import multiprocessing as mp

    if (sys.platform.startswith("linux") and "torch" not in sys.modules
            and "fork" in mp.get_all_start_methods()):
        return "fork"
    return "spawn"


def process_pool(workers: int):
    """A ``multiprocessing`` pool of ``workers`` processes, started the :func:`start_method`
    way; use it as a context manager."""
    import multiprocessing as mp
    import warnings

    with warnings.catch_warnings():  # Python >= 3.12 warns about forking with threads
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        return mp.get_context(start_method()).Pool(workers)
