"""Exponential moving average of the generator's weights (the variant shipped for editing)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(model: nn.Module) -> nn.Module:
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def warmup_decay(decay: float, step: int) -> float:
    """Decay used at ``step`` (0-based): ramps up as (1 + step) / (10 + step) to ``decay``, so an
    early checkpoint's EMA follows the trained weights instead of the random initialisation."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int | None = None) -> None:
    """Parameters: ema = d * ema + (1 - d) * model, d = ``decay`` (warmed up by ``step`` when
    given). Buffers (BatchNorm statistics) are copied: averaging them has no meaning."""
    if step is not None:
        decay = warmup_decay(decay, step)
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
