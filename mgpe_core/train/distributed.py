"""``torchrun`` integration (device choice itself lives in :mod:`mgpe_core.device`).

Rank, local rank and world size come from the environment that ``torchrun`` sets (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``); there is deliberately no ``--local_rank`` argument. Without
those variables everything runs in one process. The backend is NCCL on CUDA and gloo on the CPU
(which is how the tests exercise the distributed path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..device import bf16_emulation_note, resolve_device  # noqa: F401 (re-exported)
from ..errors import UsageError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def dist_info_from_env() -> DistInfo:
    try:
        return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                        int(os.environ.get("WORLD_SIZE", 1)))
    except ValueError as e:
        raise UsageError(f"bad torchrun environment: {e}") from None


def init_process_group(info: DistInfo, device: torch.device) -> None:
    if not info.enabled or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend=backend, rank=info.rank,
                                         world_size=info.world_size)


def destroy_process_group(info: DistInfo) -> None:
    if info.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def precision_context(precision: str, device: torch.device):
    """Autocast for bf16 / fp16; a no-op context for fp32."""
    import contextlib

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "cpu" and precision == "fp16":
        raise UsageError("fp16 autocast needs a GPU; use --precision bf16 on the CPU")
    return torch.autocast(device.type, dtype=dtype)
