"""Small building blocks shared by every network: normalisation choice, conv units, res blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
    sees the same kernel over an evenly covered neighbourhood (computed as one
    :class:`NearestUpConv2d`, without the upsampled copy). Nearest rather than bilinear:
    the 3x3 conv already interpolates, bilinear adds a fixed blur the network cannot undo,
    and Odena et al. report their best results with nearest. One flat ``nn.Sequential``, so
    :func:`~mgpe_core.model.optimize.fold_batchnorm` finds the conv next to its norm.
    """
    if mode == "transpose":
        return conv_norm_act(cin, cout, 4, 2, norm, act, transpose=True)
    if mode == "resize":
        _, *rest = conv_norm_act(cin, cout, 3, 1, norm, act)
        # index 0 was a separate nn.Upsample: an Identity keeps every saved model's keys
        return nn.Sequential(nn.Identity(), NearestUpConv2d(cin, cout, bias=norm == "none"),
                             *rest)
    raise ValueError(f"unknown upsample mode {mode!r}")


def _phase_kernels(weight: torch.Tensor) -> torch.Tensor:
    """(O, C, 3, 3) -> (4 O, C, 2, 2): the 2x2 kernel each output phase (row parity a, column
    parity b; order 00, 01, 10, 11) applies to the small input. Of the three rows a 3x3 window
    covers in the 2x upsampled image, an even output row's first lies on the small input's row
    above and the other two on its own row; an odd row's first two on its own row and the third
    on the row below. So the kernel's rows are summed (0 | 1 + 2) or (0 + 1 | 2), and its
    columns the same way."""
    w = weight.float()  # summed in fp32 even for bf16 weights
    by_rows = (torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),
               torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2))
    phases = [torch.stack(pair, -1) for r in by_rows
              for pair in ((r[..., 0], r[..., 1] + r[..., 2]), (r[..., 0] + r[..., 1], r[..., 2]))]
    return torch.cat(phases, 0).to(weight.dtype)


class NearestUpConv2d(nn.Conv2d):
    """A 3x3 convolution (zero padding 1) of the input upsampled 2x by nearest neighbour,
    computed without making the upsampled copy: each output pixel of a 2x2 cell sees a 2x2
    patch of the small input through the 3x3 kernel's rows and columns summed for its phase
    (:func:`_phase_kernels`), so one 2x2 convolution with four times the output channels at the
    small size, interleaved, gives the same numbers (to float rounding) with 16 instead of 36
    multiply-adds per small-input pixel and channel pair: the cost of the 4x4 stride-2
    transposed conv it replaced, without its uneven overlap. The parameters are an ordinary
    3x3 ``nn.Conv2d``'s (same state-dict keys, BatchNorm folding works unchanged)."""

    def __init__(self, cin: int, cout: int, bias: bool = False):
        super().__init__(cin, cout, 3, 1, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        out = self.out_channels
        z = F.conv2d(F.pad(x, (1, 1, 1, 1)), _phase_kernels(self.weight))  # (B, 4 O, h+1, w+1)
        fmt = (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
               and not x.is_contiguous() else torch.contiguous_format)
        y = torch.empty(b, out, 2 * h, 2 * w, dtype=z.dtype, device=z.device, memory_format=fmt)
        for k, (pr, pc) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            # the phase's window: even rows use the small rows (i - 1, i), i.e. z's row i
            y[:, :, pr::2, pc::2] = z[:, k * out:(k + 1) * out, pr:pr + h, pc:pc + w]
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).view(1, -1, 1, 1)
        return y


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
