"""Exponential moving average of the generator's weights (the variant shipped for editing)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable

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


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable,
                          forward: Callable[[nn.Module, object], object]) -> int:
    """Recompute ``model``'s BatchNorm running statistics for its own weights.

    :func:`update_ema` copies the trained model's statistics, which belong to the trained
    weights of the last few steps, not to the EMA's average of the last ~1/(1-decay) steps: the
    mismatch makes the EMA's outputs wander from one checkpoint to the next. Here every
    BatchNorm's statistics are reset and accumulated as a plain average (``momentum=None``)
    over ``forward(model, batch)`` for each batch, in training mode ("standing statistics").
    Returns the number of batches used; with none, nothing is changed."""
    batches = iter(batches)  # one batch at a time: they may be large and on the GPU
    first = next(batches, None)
    norms = [m for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if first is None or not norms:
        return 0
    momenta, was_training = [m.momentum for m in norms], model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    count = 0
    try:
        for batch in itertools.chain([first], batches):
            forward(model, batch)
            count += 1
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return count
