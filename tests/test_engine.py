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
from mgpe_core.testing import pil_feathered as _old_feathered

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
    # the generator's colours (the engine's style matching, tests/test_colour_match.py,
    # shifts the restyled hair)
    res = editor.edit([EditRequest(a, styles={"hair": b}, match_style=False)])[0]
    region = to_square(a.image, edit_region(EditRequest(a, styles={"hair": b}), M11)
                       .astype(np.uint8), 64)[1].astype(bool)
    # the hair and the background along its outline, which its old colour tints
    from mgpe_core.background_fill import fringe_width
    from mgpe_core.morphology import dilate as grow

    at_size = edit_region(EditRequest(a, styles={"hair": b}), M11)
    hair = a.labels == M11.index("hair")
    fringe = grow(hair, fringe_width(max(hair.shape))) & (a.labels == M11.index("background"))
    assert fringe.any() and np.array_equal(at_size, hair | fringe)
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


def test_a_window_part_whose_shape_changed_is_redrawn_whole():
    """A reshaped eye or mouth is generated as one piece: the photo's old lip or eye pixels
    next to a newly drawn rim would make a patchwork part. Dense components (skin, hair) and
    untouched parts keep their unchanged pixels."""
    from mgpe_core.engine import edit_region

    a = sample(0)
    lips = np.isin(a.labels, M11.ids(("u_lip", "mouth", "l_lip")))
    rows = np.flatnonzero(lips.any(1))
    edited = a.labels.copy()
    edited[rows[-1] + 1][lips[rows[-1]]] = M11.index("l_lip")  # the lower lip one row lower
    region = edit_region(EditRequest(a, mask=edited), M11)
    changed = edited != a.labels
    assert changed.sum() < lips.sum() // 4
    assert np.array_equal(region, changed | lips)  # the whole mouth, old and new
    # one eye reshaped: that eye, not the other one
    left, right = (a.labels == M11.index(n) for n in ("l_eye", "r_eye"))
    edited = a.labels.copy()
    edited[np.flatnonzero(left.any(1))[0] - 1][left.any(0)] = M11.index("l_eye")
    region = edit_region(EditRequest(a, mask=edited), M11)
    assert region[left].all() and not region[right].any()
    # a dense component's change stays the changed pixels
    edited = a.labels.copy()
    edited[100:110, 100:110] = M11.index("hair")
    assert not np.isin(a.labels[100:110, 100:110], M11.ids(("u_lip", "mouth", "l_lip",
                                                              "l_eye", "r_eye"))).any()
    assert np.array_equal(edit_region(EditRequest(a, mask=edited), M11), edited != a.labels)


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
    outside = ~dilate(hair, 1 + 2 * blend_radius(120))  # (the fringe, 1 px at 120 px)
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


@pytest.mark.slow
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


# -- each thing once: square geometry shared, separable feathering, batched parsing --------------


