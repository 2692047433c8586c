"""``train.style_mixing``: unpaired training faces keep some components' own style, so the
generator meets the mixed styles of a component edit (a mouth styled by one face over the
skin of another) and the region colour loss asks each component for its styling face's
colours (issue 23: lips that take their colour)."""

import dataclasses

import pytest
import torch

from mgpe_core.components import COMPONENTS, colour_masks
from mgpe_core.labels import get_schema
from mgpe_core.model.config import ModelConfig, TrainConfig
from mgpe_core.model.generator import MGPEGenerator
from mgpe_core.model.losses import region_colour_loss
from mgpe_core.train.trainer import mixed_style_rows
from mgpe_core.typed_config import ConfigError, from_dict
from tests.test_colour_loss import RES, labels, recoloured, textured, tiny_trainer

M11 = get_schema("mgpe-11")
K = len(COMPONENTS)
MOUTH = [c.name for c in COMPONENTS].index("mouth")


def test_off_draws_nothing_and_mixes_nothing():
    state = torch.get_rng_state()
    assert mixed_style_rows(4, 0.0, K, torch.device("cpu")) is None
    assert torch.equal(torch.get_rng_state(), state)  # runs without mixing keep their stream


def test_paired_rows_keep_their_own_and_unpaired_rows_pick_per_component():
    torch.manual_seed(0)
    b = 400
    rows = mixed_style_rows(b, 0.5, K, torch.device("cpu"))
    assert rows.shape == (2 * b, K) and rows.dtype == torch.long
    own_rows = torch.arange(b).unsqueeze(1).expand(b, K)
    assert torch.equal(rows[:b], own_rows)  # paired: every component from the face itself
    unpaired = rows[b:]
    own = unpaired == own_rows  # the face's own style (paired row i encodes the same face)
    partner = unpaired == own_rows + b  # its partner's (the unpaired row's own source)
    assert bool((own ^ partner).all())
    assert 0.45 < float(own.float().mean()) < 0.55
    # per face and component: a face's components are not all drawn together
    assert 0 < int((own.sum(1) == K).sum()) < b // 4
    assert torch.equal(mixed_style_rows(3, 1.0, K, torch.device("cpu"))[3:],
                       torch.arange(3).unsqueeze(1).expand(3, K))


def _generator() -> MGPEGenerator:
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, dict(resolution=RES, width=0.125, latent_dim=16, res_blocks=1,
                                      parser=dict(base_channels=4, depth=2),
                                      discriminator=dict(base_channels=8)))
    return MGPEGenerator(cfg).eval()


@torch.no_grad()
def test_generator_renders_each_component_with_the_row_it_is_given():
    g = _generator()
    decode = g.decode

    def marked(latents, images=None):
        """Random networks map any two faces to nearly the same features: mark each row's
        features so that which row's a render uses shows."""
        feats, recons = decode(latents, images)
        return {name: f + torch.arange(len(f)).view(-1, 1, 1, 1).to(f)
                for name, f in feats.items()}, recons

    g.decode = marked
    a, b = textured(1, seed=1), textured(1, seed=2)
    la, lb = labels(1), labels(1, shift=2)
    src, src_lab = torch.cat([a, b]), torch.cat([la, lb])
    tgt, tgt_lab = torch.cat([a, a]), torch.cat([la, la])  # both rows render face a's mask
    plain = g(src, src_lab, tgt, tgt_lab)["image"]
    same = g(src, src_lab, tgt, tgt_lab,
             style_rows=torch.arange(2).unsqueeze(1).repeat(1, K))["image"]
    assert torch.equal(plain, same)  # each row's own: the plain forward
    all_a = g(src, src_lab, tgt, tgt_lab, style_rows=torch.zeros(2, K, dtype=torch.long))
    assert torch.allclose(all_a["image"][1], plain[0], atol=1e-6)  # row 1 styled wholly by a
    assert torch.equal(all_a["recons"]["mouth"], g(src, src_lab, tgt, tgt_lab)["recons"]["mouth"])
    # the mouth alone from b: a's face with b's mouth features (reference: decode, swap, render)
    rows = torch.zeros(2, K, dtype=torch.long)
    rows[1, MOUTH] = 1
    mixed = g(src, src_lab, tgt, tgt_lab, style_rows=rows)["image"][1]
    feats, _ = g.decode(g.encode(src, src_lab).mu)
    feats = {name: f[[0]] if name != "mouth" else f[[1]] for name, f in feats.items()}
    ref = g.synthesize(feats, a, la)[0]
    assert torch.allclose(mixed, ref, atol=1e-5)
    assert (mixed - plain[0]).abs().max() > 1e-3 and (mixed - plain[1]).abs().max() > 1e-3


def test_colour_loss_asks_each_component_for_the_row_that_styled_it():
    src, src_lab = textured(2, seed=1), labels(2)
    src = src * 0.2 + torch.tensor([0.5, -0.5]).view(2, 1, 1, 1)  # a light and a dark face
    tgt_lab = labels(2, shift=3)
    s_reg, t_reg = colour_masks(src_lab, M11), colour_masks(tgt_lab, M11)
    rows = torch.tensor([[0] * K, [1] * K])
    rows[1, MOUTH] = 0  # row 1: face 1's styles, but face 0's mouth
    # the output each component should have: its styling face's mean colour
    fake = textured(2, seed=5)
    for k in range(K):
        one = torch.zeros_like(t_reg)
        one[:, k] = t_reg[:, k]
        fake = recoloured(one, src[rows[:, k]], s_reg[rows[:, k]], fake)
    assert float(region_colour_loss(fake, t_reg, src, s_reg, style_rows=rows)) < 1e-4
    # without the rows it asks row 1's mouth for face 1's lips: off
    assert float(region_colour_loss(fake, t_reg, src, s_reg)) > 0.01


def test_off_unless_asked_for_and_a_probability():
    assert TrainConfig().style_mixing == 0.0  # the seed's unpaired step
    old = dataclasses.asdict(TrainConfig())
    del old["style_mixing"]
    assert from_dict(TrainConfig, old).style_mixing == 0.0
    assert from_dict(TrainConfig, {"style_mixing": 0.5}).style_mixing == 0.5
    with pytest.raises(ConfigError, match="train.style_mixing is a probability"):
        from_dict(TrainConfig, {"style_mixing": 1.5})


@pytest.mark.slow
@pytest.mark.parametrize("mixing", [0.0, 0.5])
def test_the_training_step_passes_its_rows_to_the_generator(tmp_path, monkeypatch, mixing):
    seen = []
    forward = MGPEGenerator.forward

    def spy(self, *args, style_rows=None, **kwargs):
        seen.append(style_rows)
        return forward(self, *args, style_rows=style_rows, **kwargs)

    monkeypatch.setattr(MGPEGenerator, "forward", spy)
    tiny_trainer(tmp_path, faces=8, batch=3, style_mixing=mixing).run(1)
    rows = seen[0]
    if mixing == 0:
        assert rows is None
        return
    assert rows.shape == (6, K)
    assert torch.equal(rows[:3], torch.arange(3).unsqueeze(1).expand(3, K))
    assert bool(((rows[3:] == rows[:3]) | (rows[3:] == rows[:3] + 3)).all())
