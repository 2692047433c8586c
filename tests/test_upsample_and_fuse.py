"""Issue 23's architecture choices: ``model.upsample`` (transpose | resize), ``model.fuse``
(resblocks | light), ``model.mask_encoder_kernel`` and ``model.feature_head_kernel``; new
configs get the cheaper, checkerboard-free defaults, configs written before the fields existed
keep the network they were trained with (``__legacy_defaults__`` in ``typed_config.from_dict``).
"""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from mgpe_core.model.blocks import up_block
from mgpe_core.model.build import build_networks
from mgpe_core.model.config import LossConfig, MgpeConfig, ModelConfig
from mgpe_core.model.generator import MGPEGenerator
from mgpe_core.model.optimize import fold_batchnorm, prepare_for_inference
from mgpe_core.typed_config import ConfigError, from_dict, to_dict

MODEL_DATA = Path(__file__).resolve().parents[1] / "mgpe_plugins" / "model_data"
NEW = {"upsample": "resize", "fuse": "light", "mask_encoder_kernel": 3, "feature_head_kernel": 1}
LEGACY = {"upsample": "transpose", "fuse": "resblocks", "mask_encoder_kernel": 4,
          "feature_head_kernel": 3}


def tiny(**kw) -> ModelConfig:
    base = dict(resolution=64, width=0.125, latent_dim=32, res_blocks=2,
                parser=dict(base_channels=8, depth=3), discriminator=dict(base_channels=8))
    base.update(kw)
    return from_dict(ModelConfig, base)


def _labels(b: int = 2, res: int = 64) -> torch.Tensor:
    from tests.test_model import face_labels

    return face_labels(b, res)


def test_new_configs_get_the_new_defaults_and_write_them():
    cfg = ModelConfig()
    assert {k: getattr(cfg, k) for k in NEW} == NEW
    assert cfg.res_blocks == 3  # the cost target's shallower G_m
    assert MgpeConfig().loss.region_colour > 0
    data = MgpeConfig().to_dict()
    assert {k: data["model"][k] for k in NEW} == NEW  # files written now name the choice
    assert MgpeConfig.from_dict(data) == MgpeConfig()


def test_a_missing_key_takes_the_legacy_value_an_explicit_one_wins():
    data = to_dict(ModelConfig())
    for k in (*NEW, "res_blocks"):
        del data[k]
    old = from_dict(ModelConfig, data)
    assert {k: getattr(old, k) for k in LEGACY} == LEGACY
    assert old.res_blocks == 9  # the paper's G_m
    data["upsample"] = "resize"
    assert from_dict(ModelConfig, data).upsample == "resize"
    assert from_dict(ModelConfig, data).fuse == "resblocks"
    loss = to_dict(LossConfig())
    del loss["region_colour"]
    assert from_dict(LossConfig, loss).region_colour == 0.0
    # a whole missing section is a new section: its dataclass defaults
    assert MgpeConfig.from_dict({"model": data}).loss.region_colour == LossConfig().region_colour


def test_a_config_a_person_writes_gets_todays_defaults(tmp_path, capsys):
    """``mgpe train --config`` reads a person's file: a missing key means today's default,
    never the legacy value recorded configs get."""
    import json

    from mgpe_cli.main import main

    partial = {"model": {"width": 0.5}, "loss": {"local": 5.0}}
    mine = from_dict(MgpeConfig, partial, recorded=False)
    assert mine.model.upsample == "resize" and mine.model.fuse == "light"
    assert mine.loss.region_colour == LossConfig().region_colour
    assert from_dict(MgpeConfig, partial).model.upsample == "transpose"  # recorded
    (tmp_path / "cfg.json").write_text(json.dumps(partial))
    assert main(["train", "--out", "unused", "--dry-run", "--config",
                 str(tmp_path / "cfg.json")]) == 0
    cfg = json.loads(capsys.readouterr().out)["config"]
    assert cfg["model"]["upsample"] == "resize" and cfg["model"]["width"] == 0.5
    assert cfg["loss"]["region_colour"] == LossConfig().region_colour


