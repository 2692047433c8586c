"""Tone matching at the blend (mgpe_core/colour_match.py): a surface class that continues
across the edited region's border takes the photo's tone there; drawn parts and everything
beyond the blend's reach keep their pixels. A restyled component is matched to its style
source instead: it loses the colour error the generator makes re-rendering that source."""

import numpy as np
import pytest

from mgpe_core.colour_match import (
    MIN_SOURCE_PIXELS,
    SURFACES,
    UNCALIBRATED,
    PartColour,
    StyleWeights,
    edited_colours,
    match_to_photo,
    match_to_sources,
    part_colours,
    ring_width,
    style_offsets,
    surface_ids,
)
from mgpe_core.engine import Editor, EditRequest, Portrait, blend_radius, edit_region, to_square
from mgpe_core.labels import convert, get_schema
from mgpe_core.metrics.image_metrics import lab_to_rgb, rgb_to_lab
from mgpe_core.morphology import dilate, erode
from mgpe_core.registry import load_model
from mgpe_core.samples import load_sample
from mgpe_core.style_match import uses_target

C19, M11 = get_schema("celebamask-19"), get_schema("mgpe-11")
SKIN, EYE, HAIR = M11.index("skin"), M11.index("l_eye"), M11.index("hair")


def scene(offset=25):
    """A skin square with a textured photo; the generator drew it ``offset`` lighter; the
    edited region is a block in its middle."""
    rng = np.random.default_rng(0)
    photo = (140 + rng.integers(-6, 7, (48, 48, 3))).astype(np.uint8)
    labels = np.full((48, 48), SKIN, np.uint8)
    region = np.zeros((48, 48), bool)
    region[16:32, 16:32] = True
    generated = np.clip(photo.astype(int) + offset, 0, 255).astype(np.uint8)
    return photo, generated, labels, region


def test_a_surface_drawn_in_another_tone_takes_the_photos_where_the_blend_uses_it():
    photo, generated, labels, region = scene()
    out = match_to_photo(generated, photo, labels, region, 2, surface_ids(M11))
    reach = dilate(region, 4)
    assert np.array_equal(out[reach], photo[reach])  # the whole offset, and only it, removed
    assert np.array_equal(out[~reach], generated[~reach])  # beyond the blend: untouched


def test_the_offset_is_the_rings_median_so_a_stray_structure_does_not_move_it():
    """A dark eyelid drawn a pixel past the mask into a third of the ring: the skin still
    gets the offset of the skin."""
    photo, generated, labels, region = scene(offset=10)
    ring = dilate(region, ring_width(2)) & ~region
    stray = ring & (np.arange(48)[:, None] < 16)  # the ring's top part
    assert 0.15 < stray.sum() / ring.sum() < 0.45
    generated[stray] = 20
    out = match_to_photo(generated, photo, labels, region, 2, surface_ids(M11))
    inside = region
    assert np.abs(out[inside].astype(int) - photo[inside].astype(int)).max() <= 1


def test_a_class_with_every_pixel_in_the_region_keeps_its_generated_colour():
    """A restyled component (all of its pixels in the region) has no ring: the recolouring
    the user asked for stays."""
    photo, generated, labels, region = scene()
    labels[14:34, 14:34] = HAIR  # hair only inside (and just around) the region
    region[14:34, 14:34] = True
    out = match_to_photo(generated, photo, labels, region, 2, surface_ids(M11))
    hair = labels == HAIR
    assert np.array_equal(out[hair], generated[hair])
    skin_near = dilate(region, 4) & ~hair
    assert np.array_equal(out[skin_near], photo[skin_near])  # the skin around still matched


def test_drawn_parts_are_not_matched_and_no_region_means_no_change():
    photo, generated, labels, region = scene()
    labels[:] = EYE  # an eye is a structure (sclera beside iris), not a surface
    assert "l_eye" not in SURFACES
    assert match_to_photo(generated, photo, labels, region, 2, surface_ids(M11)) is generated
    none = np.zeros_like(region)
    assert match_to_photo(generated, photo, labels, none, 2, surface_ids(M11)) is generated


def test_a_ring_too_thin_to_read_is_left_alone():
    photo, generated, labels, region = scene()
    labels[:] = EYE
    labels[15, 16:22] = SKIN  # 6 skin pixels outside, 1 px from the region
    labels[16:20, 16:22] = SKIN  # and some inside
    out = match_to_photo(generated, photo, labels, region, 2, surface_ids(M11))
    assert np.array_equal(out, generated)


