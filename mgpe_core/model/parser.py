"""U-Net face parser (seed reference [11]): image in [-1, 1] -> per-pixel class logits.

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
        cin = 3
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