def test_wrong_values_and_unknown_keys_still_fail_loudly():
    with pytest.raises(ConfigError, match="upsample"):
        from_dict(ModelConfig, {"upsample": "bilinear"})
    with pytest.raises(ConfigError, match="mask_encoder_kernel"):
        from_dict(ModelConfig, {"mask_encoder_kernel": 5})
    with pytest.raises(ConfigError, match="did you mean 'upsample'"):
        from_dict(ModelConfig, {"upsampel": "resize"})


def test_a_typo_in_legacy_defaults_is_caught():
    @dataclasses.dataclass(frozen=True)
    class C:
        __legacy_defaults__ = {"nope": 1}
        a: int = 0

    with pytest.raises(TypeError, match="nope"):
        from_dict(C, {})


@pytest.mark.parametrize("name", ["mgpe-synth-128", "mgpe-synth-128-eyemask"])
def test_builtin_configs_record_the_new_choices(name):
    """The built-in models are trained with issue 23's choices and their configs say so: a
    reader (or an older default) cannot build them any other way."""
    meta = json.loads((MODEL_DATA / name / "config.json").read_text())
    model = meta["config"]["model"]
    assert {k: model[k] for k in NEW} == NEW
    g = MGPEGenerator(from_dict(ModelConfig, model))
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())


@pytest.mark.parametrize("name", ["mgpe-synth-128", "mgpe-synth-128-eyemask"])
def test_configs_written_before_the_fields_build_their_legacy_networks(name):
    """A config recorded before the fields existed (the built-in's, without them: what the
    models shipped before issue 23 had) builds the networks it was trained with."""
    meta = json.loads((MODEL_DATA / name / "config.json").read_text())
    model = {k: v for k, v in meta["config"]["model"].items() if k not in NEW}
    cfg = from_dict(ModelConfig, model)
    assert {k: getattr(cfg, k) for k in LEGACY} == LEGACY
    g = MGPEGenerator(cfg)
    assert isinstance(g.g_up[0][0], nn.ConvTranspose2d)
    assert len(g.fuse) == 6  # conv, two residual blocks, pad, 7x7, tanh


def test_up_block_modes_double_the_size():
    x = torch.randn(2, 8, 5, 7)
    for mode in ("transpose", "resize"):
        assert up_block(8, 4, "batch", mode)(x).shape == (2, 4, 10, 14)
    with pytest.raises(ValueError):
        up_block(8, 4, "batch", "bicubic")


def _upsampled_conv(x, conv):
    """The reference: the nearest-neighbour 2x copy, then the 3x3 conv."""
    import torch.nn.functional as F

    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), conv.weight, conv.bias,
                    padding=1)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(2, 8, 5, 7), (1, 3, 1, 1), (3, 16, 12, 9)])
def test_the_upsampling_conv_equals_a_conv_of_the_upsampled_copy(shape, bias):
    from mgpe_core.model.blocks import NearestUpConv2d

    torch.manual_seed(0)
    conv = NearestUpConv2d(shape[1], 6, bias=bias)
    if bias:
        nn.init.normal_(conv.bias)
    x = torch.randn(*shape, requires_grad=True)
    got = conv(x)
    x_ref = x.detach().clone().requires_grad_(True)
    want = _upsampled_conv(x_ref, conv)
    assert got.shape == (shape[0], 6, 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # gradients, to the input and the (3x3) weights, are the reference's too
    g = torch.randn_like(got)
    gx, gw = torch.autograd.grad((got * g).sum(), (x, conv.weight))
    rx, rw = torch.autograd.grad((want * g).sum(), (x_ref, conv.weight))
    torch.testing.assert_close(gx, rx, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gw, rw, atol=1e-4, rtol=1e-4)
    # channels-last in, channels-last out, same numbers
    cl = conv(x.detach().to(memory_format=torch.channels_last))
    if shape[2] * shape[3] > 1:
        assert cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl, want.detach(), atol=1e-5, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv(x.detach())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), want.detach(), atol=0.1, rtol=0.05)