def test_surface_ids_are_the_schemas_own():
    assert [M11.classes[i] for i in surface_ids(M11)] == [
        name for name in SURFACES if name in M11.classes]
    assert "hair" in [C19.classes[i] for i in surface_ids(C19)]


def sample(i):
    img, lab = load_sample(i)
    return Portrait(img, convert(lab, C19, M11), f"sample:{i}")


@pytest.mark.parametrize("paste_back", [False, True])
def test_the_engine_matches_tones_unless_asked_not_to(tiny_home, paste_back):
    """A mask edit that turns hair into skin (a forehead): with ``match_colour`` the result
    differs from the plain blend only within the blend's reach, and its new skin is closer to
    the photo's skin tone around it; without, it is the plain blend."""
    editor = Editor(load_model("tiny"))
    a = sample(0)
    mask = a.labels.copy()
    hair = np.argwhere(mask == HAIR)
    rows = hair[:, 0] > np.percentile(hair[:, 0], 70)  # the lowest hair rows become skin
    mask[tuple(hair[rows].T)] = SKIN
    matched = editor.edit([EditRequest(a, mask=mask)], paste_back=paste_back)[0]
    plain = editor.edit([EditRequest(a, mask=mask, match_colour=False)],
                        paste_back=paste_back)[0]
    assert np.array_equal(matched.model_image, plain.model_image)  # the raw output is raw
    region = edit_region(EditRequest(a, mask=mask), M11)
    size = max(a.image.shape[:2]) if paste_back else 64
    if not paste_back:
        region = to_square(a.image, region.astype(np.uint8), 64)[1].astype(bool)
    reach = dilate(region, 2 * blend_radius(size) + 1)
    differs = np.any(matched.image != plain.image, axis=-1)
    assert differs.any() and not (differs & ~reach).any()


# -- restyled parts matched to their style source ----------------------------------------------

LIP = M11.index("u_lip")


def test_part_colours_read_each_classs_lab_colour_and_error_inside_its_edge():
    """A part's colour is the photo's mean Lab colour over the class's interior, its error
    that minus the rendering's: the edge pixels (blended into the neighbour in any rendering)
    do not move them; a class too small to read has none; a class one pixel thin has no
    interior and is read whole."""
    photo = np.full((32, 32, 3), 120, np.uint8)
    labels = np.full((32, 32), SKIN, np.uint8)
    labels[8:16, 8:20] = LIP
    photo[labels == LIP] = (150, 90, 100)
    photo[8, 8:20] = 255  # the photo's lip edge: not the lip's colour
    labels[24, 4:24] = HAIR  # a 20 px strand, one pixel thin
    labels[2:4, 2:4] = EYE  # 4 px: too few to read
    rendered = photo.astype(int).copy()
    rendered[labels == LIP] = (140, 90, 106)  # the generator misses the lip by a known colour
    rendered[8, 8:20] = 0  # and its top edge row badly
    rendered[labels == HAIR] = 127
    rendered = rendered.astype(np.uint8)
    parts = part_colours(photo, rendered, labels, [SKIN, LIP, HAIR, EYE])
    assert set(parts) == {SKIN, LIP, HAIR}
    lip = rgb_to_lab([150, 90, 100])
    np.testing.assert_allclose(parts[LIP].photo, lip, atol=1e-9)
    np.testing.assert_allclose(parts[LIP].error, lip - rgb_to_lab([140, 90, 106]), atol=1e-9)
    grey = rgb_to_lab([120, 120, 120])
    np.testing.assert_allclose(parts[HAIR].error, grey - rgb_to_lab([127, 127, 127]), atol=1e-9)
    assert parts[LIP].error[1] > 2 and parts[HAIR].error[0] < -2  # redder lips, darker hair
    assert np.abs(parts[SKIN].error).max() < 1.5  # one dark skin row among the interior's
    assert (labels == EYE).sum() < MIN_SOURCE_PIXELS
    edited = edited_colours(rendered, labels, [LIP, EYE])
    assert set(edited) == {LIP}
    np.testing.assert_allclose(edited[LIP], rgb_to_lab([140, 90, 106]), atol=1e-9)


