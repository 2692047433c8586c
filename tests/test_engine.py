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
    assert res.image.shape == res.model_image.shape == (64, 64, 3)
    assert np.abs(res.model_image.astype(int) - want.astype(int)).max() <= 1
    plain = editor.edit([EditRequest(a, keep_unedited=False)])[0]
    assert not np.array_equal(plain.image, res.model_image)  # the styles changed something


def test_unedited_pixels_are_kept_and_the_edited_region_is_generated(editor):
    from mgpe_core.engine import blend_radius, edit_region
    from mgpe_core.metrics.image_metrics import dilate

    a, b = sample(0), sample(5)
    square, la, _ = to_square(a.image, a.labels, 64)
    res = editor.edit([EditRequest(a, styles={"hair": b})])[0]
    region = to_square(a.image, edit_region(EditRequest(a, styles={"hair": b}), M11)
                       .astype(np.uint8), 64)[1].astype(bool)
    assert region.any() and np.array_equal(region, la == M11.index("hair"))
    reach = dilate(region, 2 * blend_radius(64))
    assert np.array_equal(res.image[~reach], square[~reach])  # outside: the photo, exactly
    core = ~dilate(~region, 2 * blend_radius(64))
    assert core.any() and np.array_equal(res.image[core], res.model_image[core])
    # no edit at all: the photo comes back unchanged
    assert np.array_equal(editor.edit([EditRequest(a)])[0].image, square)
    # a mask edit: the changed pixels are in the region; style from the target itself is not
    edited = a.labels.copy()
    edited[100:110, 100:110] = M11.index("hair")
    req = EditRequest(a, mask=edited, styles={"mouth": a})
    assert np.array_equal(edit_region(req, M11), edited != a.labels)


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
    res = editor.edit([EditRequest(p, keep_unedited=False)], paste_back=True)[0]
    assert res.image.shape == (120, 90, 3) and res.model_image.shape == (64, 64, 3)
    # far from the face region the original pixels are kept exactly
    from mgpe_core.engine import feathered

    alpha = feathered((small_lab != 0), 2)
    assert np.array_equal(res.image[alpha == 0], small[alpha == 0])
    assert (alpha == 0).sum() > 1000
    # keeping unedited pixels at the photo's own size: only the hair region may change
    from mgpe_core.engine import blend_radius
    from mgpe_core.metrics.image_metrics import dilate

    kept = editor.edit([EditRequest(p, styles={"hair": sample(5)})], paste_back=True)[0]
    hair = small_lab == M11.index("hair")
    outside = ~dilate(hair, 2 * blend_radius(120))
    assert np.array_equal(kept.image[outside], small[outside]) and outside.sum() > 1000
    assert not np.array_equal(kept.image[hair], small[hair])


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


def test_fast_parser_is_a_folded_copy_with_the_same_labels(editor, tiny_home):
    """The editor parses with a folded, channels-last copy; the model's parser is untouched."""
    model = load_model("tiny")
    plain = Editor(model, fast=False)
    assert plain.parser is model.parser and editor.parser is not editor.model.parser
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in editor.parser.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.parser.modules())
    images = [sample(i).image for i in range(3)]
    for fast, slow in zip(editor.parse(images), plain.parse(images), strict=True):
        assert fast.shape == slow.shape and (fast == slow).mean() > 0.999


def test_bf16_precision_stores_bf16_weights_and_stays_close_to_fp32(editor, tiny_home):
    fast_bf16 = Editor(load_model("tiny"), precision="bf16")
    convs = [m for m in fast_bf16.generator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.dtype == torch.bfloat16 for m in convs)
    req = [EditRequest(sample(0), styles={"hair": sample(5)}, keep_unedited=False)]
    ref, out = editor.edit(req)[0].image, fast_bf16.edit(req)[0].image
    assert out.shape == ref.shape and out.dtype == ref.dtype == np.uint8
    # bf16 rounding: a couple of 8-bit levels at most
    assert 0 < np.abs(out.astype(float) - ref.astype(float)).mean() < 2.0


def test_compiled_synthesis_gives_the_same_edits(editor, tiny_home):
    """torch.compile (inductor, frozen weights) on the synthesis network: same pixels as the
    eager fast path within one 8-bit level, on a private copy of the generator."""
    model = load_model("tiny")
    compiled = Editor(model, compile=True)
    assert "synthesize" in vars(compiled.generator)  # the compiled function, on the copy only
    assert "synthesize" not in vars(model.generator)
    req = [EditRequest(sample(0), styles={"hair": sample(5)}, keep_unedited=False),
           EditRequest(sample(1), keep_unedited=False)]
    ref = [r.image for r in editor.edit(req)]
    out = [r.image for r in compiled.edit(req)]
    for a, b in zip(ref, out, strict=True):
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1
