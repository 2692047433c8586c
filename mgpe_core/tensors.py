"""Pixels and label maps <-> network tensors: the one place the conversion is written.

Every path that feeds a network (editing, parsing, evaluation, FID, training samples) turns uint8
``(H, W, 3)`` photos into float ``(N, 3, H, W)`` tensors and generator outputs back into uint8
pixels. Written once here, the value range, the rounding and the memory layout are the same
everywhere, and a change (a new range, another rounding) is made in one place.

This module imports torch at import time: use it from code paths that already run networks, and
import it inside the functions that need it from modules that must stay light (CLI, plugins).

Conventions, kept bit for bit from the copies this module replaced:

- ``images_to_tensor`` converts on the CPU, then moves the result to ``device``. CUDA divides
  by a Python scalar as a multiplication by its reciprocal, which differs from a true division
  in the last bit for about half of the 256 pixel values; converting first keeps the values the
  same on every device.
- The result keeps the ``(N, H, W, 3)`` input's memory layout (an NCHW view of channels-last
  memory), as ``from_numpy(x).permute(0, 3, 1, 2).float()`` always gave; convolutions may
  pick their kernels by layout, so changing it could change outputs in the last bits.
- ``tensor_to_images`` clamps to [-1, 1], maps to [0, 255] and rounds half to even
  (``torch.round``) before the cast to uint8.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import UsageError

#: ``value_range`` -> divisor and offset: pixel p becomes p / divisor - offset.
VALUE_RANGES: dict[str, tuple[float, float]] = {
    "signed": (127.5, 1.0),  # [-1, 1]: generators, encoders and parsers
    "unit": (255.0, 0.0),  # [0, 1]: the FID Inception network
}


def _stack(arrays, ndim: int, what: str) -> np.ndarray:
    """One array of ``ndim`` dimensions, a list of them or a stack -> a stack (N, ...) that
    ``torch.from_numpy`` accepts (writable, no negative strides)."""
    if isinstance(arrays, np.ndarray):
        arr = arrays
    else:
        arrays = [np.asarray(a) for a in arrays]
        if not arrays:
            raise UsageError(f"no {what} to convert")
        if len({a.shape for a in arrays}) > 1:
            raise UsageError(f"{what} of different sizes cannot form one batch: "
                             f"{sorted({a.shape for a in arrays})}")
        arr = np.stack(arrays)
    if arr.ndim == ndim:
        arr = arr[None]
    if not arr.flags.writeable or any(s < 0 for s in arr.strides):
        arr = arr.copy()  # from_numpy warns on read-only arrays and refuses negative strides
    return arr


def images_to_tensor(images, device=None, value_range: str = "signed") -> torch.Tensor:
    """uint8 photos -> a float32 ``(N, 3, H, W)`` tensor on ``device`` (default: the CPU).

    ``images``: one ``(H, W, 3)`` array, a list of them (same size) or an ``(N, H, W, 3)``
    stack. ``value_range``: ``"signed"`` gives ``p / 127.5 - 1`` in [-1, 1], ``"unit"`` gives
    ``p / 255`` in [0, 1].
    """
    if value_range not in VALUE_RANGES:
        raise UsageError(f"value_range {value_range!r}: use one of {', '.join(VALUE_RANGES)}")
    arr = _stack(images, 3, "images")
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise UsageError(f"images: expected uint8 (H, W, 3) pixels or a stack of them, got "
                         f"{arr.dtype} {tuple(arr.shape)}")
    divisor, offset = VALUE_RANGES[value_range]
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(divisor)
    if offset:
        x = x.sub(offset)
    return x if device is None else x.to(device)


def tensor_to_images(t: torch.Tensor) -> np.ndarray:
    """A ``(N, 3, H, W)`` tensor in [-1, 1] (any float dtype, any device) -> uint8
    ``(N, H, W, 3)`` numpy pixels: clamped, ``(t + 1) * 127.5``, rounded, on the CPU."""
    if t.ndim != 4:
        raise UsageError(f"expected an (N, C, H, W) tensor, got shape {tuple(t.shape)}")
    pixels = ((t.float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def labels_to_tensor(labels, device=None) -> torch.Tensor:
    """Label maps -> an int64 ``(N, H, W)`` tensor of class ids on ``device`` (default: CPU).

    ``labels``: one ``(H, W)`` integer array, a list of them (same size) or an ``(N, H, W)``
    stack.
    """
    arr = _stack(labels, 2, "label maps")
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise UsageError(f"label maps: expected integer (H, W) ids or a stack of them, got "
                         f"{arr.dtype} {tuple(arr.shape)}")
    x = torch.from_numpy(arr).long()
    return x if device is None else x.to(device)
