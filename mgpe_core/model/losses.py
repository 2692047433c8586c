"""Losses of seed Equations 2-8, and the generator / discriminator objectives built from them.

- L_local (Eq. 2): 1/2 * pixel MSE between each component's reconstruction and its crop, summed
  over the five components;
- L_global (Eq. 3): 1/2 * pixel MSE between the output and the source, paired steps only;
- adversarial (Eq. 4): non-saturating BCE on logits (``gan_mode = bce``) or hinge, averaged
  over the discriminator scales;
- pairwise feature matching (Eq. 5): 1/2 * MSE between discriminator features of the output and
  of the real target, every layer but the logits, paired steps only;
- parsing (Eq. 6): class-weighted cross-entropy of the frozen parser on the output against the
  target mask;
- KL of the local encoders (weight 0 by default, as in the original code).

L_G = l_local L_local + l_global L_global + l_GD L_GD + l_GP L_GP (+ l_FM L_FM) (Eq. 7); on
unpaired steps the global and feature-matching terms drop out (Eq. 8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..labels import LabelSchema
from .config import LossConfig
from .generator import one_hot


def class_weights(cfg: LossConfig, schema: LabelSchema) -> torch.Tensor:
    return torch.tensor([cfg.parsing_class_weights.get(n, 1.0) for n in schema.classes],
                        dtype=torch.float32)


def local_loss(recons: dict[str, torch.Tensor], crops: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(0.5 * F.mse_loss(recons[k], crops[k].detach()) for k in recons)


def kl_loss(mu: dict[str, torch.Tensor], logvar: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(
        (-0.5 * (1 + logvar[k] - mu[k].pow(2) - logvar[k].exp())).sum(1).mean() for k in mu
    )


def adversarial_loss(outs: list[list[torch.Tensor]], real: bool, mode: str,
                     for_discriminator: bool) -> torch.Tensor:
    """Mean over scales of the loss on each scale's patch logits (its last output)."""
    losses = []
    for feats in outs:
        logits = feats[-1].float()
        if mode == "bce":
            target = torch.ones_like(logits) if real else torch.zeros_like(logits)
            losses.append(F.binary_cross_entropy_with_logits(logits, target))
        elif mode == "hinge":
            if for_discriminator:
                losses.append(F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean())
            else:
                losses.append(-logits.mean())
        else:
            raise ValueError(f"unknown gan mode {mode!r}")
    return sum(losses) / len(losses)


def feature_matching_loss(fake: list[list[torch.Tensor]],
                          real: list[list[torch.Tensor]]) -> torch.Tensor:
    total, n = 0.0, 0
    for f_scale, r_scale in zip(fake, real, strict=True):
        for f, r in zip(f_scale[:-1], r_scale[:-1], strict=True):
            total = total + 0.5 * F.mse_loss(f.float(), r.detach().float())
            n += 1
    return total / max(n, 1)


def parsing_loss(parser, image: torch.Tensor, labels: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    logits = parser(image)
    return F.cross_entropy(logits.float(), labels.long(), weight=weights.to(logits.device))


def generator_objective(generator, discriminator, parser, batch: dict, paired: bool,
                        cfg: LossConfig, weights: torch.Tensor,
                        sample: bool = True) -> tuple[torch.Tensor, dict, dict]:
    """Total generator loss for one branch, its terms (floats detached) and the forward output.

    ``batch``: source_image, source_labels, target_image, target_labels. In a paired step source
    and target are the same faces. The discriminator and parser are used as functions here; their
    parameters must be excluded from the generator optimizer (the parser stays frozen).
    ``sample``: draw the local latents (VAE reparameterisation), as training does.
    """
    out = generator(batch["source_image"], batch["source_labels"], batch["target_image"],
                    batch["target_labels"], sample=sample)
    fake = out["image"]
    onehot = one_hot(batch["target_labels"], generator.num_classes, fake.dtype)
    d_fake = discriminator(fake, onehot)
    terms = {
        "local": local_loss(out["recons"], out["crops"]),
        "adversarial": adversarial_loss(d_fake, True, cfg.gan_mode, for_discriminator=False),
        "parsing": parsing_loss(parser, fake, batch["target_labels"], weights),
    }
    weight = {"local": cfg.local, "adversarial": cfg.adversarial, "parsing": cfg.parsing}
    if cfg.kl:
        terms["kl"], weight["kl"] = kl_loss(out["mu"], out["logvar"]), cfg.kl
    if paired:
        terms["reconstruction"] = 0.5 * F.mse_loss(fake.float(), batch["source_image"].float())
        weight["reconstruction"] = cfg.reconstruction
        with torch.no_grad():
            d_real = discriminator(batch["target_image"], onehot)
        terms["feature_matching"] = feature_matching_loss(d_fake, d_real)
        weight["feature_matching"] = cfg.feature_matching
    total = sum(weight[k] * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}, out


def discriminator_objective(discriminator, real_image: torch.Tensor, fake_image: torch.Tensor,
                            target_labels: torch.Tensor, num_classes: int,
                            mode: str) -> tuple[torch.Tensor, dict]:
    onehot = one_hot(target_labels, num_classes, real_image.dtype)
    real = adversarial_loss(discriminator(real_image, onehot), True, mode, True)
    fake = adversarial_loss(discriminator(fake_image.detach(), onehot), False, mode, True)
    total = 0.5 * (real + fake)
    return total, {"d_real": float(real.detach()), "d_fake": float(fake.detach())}
