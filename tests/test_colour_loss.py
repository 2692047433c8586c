"""``loss.region_colour``: per-component mean Lab colour of the output (target regions) vs the
style source (its own regions), on paired and unpaired steps (issue 23: lip colour that counts).
"""

import dataclasses
import json

import pytest
import torch

from mgpe_core.components import COMPONENTS, component_masks
from mgpe_core.labels import get_schema
from mgpe_core.model.build import build_networks
from mgpe_core.model.config import LossConfig, MgpeConfig, ModelConfig
from mgpe_core.model.generator import MGPEGenerator
from mgpe_core.model.losses import (
    class_weights,
    generator_objective,
    lab,
    region_colour_loss,
    region_means,
)
from mgpe_core.typed_config import from_dict

M11 = get_schema("mgpe-11")
RES = 64


def labels(b: int = 2, shift: int = 0) -> torch.Tensor:
    from tests.test_model import face_labels

    return face_labels(b, RES, shift)


def textured(b: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, RES, RES, generator=g) * 1.6 - 0.8


def recoloured(target_regions: torch.Tensor, style: torch.Tensor, style_regions: torch.Tensor,
               base: torch.Tensor) -> torch.Tensor:
    """``base`` with every target component filled with the style's mean Lab colour there."""
    from kornia.color import lab_to_rgb

    means, has = region_means(lab(style), style_regions)  # (B, K, 3)
    out = base.clone()
    for k in range(target_regions.shape[1]):
        rgb = lab_to_rgb(means[:, k, :, None, None]) * 2 - 1  # (B, 3, 1, 1)
        m = target_regions[:, k:k + 1] > 0.5
        out = torch.where(m & has[:, k, None, None, None], rgb.expand_as(out), out)
    return out


def test_zero_for_a_recolouring_that_matches_the_source_means():
    style, s_lab = textured(seed=1), labels(shift=0)
    t_lab = labels(shift=3)  # another shape: means, not pixels, are compared
    s_reg, t_reg = component_masks(s_lab, M11), component_masks(t_lab, M11)
    fake = recoloured(t_reg, style, s_reg, textured(seed=2))
    assert float(region_colour_loss(fake, t_reg, style, s_reg)) < 1e-4


def test_positive_and_differentiable_otherwise():
    style, lab_ = textured(seed=1), labels()
    reg = component_masks(lab_, M11)
    fake = textured(seed=2).requires_grad_(True)
    loss = region_colour_loss(fake, reg, style, reg)
    assert float(loss.detach()) > 0.01
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    inside = reg.amax(1, keepdim=True).expand_as(fake) > 0
    assert fake.grad[~inside].abs().sum() == 0  # only the components' pixels count


def test_absent_regions_are_ignored():
    style, s_lab = textured(seed=1), labels()
    t_lab = labels().clone()
    t_lab[t_lab == M11.index("hair")] = M11.index("background")  # the target has no hair
    s_reg, t_reg = component_masks(s_lab, M11), component_masks(t_lab, M11)
    fake = recoloured(t_reg, style, s_reg, textured(seed=2))
    other = style.clone()
    hair = s_reg[:, [c.name for c in COMPONENTS].index("hair")].bool()
    other[hair.unsqueeze(1).expand_as(other)] = 0.9  # the source's hair colour changes
    assert float(region_colour_loss(fake, t_reg, other, s_reg)) < 1e-4
    # and nothing present at all: 0, still attached to the graph
    empty = torch.zeros_like(t_reg)
    x = fake.clone().requires_grad_(True)
    z = region_colour_loss(x, empty, style, s_reg)
    assert float(z.detach()) == 0
    z.backward()


def test_component_weights_set_each_components_share_of_the_mean():
    style, lab_ = textured(seed=1), labels()
    reg = component_masks(lab_, M11)
    names = [c.name for c in COMPONENTS]
    fake = recoloured(reg, style, reg, textured(seed=2))
    mouth = reg[:, names.index("mouth")].bool().unsqueeze(1).expand_as(fake)
    fake = torch.where(mouth, torch.full_like(fake, 0.9), fake)  # only the lips are off
    plain = float(region_colour_loss(fake, reg, style, reg))
    assert plain > 0.005
    w = [1.0] * len(names)
    w[names.index("mouth")] = 3.0
    weighted = float(region_colour_loss(fake, reg, style, reg, weights=w))
    n = len(names)  # every component present in both faces: mouth = 1 of n pairs, then 3 of n+2
    assert weighted == pytest.approx(plain * n * 3 / (n + 2), rel=1e-4)
    w_off = [1.0] * n
    w_off[names.index("mouth")] = 0.0
    assert float(region_colour_loss(fake, reg, style, reg, weights=w_off)) < 1e-4
    cfg = from_dict(LossConfig, {"region_colour_components": {"mouth": 3}})
    assert cfg.colour_weights() == w
    assert LossConfig().colour_weights() == [1.0] * n
    from mgpe_core.typed_config import ConfigError

    with pytest.raises(ConfigError, match="unknown component 'lips'"):
        from_dict(LossConfig, {"region_colour_components": {"lips": 3}})
    with pytest.raises(ConfigError, match=">= 0"):
        from_dict(LossConfig, {"region_colour_components": {"mouth": -1}})


