"""Keep freed memory in the process heap, so large tensors do not page-fault on every call.

glibc's malloc serves every block over 32 MiB (and, by default, over 128 KiB) with a fresh
``mmap`` and returns it to the system on ``free``. A forward pass at 256 px, batch 8, allocates
and frees activations of 16-134 MB per layer, so each call touches those pages anew: about
1.4 million minor page faults (5.5 GB zeroed by the kernel) per edit batch on the project's CPU
machine. Serving those blocks from the heap and keeping the heap's freed top instead of trimming
it makes later calls reuse the same pages: batch 8 edits 1.12x (128 px) and 1.21x (256 px)
faster, a 128 px training step 1.16x; batch 1 edits unchanged (``bench/bench_allocator.py``).

The cost is memory: the process keeps up to its peak after the peak has passed. That suits a
command that runs the networks and exits; a long-lived host process can leave it off. glibc
only; elsewhere (macOS, musl) this is a no-op.
"""

from __future__ import annotations

import os

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_MAX = -4
DISABLE_ENV = "MGPE_RETAIN_HEAP"  # "0" leaves the C library's defaults alone
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap top


def _glibc_mallopt():
    """The C library's ``mallopt`` when it is glibc's, else None (no C library probing)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (AttributeError, ValueError, OSError):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def retain_freed_memory() -> bool:
    """Serve all blocks from the heap and stop trimming it; True when the settings took.

    Call it once, early in a process that will run the networks (the CLI does, for its own
    process only). Skipped when ``MGPE_RETAIN_HEAP=0`` is set or the C library is not glibc.
    """
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    # mallopt returns 1 on success, 0 on error
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