def test_resize_blocks_keep_the_saved_keys_and_fold():
    """Models saved when the upsampling was a separate ``nn.Upsample`` at index 0 load as they
    are, and a folded block computes what the unfolded one did."""
    block = up_block(8, 4, "batch", "resize")
    assert list(block.state_dict()) == ["1.weight", "2.weight", "2.bias", "2.running_mean",
                                        "2.running_var", "2.num_batches_tracked"]
    old = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 4, 3, 1, 1,
                        bias=False), nn.BatchNorm2d(4), nn.ReLU())
    old.train()(torch.randn(4, 8, 6, 6))  # BatchNorm statistics that are not the identity
    block.load_state_dict(old.state_dict())
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        want = old.eval()(x)
        torch.testing.assert_close(block.eval()(x), want, atol=1e-5, rtol=1e-5)
        assert fold_batchnorm(block) == 1
        torch.testing.assert_close(block(x), want, atol=1e-5, rtol=1e-5)


def test_resize_has_no_transposed_convs_and_light_fusing_is_small():
    g = MGPEGenerator(tiny(**NEW))
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    legacy = MGPEGenerator(tiny(**LEGACY))
    n = sum(isinstance(m, nn.ConvTranspose2d) for m in legacy.modules())
    assert n == 2 + sum(len(a.up_to_quarter) + 2 for a in legacy.local.values())

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(g.fuse) + count(g.bg_encoder) < 0.5 * (count(legacy.fuse)
                                                        + count(legacy.bg_encoder))
    assert g.mask_encoders[0].net[1][0].kernel_size == (3, 3)
    assert g.local["skin"].feature_head[0].kernel_size == (1, 1)


@pytest.mark.parametrize("choices", [NEW, LEGACY, {**NEW, "norm": "instance"}])
def test_shapes_gradients_and_folding(choices):
    cfg = tiny(**choices)
    nets = build_networks(cfg)
    g = nets.generator.train()
    lab = _labels()
    img = torch.rand(2, 3, 64, 64) * 2 - 1
    out = g(img, lab, img.flip(0), lab.flip(0), sample=True)
    assert out["image"].shape == (2, 3, 64, 64)
    for k, r in out["recons"].items():
        assert r.shape == out["crops"][k].shape
    loss = out["image"].mean() + sum(r.mean() for r in out["recons"].values())
    loss = loss + sum(v.mean() for v in out["logvar"].values())
    loss.backward()
    missing = [n for n, p in g.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    # train a step so BatchNorm statistics are not the identity, then fold
    g.eval()
    with torch.no_grad():
        ref = g(img, lab, img.flip(0), lab.flip(0))["image"]
        fast = prepare_for_inference(g, channels_last=False)
        got = fast(img, lab, img.flip(0), lab.flip(0))["image"]
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    if cfg.norm == "batch":
        import copy

        n = fold_batchnorm(copy.deepcopy(g).eval())
        convs = sum(isinstance(m, nn.BatchNorm2d) for m in g.modules())
        assert n == convs  # every BatchNorm (the new blocks' too) sits next to its conv


def test_edit_path_skips_the_image_heads_under_no_grad():
    g = MGPEGenerator(tiny(**NEW)).eval()
    lab = _labels()
    img = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        enc = g.encode(img, lab)
        feats, recons = g.decode(enc.mu)
        assert recons == {}
        feats2, recons2 = g.decode(enc.mu, images=True)
        assert set(recons2) == set(feats)
        for k in feats:
            assert torch.equal(feats[k], feats2[k])
        assert set(g(img, lab, img, lab)["recons"]) == set(feats)  # forward: always
    feats3, recons3 = g.decode(enc.mu)  # autograd on (training): reconstructions too
    assert set(recons3) == set(feats)
