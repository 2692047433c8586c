"""Small building blocks shared by every network: normalisation choice, conv units, res blocks."""

from __future__ import annotations

import torch
from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (the original code's choice) or ``instance`` (affine, no running stats)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def conv_norm_act(
    cin: int, cout: int, kernel: int, stride: int = 1, norm: str = "batch",
    act: str = "relu", transpose: bool = False,
) -> nn.Sequential:
    """Conv (or transposed conv) + norm + activation, padding chosen to keep/halve/double size.

    Convs feeding a norm layer carry no bias (the norm's shift replaces it).
    """
    bias = norm == "none"
    if transpose:
        conv = nn.ConvTranspose2d(cin, cout, kernel, stride, padding=(kernel - stride) // 2,
                                  bias=bias)
    else:
        # odd kernels: centred ((k - 1) // 2, also at stride 2); even: (k - stride) // 2
        pad = (kernel - 1) // 2 if stride == 1 or kernel % 2 else (kernel - stride) // 2
        conv = nn.Conv2d(cin, cout, kernel, stride, padding=pad, bias=bias)
    layers: list[nn.Module] = [conv, norm_layer(norm, cout)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "lrelu":
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    elif act != "none":
        raise ValueError(f"unknown activation {act!r}")
    return nn.Sequential(*layers)


def up_block(cin: int, cout: int, norm: str = "batch", mode: str = "transpose",
             act: str = "relu") -> nn.Sequential:
    """A 2x upsampling unit (``model.upsample``).

    ``transpose``: 4x4 stride-2 transposed conv + norm + activation (the original code's). Its
    kernel overlaps unevenly (each output pixel of a 2x2 cell sums a different 2x2 subset of
    the kernel), the classic source of period-2 checkerboards (Odena et al., "Deconvolution
    and checkerboard artifacts", Distill 2016).
    ``resize``: nearest-neighbour 2x, then a 3x3 conv + norm + activation: every output pixel
    sees the same kernel over an evenly covered neighbourhood. Nearest rather than bilinear:
    the 3x3 conv already interpolates, bilinear adds a fixed blur the network cannot undo,
    and Odena et al. report their best results with nearest. One flat ``nn.Sequential``, so
    :func:`~mgpe_core.model.optimize.fold_batchnorm` finds the conv next to its norm.
    """
    if mode == "transpose":
        return conv_norm_act(cin, cout, 4, 2, norm, act, transpose=True)
    if mode == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                             *conv_norm_act(cin, cout, 3, 1, norm, act))
    raise ValueError(f"unknown upsample mode {mode!r}")


class ResBlock(nn.Module):
    """Two 3x3 conv-norm layers with an identity shortcut (reflection padding, as pix2pixHD)."""

    def __init__(self, channels: int, norm: str = "batch"):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False),
            norm_layer(norm, channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