def test_new_runs_weigh_it_old_configs_do_not():
    assert LossConfig().region_colour > 0
    old = dataclasses.asdict(LossConfig())
    del old["region_colour"]
    assert from_dict(LossConfig, old).region_colour == 0


def test_a_few_steps_on_a_tiny_generator_reduce_it():
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, dict(resolution=RES, width=0.125, latent_dim=16, res_blocks=1,
                                      parser=dict(base_channels=4, depth=2),
                                      discriminator=dict(base_channels=8)))
    g = MGPEGenerator(cfg).train()
    # two faces with different colours: each rendered in the other's style (unpaired)
    src_lab, tgt_lab = labels(), labels(shift=2)
    src = textured(seed=3)
    src[1] = -src[1]
    tgt = textured(seed=4)
    s_reg, t_reg = component_masks(src_lab, M11), component_masks(tgt_lab, M11)
    opt = torch.optim.Adam(g.parameters(), lr=2e-3)
    history = []
    for _ in range(8):
        out = g(src, src_lab, tgt, tgt_lab, sample=False)
        loss = region_colour_loss(out["image"], t_reg, src, s_reg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss))
    assert history[-1] < 0.7 * history[0], history


def test_generator_objective_records_it_on_both_branches():
    cfg = MgpeConfig.from_dict({"model": dict(resolution=RES, width=0.125, latent_dim=16,
                                              res_blocks=1, parser=dict(base_channels=4,
                                                                        depth=2),
                                              discriminator=dict(base_channels=8))})
    nets = build_networks(cfg.model)
    img, lab_ = textured(), labels()
    weights = class_weights(cfg.loss, M11)
    for paired in (True, False):
        src = img if paired else img.flip(0)
        batch = dict(source_image=src, source_labels=lab_, target_image=img,
                     target_labels=lab_)
        _, terms, _ = generator_objective(nets.generator, nets.discriminator, nets.parser,
                                          batch, paired, cfg.loss, weights)
        assert terms["region_colour"] > 0
    off = dataclasses.replace(cfg.loss, region_colour=0.0)
    _, terms, _ = generator_objective(nets.generator, nets.discriminator, nets.parser,
                                      batch, False, off, weights)
    assert "region_colour" not in terms


def tiny_trainer(tmp_path, faces: int = 4, **train):
    """A trainer of a tiny generator on ``faces`` made-up faces at 64 px, with a one-step
    parser; ``train``: TrainConfig fields (batch 2 unless given)."""
    from mgpe_core.model.config import ParserConfig
    from mgpe_core.testing import make_prepared_folder
    from mgpe_core.train.parser_trainer import train_parser
    from mgpe_core.train.trainer import Trainer

    data = tmp_path / "data"
    make_prepared_folder(data, count=faces, size=RES, schema_name="mgpe-11", seed=0)
    train_parser(data, tmp_path / "parser", M11, steps=1, batch=2,
                 cfg=ParserConfig(base_channels=4, depth=2))
    cfg = MgpeConfig.from_dict({"model": dict(resolution=RES, width=0.125, latent_dim=16,
                                              res_blocks=1, parser=dict(base_channels=4,
                                                                        depth=2),
                                              discriminator=dict(base_channels=8)),
                                "train": {"batch": 2, "sample_every": 1000,
                                          "ema_bn_batches": 1, **train}})
    return Trainer(cfg, data, tmp_path / "run", tmp_path / "parser", torch.device("cpu"),
                   log=lambda *a: None)


@pytest.mark.slow
def test_training_step_records_it_in_stats(tmp_path):
    tiny_trainer(tmp_path).run(1)
    line = json.loads((tmp_path / "run" / "stats.jsonl").read_text().splitlines()[0])
    assert line["region_colour"] > 0
