"""The edit engine: style mixing equals the manual network computation, batching, any input
size, paste-back, parser fallback and input errors."""

import numpy as np
import pytest
import torch

from mgpe_core.engine import Editor, EditRequest, Portrait, to_square
from mgpe_core.errors import LabelError, UsageError
from mgpe_core.labels import convert, get_schema
from mgpe_core.registry import load_model
from mgpe_core.samples import load_sample

C19, M11 = get_schema("celebamask-19"), get_schema("mgpe-11")


def sample(i):
    img, lab = load_sample(i)
    return Portrait(img, convert(lab, C19, M11), f"sample:{i}")


@pytest.fixture(scope="module")
def editor(tiny_home):
    return Editor(load_model("tiny"), fast=True)


def _tensors(p, r=64):
    img, lab, _ = to_square(p.image, p.labels, r)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    return x, torch.from_numpy(lab)[None].long()


def test_style_mixing_matches_manual_computation(editor, tiny_home):
    a, b = sample(0), sample(5)
    res = editor.edit([EditRequest(a, styles={"hair": b, "mouth": b})])[0]
    gen = load_model("tiny").generator.eval()
    xa, la = _tensors(a)
    xb, lb = _tensors(b)
    with torch.no_grad():
        ea, eb = gen.encode(xa, la), gen.encode(xb, lb)
        lat = dict(ea.mu, hair=eb.mu["hair"], mouth=eb.mu["mouth"])
        feats, _ = gen.decode(lat)
        want = gen.synthesize(feats, xa, la)
    want = ((want.clamp(-1, 1) + 1) * 127.5).round().byte()[0].permute(1, 2, 0).numpy()
    assert res.image.shape == (64, 64, 3)
    assert np.abs(res.image.astype(int) - want.astype(int)).max() <= 1
    plain = editor.edit([EditRequest(a)])[0]
    assert not np.array_equal(plain.image, res.image)  # the styles really changed something


def test_batching_gives_the_same_results(editor):
    reqs = [EditRequest(sample(i), styles={"skin": sample(i + 1)}) for i in range(3)]
    together = editor.edit(reqs, batch_size=8)
    apart = [editor.edit([r])[0] for r in reqs]
    for x, y in zip(together, apart, strict=True):
        assert np.abs(x.image.astype(int) - y.image.astype(int)).max() <= 1


def test_any_input_size_and_paste_back(editor):
    img, lab = sample(2).image, sample(2).labels
    from PIL import Image

    small = np.asarray(Image.fromarray(img).resize((90, 120)))
    small_lab = np.asarray(Image.fromarray(lab).resize((90, 120), Image.Resampling.NEAREST))
    p = Portrait(small, small_lab, "resized")
    res = editor.edit([EditRequest(p)], paste_back=True)[0]
    assert res.image.shape == (120, 90, 3) and res.model_image.shape == (64, 64, 3)
    # far from the face region the original pixels are kept exactly
    from mgpe_core.engine import feathered

    alpha = feathered((small_lab != 0), 2)
    assert np.array_equal(res.image[alpha == 0], small[alpha == 0])
    assert (alpha == 0).sum() > 1000


def test_parser_fills_missing_masks_and_errors(editor, tiny_home):
    p = Portrait(sample(3).image, None, "no mask")
    res = editor.edit([EditRequest(p)])[0]
    assert p.labels is not None and p.labels.shape == p.image.shape[:2]
    assert res.mask.max() < 11
    no_parser = Editor(load_model("tiny-noparser"))
    with pytest.raises(UsageError, match="has no parser"):
        no_parser.edit([EditRequest(Portrait(sample(3).image, None, "x"))])
    with pytest.raises(LabelError, match="mask is 10x10 but the image is 256x256"):
        Portrait(sample(0).image, np.zeros((10, 10), np.uint8), "bad")
    bad = Portrait(sample(0).image, np.full((256, 256), 42, np.uint8), "bad ids")
    with pytest.raises(LabelError, match=r"ids \[42\] are outside schema 'mgpe-11'"):
        editor.edit([EditRequest(bad)])
    with pytest.raises(UsageError, match="unknown components"):
        EditRequest(sample(0), styles={"beard": sample(1)})