def _old_to_square(image, labels, size):
    """to_square as it was (pad and resize photo and labels in one pass): the reference."""
    from PIL import Image

    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    if h != w:
        image = np.pad(image, ((top, side - h - top), (left, side - w - left), (0, 0)),
                       mode="edge")
        if labels is not None:
            labels = np.pad(labels, ((top, side - h - top), (left, side - w - left)))
    if side != size:
        image = np.array(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
        if labels is not None:
            labels = np.array(Image.fromarray(labels).resize((size, size),
                                                               Image.Resampling.NEAREST))
    return image, labels, (top, left, side)




def test_to_square_split_gives_the_same_squares():
    from mgpe_core.engine import square_geometry, square_image, square_labels

    rng = np.random.default_rng(0)
    for h, w, size in [(120, 90, 64), (90, 120, 64), (64, 64, 64), (50, 51, 64), (256, 256, 64),
                       (31, 200, 128)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        lab = rng.integers(0, 11, (h, w), dtype=np.uint8)
        want = _old_to_square(img, lab, size)
        got = to_square(img, lab, size)
        assert got[2] == want[2] == square_geometry((h, w))
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert np.array_equal(square_image(img, got[2], size), want[0])
        assert np.array_equal(square_labels(lab, got[2], size), want[1])
        assert to_square(img, None, size)[1] is None


def test_non_square_mask_edit_is_bit_identical_to_squaring_each_mask_with_the_photo(editor):
    """The edited mask and the keep-unedited region are squared with the photo's geometry
    (no second and third Lanczos pass): the pixels are those of the one-pass to_square."""
    from mgpe_core.engine import blend, blend_radius, edit_region, feathered

    a = sample(0)
    p = Portrait(a.image[20:236, 40:200].copy(), a.labels[20:236, 40:200].copy(), "crop")
    edited = p.labels.copy()
    edited[150:170, 40:120] = M11.index("hair")
    # the plain blend (tone matching, tests/test_colour_match.py, would shift the skin and
    # the restyled hair)
    req = EditRequest(p, mask=edited, styles={"hair": sample(5)}, match_colour=False,
                      match_style=False)
    res = editor.edit([req])[0]
    square, _, _ = _old_to_square(p.image, p.labels, 64)
    _, mask, _ = _old_to_square(p.image, edited, 64)
    _, region, _ = _old_to_square(p.image, edit_region(req, M11).astype(np.uint8), 64)
    assert np.array_equal(res.mask, mask)
    want = blend(res.model_image, square, feathered(region.astype(bool), blend_radius(64)))
    assert np.array_equal(res.image, want)
    pasted = editor.edit([req], paste_back=True)[0]
    assert pasted.image.shape == p.image.shape and np.array_equal(pasted.model_image,
                                                                    res.model_image)


def test_feathered_equals_the_old_pil_max_filter():
    from mgpe_core.engine import feathered

    rng = np.random.default_rng(1)
    blobs = np.zeros((150, 110), bool)
    blobs[20:60, 30:90] = blobs[100:149, 0:20] = True  # one blob touches two borders
    cases = [(blobs, 3, 1024), (blobs, 0, 1024), (np.zeros((40, 70), bool), 4, 1024),
             (np.ones((33, 21), bool), 2, 1024), (rng.random((90, 130)) < 0.05, 5, 1024),
             (blobs, 9, 64), (rng.random((260, 180)) < 0.01, 7, 100)]  # the last two: scaled
    for mask, radius, work in cases:
        new, old = feathered(mask, radius, work), _old_feathered(mask, radius, work)
        assert new.shape == old.shape == mask.shape and new.dtype == np.float32
        assert np.abs(new - old).max() <= 1 / 255 + 1e-7


def test_parse_in_batches_gives_the_labels_of_one_at_a_time(editor):
    from mgpe_core.engine import from_square

    a, b = sample(1).image, sample(4).image
    images = [a, a[10:200, 30:250].copy(), b[:, :100].copy(), b, a[:64, :64].copy()]
    batched = editor.parse(images, batch_size=2)
    single = [editor.parse([img], batch_size=1)[0] for img in images]
    for img, x, y in zip(images, batched, single, strict=True):
        assert x.shape == y.shape == img.shape[:2] and x.dtype == np.uint8
        assert np.array_equal(x, y)
    # one at a time as before the batching: square, parse one image, back to its size
    sq, _, geo = to_square(images[2], None, 64)
    x = torch.from_numpy(sq).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    with torch.inference_mode():
        lab = editor.parser.parse(x)[0].byte().numpy()
    assert np.array_equal(batched[2], from_square(lab, geo, images[2].shape[:2], nearest=True))
    with pytest.raises(UsageError, match="batch_size"):
        editor.parse(images, batch_size=0)


def test_blend_computes_only_where_alpha_is_positive_with_the_same_pixels():
    from mgpe_core.engine import blend

    def old_blend(generated, original, alpha):
        out = np.empty_like(original)
        for y in range(0, original.shape[0], 512):
            a = alpha[y:y + 512, :, None]
            mix = a * generated[y:y + 512] + (1 - a) * original[y:y + 512].astype(np.float32)
            out[y:y + 512] = np.clip(np.round(mix), 0, 255).astype(np.uint8)
        return out

    rng = np.random.default_rng(2)
    for h, w in [(1100, 300), (64, 64), (1, 7)]:
        gen = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        patch = np.zeros((h, w), np.float32)
        patch[h // 3:h // 2 + 1, w // 4:w // 2 + 1] = rng.random((h // 2 + 1 - h // 3,
                                                                 w // 2 + 1 - w // 4))
        for alpha in (np.zeros((h, w), np.float32), np.ones((h, w), np.float32), patch,
                      rng.random((h, w)).astype(np.float32)):
            assert np.array_equal(blend(gen, photo, alpha), old_blend(gen, photo, alpha))
    assert np.array_equal(blend(gen, photo, np.zeros((h, w), np.float32)), photo)


def test_from_square_drops_the_padding_columns_with_the_same_pixels():
    """from_square resizes only the photo's own columns in PIL's vertical pass: the pixels of
    resizing the whole square (bicubic / nearest) and cropping."""
    from PIL import Image

    from mgpe_core.engine import from_square, square_geometry

    def whole(pixels, geometry, out_hw, nearest):
        top, left, side = geometry
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
        big = np.asarray(Image.fromarray(pixels).resize((side, side), resample))
        return big[top:top + out_hw[0], left:left + out_hw[1]]

    rng = np.random.default_rng(3)
    for size, h, w in [(64, 120, 90), (64, 90, 120), (64, 64, 64), (128, 700, 333),
                       (37, 41, 40), (64, 1, 300), (64, 300, 1), (128, 3000, 2000)]:
        geo = square_geometry((h, w))
        smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
                            .resize((size, size), Image.Resampling.BILINEAR))
        for pixels, nearest in ((rng.integers(0, 256, (size, size, 3), dtype=np.uint8), False),
                                (smooth, False),
                                (rng.integers(0, 11, (size, size), dtype=np.uint8), True)):
            got = from_square(pixels, geo, (h, w), nearest)
            assert got.shape[:2] == (h, w)
            assert np.array_equal(got, whole(pixels, geo, (h, w), nearest)), (size, h, w)