def test_match_to_sources_moves_only_the_offset_classes_inside_the_region_by_the_lab_offset():
    rng = np.random.default_rng(3)
    generated = rng.integers(60, 200, (24, 24, 3)).astype(np.uint8)
    labels = np.full((24, 24), SKIN, np.uint8)
    labels[6:18, 4:20] = LIP
    region = np.zeros((24, 24), bool)
    region[4:20, 2:22] = True
    region[12:, :] = False  # half of the lip lies outside the region
    offset = np.array([6.0, 9.0, -4.0])  # lighter, redder, bluer
    out = match_to_sources(generated, labels, region, {LIP: offset})
    moved = region & (labels == LIP)
    shift = rgb_to_lab(out[moved]) - rgb_to_lab(generated[moved])
    np.testing.assert_allclose(shift.mean(axis=0), offset, atol=0.15)
    assert np.abs(shift - offset).max() < 1.5  # each pixel, to the uint8 rounding
    assert np.array_equal(out[~moved], generated[~moved])
    assert match_to_sources(generated, labels, region, {}) is generated
    assert match_to_sources(generated, labels, region, {HAIR: np.ones(3)}) is generated


def test_style_offsets_blend_the_four_terms_per_axis():
    src = {LIP: PartColour(np.array([50.0, 30.0, 10.0]), np.array([4.0, 10.0, -2.0])),
           HAIR: PartColour(np.array([30.0, 5.0, 5.0]), np.array([1.0, 1.0, 1.0]))}
    tgt = {LIP: PartColour(np.array([40.0, 20.0, 14.0]), np.array([-8.0, 2.0, 6.0]))}
    edited = {LIP: np.array([44.0, 24.0, 10.0]), HAIR: np.array([33.0, 4.0, 4.0])}
    w = {LIP: StyleWeights.of(source=[0.25, 0.5, 1.0], target=[0.75, 0.0, 0.5],
                              source_photo=[0.0, 0.5, 0.0], target_photo=[1.0, 0.0, 0.25])}
    out = style_offsets([LIP, HAIR, EYE], src, tgt, edited, w)
    assert set(out) == {LIP, HAIR}  # no source colours for the eye: nothing to blend
    np.testing.assert_allclose(out[LIP], [4 * 0.25 - 8 * 0.75 + (40 - 44),
                                          5.0 + 0.5 * (30 - 24),
                                          -2.0 + 3.0 + 0.25 * (14 - 10)])
    np.testing.assert_allclose(out[HAIR], src[HAIR].error)  # not calibrated: source's error
    # a target without the part, or no edited colour: those terms count 0
    np.testing.assert_allclose(style_offsets([LIP], src, {}, edited, w)[LIP],
                               [1.0, 5.0 + 3.0, -2.0])
    np.testing.assert_allclose(style_offsets([LIP], src, tgt, {}, w)[LIP], [-5.0, 5.0, 1.0])
    assert uses_target(w, [LIP]) and not uses_target(w, [HAIR, EYE])
    assert not uses_target({HAIR: UNCALIBRATED}, [HAIR])
    assert uses_target({HAIR: StyleWeights.of(target_photo=[0, 0, 0.1])}, [HAIR])
    with pytest.raises(ValueError, match="unknown style-match terms"):
        StyleWeights.of(sauce=[1, 1, 1])
    # a map across the axes and a constant: the source photo's L moves the offset's b
    crossed = {LIP: StyleWeights.of(source=np.eye(3), constant=[0.0, 1.0, 0.0],
                                    source_photo=[[0, 0, 0], [0, 0, 0], [0.5, 0, 0]])}
    np.testing.assert_allclose(style_offsets([LIP], src, tgt, edited, crossed)[LIP],
                               [4.0, 10.0 + 1.0, -2.0 + 0.5 * (50 - 44)])
    with pytest.raises(ValueError, match="3 numbers or a 3x3 map"):
        StyleWeights.of(source=[1, 1])


