"""Inference-time speed-ups that keep outputs equal (within float tolerance).

- ``fold_batchnorm``: in eval mode a BatchNorm after a conv is an affine map per channel, so it
  folds into the conv's weights and bias (one pass over memory instead of two).
- ``prepare_for_inference``: eval mode, folded norms, frozen parameters and, optionally,
  channels-last memory format (faster convolutions on CPUs with oneDNN and on GPUs).

These are applied to a *copy* used for editing; training always uses the plain modules.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every (Conv2d | ConvTranspose2d, BatchNorm2d) pair that sits next to each other in
    an ``nn.Sequential`` (how all mgpe networks are built). Returns the number folded.
    Must be called in eval mode: running statistics are used."""
    if module.training:
        raise RuntimeError("fold_batchnorm needs eval mode (it uses the running statistics)")
    folded = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        names = list(child._modules)
        for a, b in zip(names, names[1:], strict=False):
            conv, bn = child._modules[a], child._modules[b]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(
                bn, nn.BatchNorm2d
            ) and bn.track_running_stats:
                fused = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
                child._modules[a] = fused
                child._modules[b] = nn.Identity()
                folded += 1
    return folded


def prepare_for_inference(module: nn.Module, channels_last: bool = True,
                          dtype: torch.dtype | None = None) -> nn.Module:
    """A frozen, folded (and optionally channels-last) copy for fast inference.

    ``dtype=torch.bfloat16`` stores the convolution and linear weights in bf16 (for use under
    bf16 autocast, which would otherwise cast every fp32 weight on every call); everything
    else stays fp32, as autocast expects."""
    fast = copy.deepcopy(module).eval()
    fold_batchnorm(fast)
    for p in fast.parameters():
        p.requires_grad_(False)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    if dtype is not None:
        for m in fast.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                m.to(dtype)
    return fast
