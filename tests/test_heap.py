"""Heap retention: freed large blocks are reused without page faults, only where asked for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="glibc only",
)

# Allocates and frees 64 MiB, then counts the minor page faults of allocating and touching
# another 64 MiB: a fresh mmap faults every 4 KiB page (16384), reused heap pages do not.
_FAULTS = """
import resource
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
n = 64 << 20
a = bytearray(n); del a
f0 = faults(); b = bytearray(n); f1 = faults()
print(SETUP_RESULT, f1 - f0)
"""


def _faults_after(setup: str, env_extra: dict[str, str] | None = None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "MGPE_RETAIN_HEAP"}
    env.update(env_extra or {})
    code = setup + _FAULTS
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, check=True).stdout.split()
    return out[-2], int(out[-1])


def test_default_heap_page_faults_a_fresh_large_block():
    took, faults = _faults_after("SETUP_RESULT = 'none'\n")
    assert faults > 10_000


def test_retained_heap_reuses_freed_pages():
    took, faults = _faults_after(
        "from mgpe_core.heap import retain_freed_memory\nSETUP_RESULT = retain_freed_memory()\n")
    assert took == "True"
    assert faults < 1_000


def test_retention_can_be_turned_off():
    took, faults = _faults_after(
        "from mgpe_core.heap import retain_freed_memory\nSETUP_RESULT = retain_freed_memory()\n",
        {"MGPE_RETAIN_HEAP": "0"})
    assert took == "False"
    assert faults > 10_000


def test_cli_process_retains_the_heap_but_a_function_call_does_not():
    as_command = ("import sys\nfrom mgpe_cli.main import main\nsys.argv = ['mgpe', '--version']\n"
                  "main()\nSETUP_RESULT = 'command'\n")
    as_function = ("from mgpe_cli.main import main\nmain(['--version'])\n"
                   "SETUP_RESULT = 'function'\n")
    assert _faults_after(as_command)[1] < 1_000
    assert _faults_after(as_function)[1] > 10_000
