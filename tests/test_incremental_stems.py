"""Incremental synthesis stems (``mgpe_core/model/incremental.py``): after a brush stroke, E_m's
and the background encoder's first convolutions are updated where the input changed, and the
result equals a full computation within float error; what cannot be updated exactly is not."""

import numpy as np
import pytest
import torch
from torch import nn

from mgpe_core.engine import Editor, EditRequest, Portrait
from mgpe_core.labels import convert, get_schema
from mgpe_core.model import generator as generator_module
from mgpe_core.model.blocks import conv_norm_act
from mgpe_core.model.build import build_networks
from mgpe_core.model.config import ModelConfig
from mgpe_core.model.incremental import MAX_CHANGED_SHARE, linear_stem
from mgpe_core.model.optimize import prepare_for_inference
from mgpe_core.samples import load_sample
from mgpe_core.typed_config import from_dict


def _stem(norm: str, cin=5, cout=6, k=7) -> nn.Sequential:
    torch.manual_seed(0)
    block = conv_norm_act(cin, cout, k, 1, norm)
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial running statistics and affine
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return block.eval()


def _changed(x, box):
    y = x.clone()
    y0, y1, x0, x1 = box
    y[:, :, y0:y1, x0:x1] = torch.rand_like(y[:, :, y0:y1, x0:x1])
    return y


@pytest.mark.parametrize("norm", ["batch", "none", "folded"])
@pytest.mark.parametrize("box", [(10, 14, 20, 23),  # inside
                                 (0, 2, 0, 3),  # the corner: the kernel reaches past the border
                                 (29, 32, 5, 32)])  # the bottom edge, full width
def test_an_update_equals_the_full_stem(norm, box):
    block = _stem("batch" if norm == "folded" else norm)
    if norm == "folded":
        block = prepare_for_inference(block, channels_last=False)
        assert isinstance(block[1], nn.Identity)
    stem = linear_stem(block)
    assert stem is not None
    x = torch.rand(2, 5, 32, 32)
    x2 = _changed(x, box)
    with torch.no_grad():
        pre = stem.linear(x)
        kept = pre.clone()
        got = stem.update(pre, x, x2)
        want = stem.linear(x2)
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
        assert torch.equal(pre, kept)  # the previous output is left alone
        # the activated stem is the block itself
        assert torch.allclose(stem.finish(got), block(x2), atol=1e-5)
        assert torch.equal(got, kept) is False


def test_no_change_returns_the_same_output_and_a_large_change_declines():
    stem = linear_stem(_stem("batch"))
    x = torch.rand(1, 5, 32, 32)
    with torch.no_grad():
        pre = stem.linear(x)
        assert stem.update(pre, x, x.clone()) is pre
        side = int((MAX_CHANGED_SHARE ** 0.5) * 32) + 2
        assert stem.update(pre, x, _changed(x, (0, side, 0, side))) is None


def test_stems_that_cannot_be_updated_exactly_are_refused():
    assert linear_stem(_stem("instance")) is None  # not affine in the input
    assert linear_stem(conv_norm_act(4, 4, 3, 2, "batch").eval()) is None  # strided
    training = _stem("batch").train()
    assert linear_stem(training) is None  # batch statistics
    assert linear_stem(nn.Conv2d(3, 3, 3, padding=1)) is None  # not a conv_norm_act block


TINY = dict(resolution=64, width=0.125, latent_dim=16, res_blocks=1,
            parser=dict(base_channels=4, depth=2), discriminator=dict(base_channels=4))


def _generator(**kw):
    cfg = from_dict(ModelConfig, {**TINY, **kw})
    gen = build_networks(cfg).generator.eval()
    torch.manual_seed(1)
    for m in gen.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    if gen.background_gate is not None:  # a gate that varies over the picture, not 0.5 flat
        with torch.no_grad():
            gen.background_gate[1].weight.normal_(0, 0.05)
    return gen


def _faces(n=2, res=64):
    from mgpe_core.testing import blocky_face_labels

    torch.manual_seed(2)
    return torch.rand(n, 3, res, res) * 2 - 1, blocky_face_labels(n, res)


@pytest.mark.parametrize(("fuse", "gate"), [("light", True), ("light", False),
                                          ("resblocks", False)])
def test_synthesis_from_updated_stems_equals_the_plain_synthesis(fuse, gate):
    gen = _generator(fuse=fuse, background_skip=gate)
    x, labels = _faces()
    with torch.no_grad():
        feats, _ = gen.decode(gen.encode(x, labels).mu)
        stems = gen.synthesis_stems(x, labels)
        for step in range(5):  # strokes: hair dabs, one of them on the background
            labels = labels.clone()
            y = 8 + 9 * step
            labels[:, y:y + 3, 4 + 10 * step:7 + 10 * step] = 10 if step % 2 else 0
            stems = gen.synthesis_stems(x, labels, stems)
            assert stems.updates == step + 1
            want = gen.synthesize(feats, x, labels)
            got = gen.synthesize(feats, x, labels, stems=stems)
            assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_updates_are_bounded_and_unsupported_networks_compute_in_full(monkeypatch):
    gen = _generator()
    x, labels = _faces(1)
    monkeypatch.setattr(generator_module, "MAX_STEM_UPDATES", 2)
    with torch.no_grad():
        s = gen.synthesis_stems(x, labels)
        s = gen.synthesis_stems(x, labels, s)
        s = gen.synthesis_stems(x, labels, s)
        assert s.updates == 2
        assert gen.synthesis_stems(x, labels, s).updates == 0  # recomputed in full
    multi = _generator(mask_encoder="multi")
    assert multi.synthesis_stems(x, labels) is None
    assert _generator().train().synthesis_stems(x, labels) is None


@pytest.fixture(scope="module")
def builtin():
    from mgpe_core.registry import load_model

    return load_model("mgpe-synth-128")


def test_the_editor_updates_stems_stroke_by_stroke(builtin, monkeypatch):
    """Strokes on one photo through the cached editor: outputs equal the uncached editor's;
    after the first, every stroke updates the stems instead of computing them."""
    img, lab = load_sample(3)
    p = Portrait(img, convert(lab, get_schema("celebamask-19"), builtin.schema), "s3")
    plain, cached = Editor(builtin), Editor(builtin, embedding_cache=2)
    calls = []
    real = cached.generator.synthesis_stems

    def spy(image, labels, previous=None):
        calls.append(previous is not None)
        return real(image, labels, previous)

    monkeypatch.setattr(cached.generator, "synthesis_stems", spy)
    mask = p.labels.copy()
    for k in range(4):
        mask = mask.copy()
        mask[60 + 20 * k:70 + 20 * k, 40:52] = builtin.schema.index("hair")
        want = plain.generate([EditRequest(p, mask)])
        got = cached.generate([EditRequest(p, mask)])
        assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    assert calls == [False, True, True, True]
    assert len(cached.cache.stems) == 1
    cached.cache.clear()
    assert len(cached.cache.stems) == 0


def test_bf16_and_compiled_editors_compute_stems_inside_the_synthesis(builtin):
    ed = Editor(builtin, embedding_cache=2, precision="bf16")
    x, labels = _faces(1, builtin.resolution)
    assert ed._synthesis_stems(["k"], x, labels) is None
    assert len(ed.cache.stems) == 0
    assert np.isfinite(ed.generate([EditRequest(
        Portrait(((x[0].permute(1, 2, 0) + 1) * 127.5).byte().numpy(),
                 labels[0].numpy().astype(np.uint8)))]).float().numpy()).all()
