"""``model.background_skip``: G_b's output takes the target's known background through a
learned gate (output = rgb + gate * (background - rgb), the gate zero outside the target
mask's background). Configs written before the field existed keep the fully generated output.
"""

import torch

from mgpe_core.model.config import ModelConfig
from mgpe_core.model.generator import MGPEGenerator
from mgpe_core.typed_config import from_dict, to_dict
from tests.test_model import face_labels


def tiny(**kw) -> ModelConfig:
    base = dict(resolution=64, width=0.125, latent_dim=32, res_blocks=1, background_skip=True,
                parser=dict(base_channels=8, depth=3), discriminator=dict(base_channels=8))
    base.update(kw)
    return from_dict(ModelConfig, base)


def test_new_configs_have_the_gate_files_without_the_key_do_not():
    assert ModelConfig().background_skip is True
    data = to_dict(ModelConfig())
    assert data["background_skip"] is True  # files written now name the choice
    del data["background_skip"]
    assert from_dict(ModelConfig, data).background_skip is False
    assert MGPEGenerator(tiny(background_skip=False)).background_gate is None


def _pair():
    """A gated generator and the same weights without the gate, in eval mode."""
    torch.manual_seed(0)
    gated = MGPEGenerator(tiny()).eval()
    plain = MGPEGenerator(tiny(background_skip=False)).eval()
    plain.load_state_dict({k: v for k, v in gated.state_dict().items()
                           if not k.startswith("background_gate.")})
    return gated, plain


def _outputs(gated, plain, bias: float):
    torch.manual_seed(1)
    labels = face_labels(2, 64)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    gated.background_gate[1].bias.data.fill_(bias)
    with torch.no_grad():
        a = gated(image, labels, image, labels)["image"]
        b = plain(image, labels, image, labels)["image"]
    return a, b, image, (labels == gated.background_id).unsqueeze(1).expand_as(a)


def test_an_open_gate_takes_the_background_as_is_and_leaves_the_face_generated():
    gated, plain = _pair()
    a, b, image, bg = _outputs(gated, plain, 60.0)  # sigmoid(60) == 1 in float32
    assert bg.any() and (~bg).any()
    assert torch.equal(a[bg], image[bg])
    assert torch.equal(a[~bg], b[~bg])
    assert (a[bg] - b[bg]).abs().mean() > 0.05  # the generated background differed


def test_a_closed_gate_is_the_network_without_it_and_a_half_open_one_halfway():
    gated, plain = _pair()
    a, b, _, _ = _outputs(gated, plain, -60.0)
    assert torch.allclose(a, b, atol=1e-6)
    a, b, image, bg = _outputs(gated, plain, 0.0)  # the initial gate: zero weights and bias
    assert torch.allclose(a[bg], (b[bg] + image[bg]) / 2, atol=1e-6)
    assert torch.equal(a[~bg], b[~bg])


def test_the_gate_learns_to_open_where_the_background_is_the_target():
    """A few optimiser steps on the L1 to a target whose background is the input's open the
    gate on the background (a real gradient path, not only a forward blend)."""
    gated, _ = _pair()
    gated.train()
    labels = face_labels(2, 64)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    bg = (labels == gated.background_id).unsqueeze(1)
    opt = torch.optim.Adam(gated.background_gate.parameters(), lr=0.05)
    hidden = {}
    gated.fuse[0].register_forward_hook(  # the features the RGB and gate kernels read
        lambda _m, _i, out: hidden.__setitem__(
            "gate", torch.sigmoid(gated.background_gate(out)).detach()))
    shares = []
    for _ in range(4):
        out = gated(image, labels, image, labels)["image"]
        shares.append(hidden["gate"][bg].mean().item())
        loss = (out - image).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert shares[0] == 0.5 and shares[-1] > 0.6


def test_under_bf16_autocast_the_output_has_the_dtype_of_the_network_without_the_gate():
    """``--precision bf16`` edits and AMP training: the blend follows G_b's RGB dtype."""
    gated, plain = _pair()
    labels = face_labels(2, 64)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = gated(image, labels, image, labels)["image"]
        b = plain(image, labels, image, labels)["image"]
    assert a.dtype == b.dtype == torch.bfloat16 and torch.isfinite(a.float()).all()


def test_the_gate_draws_no_random_numbers():
    """Adding the gate leaves every other weight a seed gives unchanged (the test models and
    seeded runs keep their networks)."""
    from mgpe_core.model.build import build_networks

    nets = {}
    for skip in (True, False):
        torch.manual_seed(0)
        nets[skip] = build_networks(tiny(background_skip=skip))
    for part in ("generator", "discriminator", "parser"):
        a = getattr(nets[True], part).state_dict()
        b = getattr(nets[False], part).state_dict()
        assert all(torch.equal(a[k], v) for k, v in b.items()), part


def test_the_stacked_rgb_and_gate_convolution_is_the_two_modules():
    """G_b runs the RGB and gate kernels as one convolution: the same numbers as its modules
    run one after the other, the gate varying over the picture."""
    gated, _ = _pair()
    with torch.no_grad():
        gated.background_gate[1].weight.normal_(0, 0.05)
        x = torch.randn(2, gated.fuse[0][0].in_channels, 64, 64)
        labels = face_labels(2, 64)
        bg_in = torch.cat([torch.rand(2, 3, 64, 64) * 2 - 1,
                           (labels == gated.background_id).unsqueeze(1).float()], 1)
        hidden = gated.fuse[:-3](x)
        rgb = gated.fuse[-3:](hidden)
        gate = torch.sigmoid(gated.background_gate(hidden)) * bg_in[:, 3:4]
        assert gate[bg_in[:, 3:4] > 0].std() > 0.01
        want = torch.lerp(rgb, bg_in[:, :3], gate)
        torch.testing.assert_close(gated._fused(x, bg_in), want, atol=1e-5, rtol=1e-5)
