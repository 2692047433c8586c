"""Re-running a network's first convolution after a small change of its input, exactly.

A brush stroke in ``mgpe serve`` changes a few mask pixels, yet the synthesis would convolve
the whole one-hot mask (E_m's 7x7 stem) and the whole background input (the background
encoder's 7x7 stem) again: at 128 px they are a quarter of the synthesis's work. Both stems
are a zero-padded, stride-1 convolution followed by an affine norm (folded or eval-mode
BatchNorm, or none) and then an activation, so the part before the activation is linear in the
input: ``stem(x_new) = stem(x_old) + W * (x_new - x_old)``. The difference is zero outside
the changed pixels, so only its bounding box (grown by the kernel's reach) is convolved.

A stem this module cannot treat exactly (instance norm, training mode, strided or dilated
convolutions) is reported by :func:`linear_stem` returning None; callers then run the network
as usual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: A change covering more than this share of the picture is convolved whole (no gain).
MAX_CHANGED_SHARE = 0.25


class LinearStem:
    """The ``conv -> affine norm`` head of a ``conv_norm_act`` block, and its activation."""

    def __init__(self, conv: nn.Conv2d, scale: torch.Tensor | None, shift: torch.Tensor | None,
                 act: nn.Module):
        self.conv, self.scale, self.shift, self.act = conv, scale, shift, act
        self.reach = conv.kernel_size[0] // 2

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output before the activation."""
        y = self.conv(x)
        if self.scale is not None:
            y = y * self.scale + self.shift
        return y

    def finish(self, pre: torch.Tensor) -> torch.Tensor:
        """The activation, on a copy (``pre`` may be kept for the next update)."""
        if isinstance(self.act, nn.ReLU):
            return torch.relu(pre)
        if isinstance(self.act, nn.LeakyReLU):
            return F.leaky_relu(pre, self.act.negative_slope)
        return pre.clone()

    def update(self, pre: torch.Tensor, x_old: torch.Tensor, x_new: torch.Tensor
               ) -> torch.Tensor | None:
        """``linear(x_new)`` from ``pre = linear(x_old)``; None when the change is too large to
        gain (the caller runs :meth:`linear`). ``pre`` is not modified."""
        diff = x_new - x_old
        changed = diff.abs().amax(dim=(0, 1))  # (H, W)
        rows = torch.nonzero(changed.amax(dim=1)).flatten()
        if rows.numel() == 0:
            return pre  # never modified in place: safe to share
        cols = torch.nonzero(changed.amax(dim=0)).flatten()
        h, w = changed.shape
        r = self.reach
        y0, y1 = max(int(rows[0]) - r, 0), min(int(rows[-1]) + r + 1, h)
        x0, x1 = max(int(cols[0]) - r, 0), min(int(cols[-1]) + r + 1, w)
        if (y1 - y0) * (x1 - x0) > MAX_CHANGED_SHARE * h * w:
            return None
        # the output rows y0..y1 read input rows y0 - r .. y1 + r (zeros beyond the border,
        # as the convolution's own padding)
        a0, a1, b0, b1 = max(y0 - r, 0), min(y1 + r, h), max(x0 - r, 0), min(x1 + r, w)
        window = F.pad(diff[:, :, a0:a1, b0:b1],
                       (b0 - (x0 - r), (x1 + r) - b1, a0 - (y0 - r), (y1 + r) - a1))
        delta = F.conv2d(window, self.conv.weight)
        if self.scale is not None:
            delta = delta * self.scale
        out = pre.clone()
        out[:, :, y0:y1, x0:x1] += delta
        return out


def linear_stem(block: nn.Module) -> LinearStem | None:
    """The :class:`LinearStem` of a ``conv_norm_act`` block (``Sequential(conv, norm, act)``),
    or None when its output is not an affine function of its input that this module can
    update exactly."""
    if not isinstance(block, nn.Sequential) or len(block) != 3:
        return None
    conv, norm, act = block
    if not (isinstance(conv, nn.Conv2d) and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.groups == 1 and conv.padding_mode == "zeros"
            and conv.kernel_size[0] == conv.kernel_size[1] and conv.kernel_size[0] % 2
            and conv.padding == (conv.kernel_size[0] // 2,) * 2):
        return None
    if not isinstance(act, (nn.ReLU, nn.LeakyReLU, nn.Identity)):
        return None
    if isinstance(norm, nn.Identity):
        return LinearStem(conv, None, None, act)
    if isinstance(norm, nn.BatchNorm2d) and not norm.training and norm.track_running_stats:
        scale = (norm.weight if norm.affine else 1) / torch.sqrt(norm.running_var + norm.eps)
        shift = (norm.bias if norm.affine else 0) - norm.running_mean * scale
        return LinearStem(conv, scale.detach().view(1, -1, 1, 1),
                          shift.detach().view(1, -1, 1, 1), act)
    return None