def _mouth_reference(editor, a, b, kw, weights):
    """(matched result, result without style matching, {class: Lab offset}) of a's mouth
    restyled from b: the offsets computed from b's and a's unchanged re-renderings and the
    unmatched edit's colours with ``weights``, independently of the engine."""
    from mgpe_core.components import get_component

    matched = editor.edit([EditRequest(a, **kw)])[0]
    plain = editor.edit([EditRequest(a, match_style=False, **kw)])[0]
    parts = []
    for p in (b, a):
        again = editor.edit([EditRequest(p, keep_unedited=False)])[0].model_image
        square, labels, _ = to_square(p.image, p.labels, 64)
        parts.append({})
        for c in range(len(M11.classes)):
            inner = erode(labels == c, 1)
            inner = inner if inner.any() else labels == c
            if (labels == c).sum() >= MIN_SOURCE_PIXELS:
                own = rgb_to_lab(square[inner]).mean(0)
                parts[-1][c] = (own, own - rgb_to_lab(again[inner]).mean(0))
    mouth = [c for c in M11.ids(get_component("mouth").classes) if c in parts[0]]
    assert set(M11.ids(("u_lip", "l_lip"))) <= set(mouth)  # (a closed mouth: no inside)
    offsets = {}
    for c in mouth:
        w = weights.get(c, UNCALIBRATED)
        (s_photo, s_err), tgt = parts[0][c], parts[1].get(c)
        offsets[c] = w.source @ s_err + w.constant
        inner = erode(matched.mask == c, 1)
        inner = inner if inner.any() else matched.mask == c
        if (matched.mask == c).sum() >= MIN_SOURCE_PIXELS:
            edit = rgb_to_lab(plain.model_image[inner]).mean(0)
            offsets[c] = offsets[c] + w.source_photo @ (s_photo - edit)
            if tgt is not None:
                offsets[c] = offsets[c] + w.target_photo @ (tgt[0] - edit)
        if tgt is not None:
            offsets[c] = offsets[c] + w.target @ tgt[1]
    return matched, plain, offsets


@pytest.mark.parametrize("calibrated", [False, True])
def test_the_engine_removes_the_blended_rendering_errors_from_the_restyled_part(
        tiny_home, calibrated):
    """Reference computation: a mouth restyled from b equals the generator's pixels moved, per
    mouth class, by b's Lab offset between its photo and its own unchanged re-rendering (and,
    calibrated, part of a's own); every other pixel equals the edit without style matching.
    The raw output is the same."""
    lips = M11.ids(("u_lip", "l_lip"))
    crossed = [[0.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.2, 0.0, 0.2]]  # the photo's L moves b
    weights = {c: StyleWeights.of(source=[0.5, 1.0, 0.25], target=[1.0, -0.5, 0.75],
                                  source_photo=[0.1, 0.2, 0.0], target_photo=crossed,
                                  constant=[1.0, -1.5, 2.0])
               for c in lips} if calibrated else {}
    editor = Editor(load_model("tiny"), style_weights=weights)
    a, b = sample(0), sample(5)
    kw = dict(styles={"mouth": b}, match_colour=False)
    matched, plain, offsets = _mouth_reference(editor, a, b, kw, weights)
    # the matched edit runs batched with the re-renderings: a sum can round one level apart
    assert np.abs(matched.model_image.astype(int) - plain.model_image).max() <= 1
    region = to_square(a.image, edit_region(EditRequest(a, **kw), M11).astype(np.uint8),
                       64)[1].astype(bool)
    moved = np.zeros_like(region)
    for c, offset in offsets.items():  # the blend's alpha is 1 in the region
        where = region & (matched.mask == c)
        if not where.any():  # b's open mouth, a's closed one: no inside to move
            continue
        want = np.rint(lab_to_rgb(rgb_to_lab(plain.image[where]) + offset))
        assert np.abs(matched.image[where] - want).max() <= 1
        moved |= where
    assert moved.any() and max(np.abs(o).max() for o in offsets.values()) > 2
    away = ~dilate(moved, 2 * blend_radius(64))
    assert np.abs(matched.image[away].astype(int) - plain.image[away]).max() <= 1


