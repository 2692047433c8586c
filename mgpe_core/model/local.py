"""Local embedding sub-network: one VAE-style autoencoder per facial component.

Each encoder halves its input with 4x4 stride-2 conv + norm + ReLU blocks down to a small map
(smaller side about 4 px), a 1x1 conv narrows it to ``latent_map_channels``, then two linear
heads give the latent mean and log-variance (the mean
is used at test time; the KL term exists with weight 0 by default, as in the original code).
Each decoder maps the latent back to that small map and upsamples (``model.upsample``:
transposed convs or nearest resize + 3x3 conv); two heads branch off:

- the *feature head* (a ``model.feature_head_kernel`` conv) at 1/4 of the input size (256
  channels at width 1: eyes 8x12, mouth 20x36, skin and hair 64x64 at 256 px) feeds the
  generator;
- the *image head* continues to the input size and reconstructs the component (L_local).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import conv_norm_act, up_block
from .config import ModelConfig


def num_halvings(hw: tuple[int, int]) -> int:
    """Stride-2 steps so the smaller side ends near 4 px; at least 2 (features live at 1/4)."""
    return max(2, int(math.floor(math.log2(min(hw) / 4))))


class ComponentAutoencoder(nn.Module):
    def __init__(self, in_hw: tuple[int, int], cfg: ModelConfig):
        super().__init__()
        n = num_halvings(in_hw)
        if in_hw[0] % (2 ** n) or in_hw[1] % (2 ** n):
            raise ValueError(f"component input {in_hw} is not divisible by 2^{n}")
        self.in_hw = in_hw
        self.small_hw = (in_hw[0] >> n, in_hw[1] >> n)
        chans = [cfg.channels(min(64 * 2 ** i, 512)) for i in range(n)]
        enc, cin = [], 3
        for c in chans:
            enc.append(conv_norm_act(cin, c, 4, 2, cfg.norm))
            cin = c
        # A 1x1 bottleneck before the linear heads keeps them small: at 256 px the mouth's
        # 512 x 5 x 9 map would otherwise need 23040 x 512 weights per head.
        self.bottleneck = cfg.latent_map_channels
        enc.append(conv_norm_act(chans[-1], self.bottleneck, 1, 1, cfg.norm))
        self.encoder = nn.Sequential(*enc)
        flat = self.bottleneck * self.small_hw[0] * self.small_hw[1]
        self.mu = nn.Linear(flat, cfg.latent_dim)
        self.logvar = nn.Linear(flat, cfg.latent_dim)
        self.expand = nn.Sequential(
            nn.Linear(cfg.latent_dim, flat), nn.ReLU(inplace=True),
            nn.Unflatten(1, (self.bottleneck, *self.small_hw)),
            conv_norm_act(self.bottleneck, chans[-1], 1, 1, cfg.norm),
        )
        # Up to 1/4 of the input: n - 2 doublings, mirroring the encoder's channels.
        up, cin = [], chans[-1]
        for c in reversed(chans[1:n - 1]):
            up.append(up_block(cin, c, cfg.norm, cfg.upsample))
            cin = c
        self.up_to_quarter = nn.Sequential(*up)
        self.feature_head = conv_norm_act(cin, cfg.channels(cfg.feature_channels),
                                          cfg.feature_head_kernel, 1, cfg.norm)
        c_half, c_full = cfg.channels(64), cfg.channels(32)
        self.image_head = nn.Sequential(
            up_block(cin, c_half, cfg.norm, cfg.upsample),
            up_block(c_half, c_full, cfg.norm, cfg.upsample),
            nn.Conv2d(c_full, 3, 3, padding=1),
            nn.Tanh(),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x).flatten(1)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor, images: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latent -> (generator features at 1/4 size, reconstructed component image, or None
        when ``images`` is false: editing needs only the features)."""
        h = self.up_to_quarter(self.expand(z))
        return self.feature_head(h), (self.image_head(h) if images else None)
