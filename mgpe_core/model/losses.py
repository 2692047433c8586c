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
- KL of the local encoders (weight 0 by default, as in the original code);
- region reconstruction (not in the seed, weight 0 by default): 1/2 * squared error inside each
  component's target region, averaged over the region, summed over components, paired steps;
- region colour (not in the seed; ``loss.region_colour``): L1 between the output's mean CIE Lab
  colour inside each component of the target mask and the style source's mean inside the same
  component of its own mask, averaged over the (sample, component) pairs present in both;
  paired and unpaired steps (on unpaired steps nothing else asks for the partner's colours).

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


def region_reconstruction_loss(fake: torch.Tensor, real: torch.Tensor,
                               regions: torch.Tensor,
                               weights: list[float] | None = None) -> torch.Tensor:
    """Sum over components of 1/2 * mean squared error over that component's pixels.

    ``regions``: (B, C, H, W) binary component masks of the targets. The mean runs over every
    pixel (and channel) of a component in the whole batch, so a face missing a component adds
    nothing and small components (lips, eyes) weigh as much as the skin."""
    sq = (fake.float() - real.float()).pow(2).sum(1, keepdim=True)  # (B, 1, H, W)
    w = regions.float()
    per_comp = (sq * w).sum((0, 2, 3)) / (w.sum((0, 2, 3)) * fake.shape[1]).clamp(min=1)
    if weights is not None:
        per_comp = per_comp * torch.tensor(weights, dtype=per_comp.dtype, device=per_comp.device)
    return 0.5 * per_comp.sum()


#: Lab is divided by this before the L1 of :func:`region_colour_loss` (L in [0, 100], a and b
#: within about +-100 for real colours): 0.1 = a Lab distance of 10 per channel.
LAB_SCALE = 100.0


def lab(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [-1, 1] -> CIE Lab (D65; kornia), float32."""
    from kornia.color import rgb_to_lab

    return rgb_to_lab(((image.float() + 1) / 2).clamp(0, 1))


def region_means(values: torch.Tensor, regions: torch.Tensor, min_pixels: int = 1
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` (B, C, H, W) inside each region of ``regions`` (B, K, H, W; binary):
    (B, K, C) means and the (B, K) bool presence (at least ``min_pixels`` pixels)."""
    values = values.float()
    w = regions.float()
    with torch.autocast(values.device.type, enabled=False):  # sums over whole images: fp32
        count = w.sum((2, 3))  # (B, K)
        sums = torch.einsum("bkhw,bchw->bkc", w, values)
    return sums / count.clamp(min=1).unsqueeze(-1), count >= min_pixels


def region_colour_loss(fake: torch.Tensor, fake_regions: torch.Tensor, source: torch.Tensor,
                       source_regions: torch.Tensor, min_pixels: int = 4,
                       weights: list[float] | None = None,
                       style_rows: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over (sample, component) pairs present in both masks of the L1 distance (Lab /
    :data:`LAB_SCALE`, averaged over L, a, b) between the mean colour of ``fake`` inside its
    target component and that of ``source`` (the style source, no gradient) inside its own.

    ``fake_regions`` / ``source_regions``: (B, K, H, W) component masks
    (:func:`~mgpe_core.components.colour_masks`: the classes whose colour each component's
    style carries) of the target and of the style source.
    Means, not pixels: shapes differ between source and target, the colour must not. A
    component with fewer than ``min_pixels`` pixels in either mask is ignored; 0 (still
    attached to ``fake``'s graph) when no pair is present. ``weights``: one per component
    (K), the weight of its pairs in the mean (default: all 1). ``style_rows``: (B, K) long,
    the row of ``source`` whose colours each output's component was given (the generator's
    ``style_rows``, when training mixes styles); None = its own row."""
    f_mean, f_has = region_means(lab(fake), fake_regions, min_pixels)
    with torch.no_grad():
        s_mean, s_has = region_means(lab(source), source_regions, min_pixels)
        if style_rows is not None:
            k = torch.arange(s_mean.shape[1], device=s_mean.device)
            s_mean, s_has = s_mean[style_rows, k], s_has[style_rows, k]
    present = (f_has & s_has).to(f_mean.dtype)  # (B, K)
    if weights is not None:
        present = present * torch.tensor(weights, dtype=present.dtype, device=present.device)
    dist = (f_mean - s_mean).abs().mean(-1) / LAB_SCALE  # (B, K)
    return (dist * present).sum() / present.sum().clamp(min=1)


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


def generator_losses(out: dict, d_fake, d_real, parser, target_labels: torch.Tensor,
                     paired_images: torch.Tensor | None, cfg: LossConfig,
                     weights: torch.Tensor, regions: torch.Tensor | None = None,
                     colour: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted total and terms of Equations 7 / 8 for one generator forward.

    ``out``: the generator's output dict; ``d_fake``: discriminator outputs on ``out["image"]``.
    The first ``len(paired_images)`` samples are paired (source == target): they also get
    L_global against ``paired_images`` and feature matching against ``d_real`` (the
    discriminator on those real images). ``paired_images=None``: an all-unpaired batch.
    ``regions``: component masks of the paired targets (:func:`~mgpe_core.components.
    component_masks`), needed when ``cfg.region_reconstruction`` is non-zero.
    ``colour``: (style source images, their component masks, the targets' component masks),
    one row per output (paired and unpaired), needed when ``cfg.region_colour`` is non-zero;
    optionally a fourth item, the generator's ``style_rows`` (mixed styles: each component's
    colour is asked of the row it was given).
    """
    fake = out["image"]
    terms = {
        "local": local_loss(out["recons"], out["crops"]),
        "adversarial": adversarial_loss(d_fake, True, cfg.gan_mode, for_discriminator=False),
        "parsing": F.cross_entropy(parser(fake).float(), target_labels.long(),
                                   weight=weights.to(fake.device)),
    }
    weight = {"local": cfg.local, "adversarial": cfg.adversarial, "parsing": cfg.parsing,
              "reconstruction": cfg.reconstruction, "feature_matching": cfg.feature_matching,
              "kl": cfg.kl, "region_reconstruction": cfg.region_reconstruction,
              "region_colour": cfg.region_colour}
    if cfg.kl:
        terms["kl"] = kl_loss(out["mu"], out["logvar"])
    if paired_images is not None and len(paired_images):
        b = paired_images.shape[0]
        terms["reconstruction"] = 0.5 * F.mse_loss(fake[:b].float(), paired_images.float())
        terms["feature_matching"] = feature_matching_loss([[f[:b] for f in s] for s in d_fake],
                                                          d_real)
        if cfg.region_reconstruction:
            if regions is None:
                raise ValueError("region_reconstruction needs the paired targets' regions")
            terms["region_reconstruction"] = region_reconstruction_loss(
                fake[:b], paired_images, regions[:b], cfg.reconstruction_weights())
    if cfg.region_colour:
        if colour is None:
            raise ValueError("region_colour needs the style sources and both masks' regions")
        style, style_regions, target_regions, *rows = colour
        terms["region_colour"] = region_colour_loss(fake, target_regions, style, style_regions,
                                                    weights=cfg.colour_weights(),
                                                    style_rows=rows[0] if rows else None)
    total = sum(weight[k] * v.float() for k, v in terms.items())
    return total, terms


def generator_objective(generator, discriminator, parser, batch: dict, paired: bool,
                        cfg: LossConfig, weights: torch.Tensor,
                        sample: bool = True) -> tuple[torch.Tensor, dict, dict]:
    """One branch on its own (the trainer runs both in one batch): total loss, detached terms
    and the forward output. ``batch``: source/target image/labels; ``paired``: source == target.
    ``sample``: draw the local latents (VAE reparameterisation), as training does."""
    out = generator(batch["source_image"], batch["source_labels"], batch["target_image"],
                    batch["target_labels"], sample=sample)
    onehot = one_hot(batch["target_labels"], generator.num_classes, out["image"].dtype)
    d_fake = discriminator(out["image"], onehot)
    d_real = None
    if paired:
        with torch.no_grad():
            d_real = discriminator(batch["target_image"], onehot)
    from ..components import colour_masks, component_masks

    schema = generator.cfg.label_schema
    regions = colour = None
    if paired and cfg.region_reconstruction:
        regions = component_masks(batch["target_labels"], schema)
    if cfg.region_colour:
        colour = (batch["source_image"], colour_masks(batch["source_labels"], schema),
                  colour_masks(batch["target_labels"], schema))
    total, terms = generator_losses(out, d_fake, d_real, parser, batch["target_labels"],
                                    batch["source_image"] if paired else None, cfg, weights,
                                    regions if paired else None, colour)
    return total, {k: float(v.detach()) for k, v in terms.items()}, out


def discriminator_objective(discriminator, real_image: torch.Tensor, fake_image: torch.Tensor,
                            target_labels: torch.Tensor, num_classes: int,
                            mode: str) -> tuple[torch.Tensor, dict]:
    onehot = one_hot(target_labels, num_classes, real_image.dtype)
    real = adversarial_loss(discriminator(real_image, onehot), True, mode, True)
    fake = adversarial_loss(discriminator(fake_image.detach(), onehot), False, mode, True)
    total = 0.5 * (real + fake)
    return total, {"d_real": float(real.detach()), "d_fake": float(fake.detach())}