def test_a_calibrated_model_reads_its_weights_from_config_and_an_edit_for_them(tiny_home):
    """config.json's ``style_match`` is the editor's default; weights that take the target's
    error re-render the target too (its error moves the result); bad entries are refused."""
    from mgpe_core.registry import ModelError
    from mgpe_core.style_match import model_style_weights

    model = load_model("tiny")
    lip = M11.index("l_lip")  # (a's upper lip is too thin at 64 px to read an error)
    model.meta = {**model.meta, "style_match": {"classes": {
        "l_lip": {"source": [0, 0, 0], "target": [1, 1, 1]}, "beard": {
            "source": [1, 1, 1], "target": [0, 0, 0]}}}}  # a class of another schema: skipped
    editor = Editor(model)
    assert set(editor.style_weights) == {lip}
    np.testing.assert_array_equal(editor.style_weights[lip].target, np.eye(3))
    a, b = sample(0), sample(5)
    kw = dict(styles={"mouth": b}, match_colour=False)
    matched, plain, offsets = _mouth_reference(editor, a, b, kw, editor.style_weights)
    where = matched.mask == lip
    assert where.sum() >= MIN_SOURCE_PIXELS and np.abs(offsets[lip]).max() > 2
    assert not np.array_equal(matched.image[where], plain.image[where])
    want = np.rint(lab_to_rgb(rgb_to_lab(plain.image[where]) + offsets[lip]))
    assert np.abs(matched.image[where] - want).max() <= 1
    for bad, says in (([1, 2], "3 numbers"), ([0, 0, 99], "within"), ("x", "3 numbers"),
                      ([[1, 0], [0, 1]], "3x3 map")):
        model.meta = {**model.meta, "style_match": {"classes": {
            "u_lip": {"source": bad, "target": [0, 0, 0]}}}}
        with pytest.raises(ModelError, match=says) as e:
            model_style_weights(model)
        assert "style_match.classes['u_lip'].source" in str(e.value)
    for bad in ([1, 2], [0, 0, 1e3], None):
        model.meta = {**model.meta, "style_match": {"classes": {
            "u_lip": {"source": [1, 1, 1], "constant": bad}}}}
        with pytest.raises(ModelError, match="an L, a, b offset") as e:
            model_style_weights(model)
        assert "style_match.classes['u_lip'].constant" in str(e.value)
    for bad in ({}, {"source": [1, 1, 1], "sauce": [1, 1, 1]}, [1, 1, 1],
                {"constant": [1, 1, 1]}):
        model.meta = {**model.meta, "style_match": {"classes": {"u_lip": bad}}}
        with pytest.raises(ModelError, match="'source', 'target', 'source_photo', "
                                             "'target_photo'"):
            model_style_weights(model)
    model.meta = {**model.meta, "style_match": {"classes": {"u_lip": {"target": [1, 0, 0]}}}}
    only = model_style_weights(model)[M11.index("u_lip")]  # the terms not named weigh 0
    np.testing.assert_array_equal(only.maps, [np.zeros((3, 3)), np.diag([1, 0, 0]),
                                              np.zeros((3, 3)), np.zeros((3, 3))])
    assert not only.constant.any()
    model.meta = {**model.meta, "style_match": {"classes": {"u_lip": {
        "source": [[1, 0, 0], [0, 1, 0], [0.5, 0, 1]], "constant": [0, 0, 2]}}}}
    mapped = model_style_weights(model)[M11.index("u_lip")]  # a 3x3 map and a constant
    np.testing.assert_allclose(mapped.offset(np.array([[2.0, 0, 0], [9, 9, 9], [0, 0, 0],
                                                       [0, 0, 0]])), [2, 0, 3])
    assert not mapped.uses_target()


def test_a_canvas_target_is_matched_by_its_style_sources_alone(tiny_home):
    """A calibrated blend reads the target's own parts; a canvas (mask-to-face's grey) has
    none, so its edit matches as an uncalibrated model's would, and the target is not
    re-rendered."""
    lips = M11.ids(("u_lip", "l_lip"))
    weights = {c: StyleWeights.of(source=[1, 1, 1], target=[1, 1, 1], target_photo=[1, 1, 1])
               for c in lips}
    model = load_model("tiny")
    a, b = sample(0), sample(5)
    grey = Portrait(np.full_like(a.image, 128), a.labels, "canvas")
    kw = dict(styles={"mouth": b}, match_colour=False)
    calibrated, plain = Editor(model, style_weights=weights), Editor(model, style_weights={})
    on_canvas = calibrated.edit([EditRequest(grey, canvas=True, **kw)])[0]
    assert np.array_equal(on_canvas.image, plain.edit([EditRequest(grey, canvas=True,
                                                                   **kw)])[0].image)
    read_grey = calibrated.edit([EditRequest(grey, **kw)])[0]  # the grey read as a face
    assert not np.array_equal(read_grey.image, on_canvas.image)
    from mgpe_core.engine import _rendered_portraits

    assert _rendered_portraits([EditRequest(grey, canvas=True, **kw)], weights, M11) == [b]
    assert len(_rendered_portraits([EditRequest(grey, **kw)], weights, M11)) == 2

