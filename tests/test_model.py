"""The MGPE networks: shapes for every variant, gradients, paired path, placement, determinism."""

import dataclasses
import json

import pytest
import torch

from mgpe_core.components import COMPONENTS
from mgpe_core.labels import get_schema
from mgpe_core.model.build import build_networks, parameter_counts
from mgpe_core.model.config import MgpeConfig, ModelConfig
from mgpe_core.model.generator import one_hot
from mgpe_core.model.losses import (
    class_weights,
    discriminator_objective,
    generator_objective,
)
from mgpe_core.testing import blocky_face_labels
from mgpe_core.typed_config import ConfigError

M11 = get_schema("mgpe-11")


face_labels = blocky_face_labels


def small_cfg(res=64, **kw) -> ModelConfig:
    base = dict(resolution=res, width=0.125, latent_dim=32, res_blocks=2,
                parser=dict(base_channels=8, depth=3), discriminator=dict(base_channels=8))
    base.update(kw)
    return MgpeConfig.from_dict({"model": base}).model


def batch_for(res, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(b, 3, res, res, generator=g) * 2 - 1
    return img, face_labels(b, res)


@pytest.mark.parametrize("res", [64, 128, 256])
@pytest.mark.parametrize("eye_window,mask_encoder", [("fixed", "single"), ("mask", "single"),
                                                     ("fixed", "multi")])
def test_output_shapes_for_every_variant(res, eye_window, mask_encoder):
    cfg = small_cfg(res, eye_window=eye_window, mask_encoder=mask_encoder)
    nets = build_networks(cfg)
    img, lab = batch_for(res)
    with torch.no_grad():
        out = nets.generator(img, lab, img.flip(0), lab.flip(0))
        assert out["image"].shape == (2, 3, res, res)
        assert out["image"].abs().max() <= 1
        for comp in COMPONENTS:
            assert out["recons"][comp.name].shape == out["crops"][comp.name].shape
            assert out["mu"][comp.name].shape == (2, 32)
        feats, _ = nets.generator.decode(out["mu"])
        assert feats["skin"].shape[-2:] == (res // 4, res // 4)
        assert feats["mouth"].shape[-2:] == (res * 20 // 256, res * 36 // 256)
        assert feats["l_eye"].shape[-2:] == (res * 8 // 256, res * 12 // 256)
        d = nets.discriminator(out["image"], one_hot(lab, 11))
        assert len(d) == 2 and d[1][-1].shape[-1] < d[0][-1].shape[-1]
        assert nets.parser(img).shape == (2, 11, res, res)


def test_window_crops_scale_with_resolution():
    for res in (64, 128, 256):
        gen = build_networks(small_cfg(res)).generator
        assert gen.windows["l_eye"] == (res // 8, res * 3 // 16)
        assert gen.windows["mouth"] == (res * 80 // 256, res * 144 // 256)


def test_every_trainable_parameter_gets_a_gradient():
    cfg = MgpeConfig(model=small_cfg(64, norm="instance"))
    nets = build_networks(cfg.model)
    img, lab = batch_for(64, b=2)
    batch = dict(source_image=img, source_labels=lab, target_image=img, target_labels=lab)
    weights = class_weights(cfg.loss, M11)
    nets.generator.train()
    # sample=True (the default) is what training uses: log-variance heads learn through it
    gen = nets.generator
    paired, _, _ = generator_objective(gen, nets.discriminator, nets.parser, batch, True,
                                       cfg.loss, weights)
    unpaired_batch = dict(batch, source_image=img.flip(0), source_labels=lab.flip(0))
    unpaired, terms, _ = generator_objective(gen, nets.discriminator, nets.parser,
                                             unpaired_batch, False, cfg.loss, weights)
    assert "reconstruction" not in terms and "feature_matching" not in terms
    (paired + unpaired).backward()
    missing = [n for n, p in gen.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)]
    assert not missing, missing


def test_paired_path_equals_encode_decode_synthesize():
    nets = build_networks(small_cfg(64))
    g = nets.generator.eval()
    img, lab = batch_for(64)
    with torch.no_grad():
        out = g(img, lab, img, lab)["image"]
        enc = g.encode(img, lab)
        feats, _ = g.decode(enc.mu)
        again = g.synthesize(feats, img, lab)
        # an unpaired pass whose partner permutation is the identity is the paired pass
        perm = torch.arange(2)
        unp = g(img[perm], lab[perm], img, lab)["image"]
    assert torch.equal(out, again) and torch.equal(out, unp)


def test_placement_follows_the_target_mask():
    g = build_networks(small_cfg(64)).generator.eval()
    lab = face_labels(1, 64)
    moved = face_labels(1, 64, shift=6)  # same face, 6 px lower
    feats = {c.name: torch.zeros(1, 32, 1, 1) for c in COMPONENTS}
    with torch.no_grad():
        base = g.decode({c.name: torch.zeros(1, 32) for c in COMPONENTS})[0]
    feats = {k: torch.zeros_like(v) for k, v in base.items()}
    feats["l_eye"] = torch.ones_like(base["l_eye"])
    canvas, dense = g.place_features(feats, lab)
    ys, xs = torch.nonzero(canvas[0, 0], as_tuple=True)
    # l_eye box rows 28..30, cols 21..27 -> centre (29.5, 24.5) px -> canvas (7.375, 6.125);
    # the 2x3 feature window's top-left is round(centre - (1, 1.5)) = (6, 5)
    assert ys.unique().tolist() == [6, 7] and xs.unique().tolist() == [5, 6, 7]
    canvas2, _ = g.place_features(feats, moved)
    ys2, _ = torch.nonzero(canvas2[0, 0], as_tuple=True)
    assert (ys2.unique() - ys.unique()).tolist() == [2, 2]  # 6 px / 4, rounded
    assert len(dense) == 2 and dense[0].shape[-2:] == (16, 16)


def test_deterministic_under_fixed_seed():
    def run():
        torch.manual_seed(123)
        nets = build_networks(small_cfg(64))
        img, lab = batch_for(64)
        with torch.no_grad():
            return nets.generator.eval()(img, lab, img.flip(0), lab.flip(0))["image"]

    assert torch.equal(run(), run())


def test_discriminator_objective_and_hinge_mode():
    cfg = small_cfg(64)
    nets = build_networks(cfg)
    img, lab = batch_for(64)
    for mode in ("bce", "hinge"):
        loss, terms = discriminator_objective(nets.discriminator, img, img * 0.5, lab, 11, mode)
        loss.backward()
        assert torch.isfinite(loss) and set(terms) == {"d_real", "d_fake"}


def test_config_round_trip_and_strictness(tmp_path):
    cfg = MgpeConfig(model=small_cfg(128, eye_window="mask", mask_encoder="multi"))
    data = json.loads(cfg.to_json())
    assert MgpeConfig.from_dict(data) == cfg
    assert data["model"]["schema"]["classes"][4] == "l_eye"  # names stored explicitly
    with pytest.raises(ConfigError, match="unknown key.*'widht'.*did you mean 'width'"):
        MgpeConfig.from_dict({"model": {"widht": 2}})
    with pytest.raises(ConfigError, match="model.resolution: expected an integer"):
        MgpeConfig.from_dict({"model": {"resolution": "256"}})
    with pytest.raises(ConfigError, match="model.resolution must be one of"):
        MgpeConfig.from_dict({"model": {"resolution": 100}})
    with pytest.raises(ConfigError, match="model.eye_window: 'wide' is not one of"):
        MgpeConfig.from_dict({"model": {"eye_window": "wide"}})
    with pytest.raises(ConfigError, match="train.betas: expected 2 values"):
        MgpeConfig.from_dict({"train": {"betas": [0.5]}})


def test_parameter_counts_add_up():
    counts = parameter_counts(build_networks(small_cfg(64)))
    assert counts["generator_total"] == (counts["local_embedding"]
                                         + counts["mask_guided_generator"]
                                         + counts["background_fusing"])
    assert all(v > 0 for v in counts.values())


def test_inference_copy_with_folded_norms_matches_eager():
    from mgpe_core.model.optimize import fold_batchnorm, prepare_for_inference

    torch.manual_seed(0)
    gen = build_networks(small_cfg(64)).generator
    with torch.no_grad():  # non-trivial running statistics, so folding really changes weights
        for m in gen.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    gen.eval()
    fast = prepare_for_inference(gen, channels_last=True)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert n_bn == 0  # every BatchNorm sits after a conv and was folded
    img, lab = batch_for(64)
    with torch.no_grad():
        want = gen(img, lab, img.flip(0), lab.flip(0))["image"]
    with torch.inference_mode():
        got = fast(img.contiguous(memory_format=torch.channels_last), lab, img.flip(0),
                   lab.flip(0))["image"]
    assert (got - want).abs().max() < 1e-4
    # bf16 weights under bf16 autocast: the same result as autocast over fp32 weights
    half = prepare_for_inference(gen, dtype=torch.bfloat16)
    convs = [m for m in half.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.dtype == torch.bfloat16 for m in convs)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = fast(img, lab, img.flip(0), lab.flip(0))["image"].float()
        low = half(img, lab, img.flip(0), lab.flip(0))["image"].float()
    assert (low - ref).abs().max() < 1e-6 and (low - want).abs().max() < 2e-2
    with pytest.raises(RuntimeError, match="eval mode"):
        fold_batchnorm(gen.train())


def test_region_reconstruction_averages_inside_each_component():
    from mgpe_core.components import component_masks
    from mgpe_core.model.losses import region_reconstruction_loss

    torch.manual_seed(0)
    img, lab = batch_for(64, b=2)
    regions = component_masks(lab, M11)
    fake = img + 0.1 * torch.randn_like(img)
    expected = 0.0
    for c in range(regions.shape[1]):  # reference: one component at a time
        m = regions[:, c:c + 1].bool().expand_as(img)
        if m.any():
            expected += 0.5 * float(((fake - img)[m] ** 2).mean())
    got = float(region_reconstruction_loss(fake, img, regions))
    assert got == pytest.approx(expected, rel=1e-5)

    # an error only on the mouth weighs like an error on the whole image would
    mouth = regions[:, 2:3].bool().expand_as(img)
    assert mouth.any() and mouth.float().mean() < 0.1
    only_mouth = torch.where(mouth, img + 0.2, img)
    assert float(region_reconstruction_loss(only_mouth, img, regions)) == pytest.approx(
        0.5 * 0.04, rel=1e-4)
    assert float(0.5 * torch.nn.functional.mse_loss(only_mouth, img)) < 0.5 * 0.04 * 0.1
    # a component absent from every face adds nothing (no division by zero)
    assert float(region_reconstruction_loss(img, img, torch.zeros_like(regions))) == 0.0
    # per-component weights multiply that component's term alone
    w = [1.0] * regions.shape[1]
    w[2] = 4.0
    assert float(region_reconstruction_loss(only_mouth, img, regions, w)) == pytest.approx(
        4 * 0.5 * 0.04, rel=1e-4)
    assert float(region_reconstruction_loss(fake, img, regions, [1.0] * len(w))) == \
        pytest.approx(expected, rel=1e-5)


def test_region_reconstruction_component_weights_come_from_the_config():
    from mgpe_core.model.config import LossConfig
    from mgpe_core.typed_config import ConfigError, from_dict

    assert LossConfig().reconstruction_weights() is None
    cfg = from_dict(LossConfig, {"region_reconstruction_components": {"mouth": 4}})
    assert cfg.reconstruction_weights() == [1.0, 1.0, 4.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="region_reconstruction_components: unknown component"):
        from_dict(LossConfig, {"region_reconstruction_components": {"lips": 4}})


def test_region_reconstruction_term_in_the_generator_objective():
    from mgpe_core.model.losses import generator_losses

    cfg = MgpeConfig(model=small_cfg(64))
    loss_cfg = dataclasses.replace(cfg.loss, region_reconstruction=5.0)
    nets = build_networks(cfg.model)
    img, lab = batch_for(64, b=2)
    batch = dict(source_image=img, source_labels=lab, target_image=img, target_labels=lab)
    weights = class_weights(loss_cfg, M11)
    total, terms, out = generator_objective(nets.generator, nets.discriminator, nets.parser,
                                            batch, True, loss_cfg, weights)
    assert terms["region_reconstruction"] > 0
    base, base_terms, _ = generator_objective(nets.generator.eval(), nets.discriminator,
                                              nets.parser, batch, True, cfg.loss, weights,
                                              sample=False)
    assert "region_reconstruction" not in base_terms
    _, unpaired_terms, _ = generator_objective(nets.generator, nets.discriminator, nets.parser,
                                               batch, False, loss_cfg, weights)
    assert "region_reconstruction" not in unpaired_terms  # paired steps only
    d = nets.discriminator(out["image"], one_hot(lab, 11))
    with pytest.raises(ValueError, match="needs the paired targets' regions"):
        generator_losses(out, d, d, nets.parser, lab, img, loss_cfg, weights)
