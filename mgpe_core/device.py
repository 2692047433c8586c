"""Which device work runs on: one resolver for editing, parsing, evaluation and training.

Editing needs nothing from training, so device choice lives here rather than in
:mod:`mgpe_core.train.distributed` (which re-exports it for torchrun).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .errors import UsageError

if TYPE_CHECKING:
    from .train.distributed import DistInfo


def resolve_device(spec: str | torch.device, info: DistInfo | None = None) -> torch.device:
    """``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:i`` (or ``mps``), or
    a :class:`torch.device` (checked the same way). A device that does not exist here is a
    :class:`~mgpe_core.errors.UsageError`, never a torch traceback.

    Under torchrun with CUDA, ``auto``/``cuda`` pick the process's LOCAL_RANK GPU.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise UsageError(f"device must be a name such as 'cpu' or 'cuda:0', not {spec!r}")
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {spec}: CUDA is not available on this machine "
                             "(use --device cpu)")
        if spec == "cuda":
            local = info.local_rank if info is not None and info.enabled else 0
            return torch.device("cuda", local)
        try:
            index = int(spec.split(":", 1)[1])
        except (IndexError, ValueError):
            raise UsageError(f"--device {spec}: expected cuda or cuda:<index>") from None
        if index >= torch.cuda.device_count():
            raise UsageError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s) found")
        return torch.device("cuda", index)
    if spec == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    raise UsageError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:<index>")


def bf16_emulation_note(precision: str, device: torch.device) -> str | None:
    """A warning when bf16 would run emulated: on a CPU without AVX-512 BF16 / AMX (an AVX2
    machine) oneDNN converts every bf16 operation, and a bf16 training step of the built-in
    recipe took 120 s instead of 6.6 s in fp32 (20x slower). None when bf16 is native or
    not asked for."""
    if precision != "bf16" or device.type != "cpu":
        return None
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or differently built torch: say nothing
        return None
    if native:
        return None
    cap = torch.backends.cpu.get_cpu_capability()
    return (f"this CPU ({cap}) has no native bf16: bf16 runs emulated, many times slower "
            "than fp32 here; use --precision fp32")
