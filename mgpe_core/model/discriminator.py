"""Multiscale conditional PatchGAN discriminator (two identical discriminators; the second sees
2x average-pooled inputs). Each is conditioned on the target mask by concatenating its one-hot
channels to the image, and returns its intermediate features for pairwise feature matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import DiscriminatorConfig


class PatchDiscriminator(nn.Module):
    def __init__(self, cin: int, cfg: DiscriminatorConfig):
        super().__init__()
        ch = cfg.base_channels
        layers = [nn.Sequential(nn.Conv2d(cin, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))]
        for i in range(1, cfg.layers + 1):
            prev, ch = ch, min(ch * 2, 512)
            stride = 2 if i < cfg.layers else 1
            norm = nn.InstanceNorm2d(ch) if cfg.norm == "instance" else nn.Identity()
            layers.append(nn.Sequential(
                nn.Conv2d(prev, ch, 4, stride, 1, bias=cfg.norm == "none"),
                norm, nn.LeakyReLU(0.2, inplace=True),
            ))
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of every layer; the last entry is the patch logits."""
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, num_classes: int, cfg: DiscriminatorConfig):
        super().__init__()
        self.scales = nn.ModuleList(
            [PatchDiscriminator(3 + num_classes, cfg) for _ in range(cfg.scales)]
        )

    def forward(self, image: torch.Tensor, mask_onehot: torch.Tensor) -> list[list[torch.Tensor]]:
        x = torch.cat([image, mask_onehot.to(image.dtype)], dim=1)
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs
