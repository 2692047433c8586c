"""U-Net face parser (seed reference [11]): image in [-1, 1] -> per-pixel class logits.

Two coordinate channels (y, x in [-1, 1]) join the RGB input (``coord_channels``): left and
right parts (l_brow / r_brow, l_eye / r_eye) look alike and differ only by where they are, which a
small U-Net's receptive field cannot always see.

Used frozen for the parsing loss L_GP during training, and to score how well edited images
follow their target masks (mask fidelity) and to parse photos that come without a mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import norm_layer
from .config import ParserConfig


def _double_conv(cin: int, cout: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), norm_layer(norm, cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), norm_layer(norm, cout),
        nn.ReLU(inplace=True),
    )


class UNetParser(nn.Module):
    def __init__(self, num_classes: int, cfg: ParserConfig):
        super().__init__()
        chans = [cfg.base_channels * 2 ** i for i in range(cfg.depth + 1)]
        self.down = nn.ModuleList()
        self.coords = cfg.coord_channels
        cin = 3 + (2 if self.coords else 0)
        for c in chans:
            self.down.append(_double_conv(cin, c, cfg.norm))
            cin = c
        self.up = nn.ModuleList()
        for c in reversed(chans[:-1]):
            self.up.append(_double_conv(cin + c, c, cfg.norm))
            cin = c
        self.head = nn.Conv2d(cin, num_classes, 1)
        self.depth = cfg.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coords:  # where am I: tells image-left from image-right (l_brow vs r_brow)
            b, _, h, w = x.shape
            ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
            xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
            grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))[None].expand(b, 2, h, w)
            x = torch.cat([x, grid], dim=1)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)

    @torch.no_grad()
    def parse(self, image: torch.Tensor) -> torch.Tensor:
        """Label ids (B, H, W) for images in [-1, 1]."""
        return self.forward(image).argmax(1)
