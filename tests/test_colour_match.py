"""Tone matching at the blend (mgpe_core/colour_match.py): a surface class that continues
across the edited region's border takes the photo's tone there; drawn parts and everything
beyond the blend's reach keep their pixels. A restyled component is matched to its style
source instead: it loses the colour error the generator makes re-rendering that source."""

import numpy as np
import pytest

from mgpe_core.colour_match import (
    MIN_SOURCE_PIXELS,
    SURFACES,
    match_to_photo,
    match_to_sources,
    rendering_offsets,
    ring_width,
    surface_ids,
)
from mgpe_core.engine import Editor, EditRequest, Portrait, blend_radius, edit_region, to_square
from mgpe_core.labels import convert, get_schema
from mgpe_core.morphology import dilate
from mgpe_core.registry import load_model
from mgpe_core.samples import load_sample

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


def test_rendering_offsets_read_each_classs_error_inside_its_edge():
    """The offset is the mean photo - rendering over the class's interior: the edge pixels
    (blended into the neighbour in any rendering) do not move it; a class too small to read
    has none; a class one pixel thin has no interior and is read whole."""
    photo = np.full((32, 32, 3), 120, np.uint8)
    labels = np.full((32, 32), SKIN, np.uint8)
    labels[8:16, 8:20] = LIP
    labels[24, 4:24] = HAIR  # a 20 px strand, one pixel thin
    labels[2:4, 2:4] = EYE  # 4 px: too few to read
    rendered = photo.astype(int).copy()
    rendered[labels == LIP] -= (10, 0, -6)  # the generator misses the lip by a known colour
    rendered[8, 8:20] = 0  # and its top edge row badly
    rendered[labels == HAIR] += 7
    rendered = rendered.astype(np.uint8)
    offsets = rendering_offsets(photo, rendered, labels, [SKIN, LIP, HAIR, EYE])
    assert set(offsets) == {SKIN, LIP, HAIR}
    np.testing.assert_allclose(offsets[LIP], (10, 0, -6))
    np.testing.assert_allclose(offsets[HAIR], (-7, -7, -7))
    np.testing.assert_allclose(offsets[SKIN], (0, 0, 0), atol=0.6)  # one skin pixel row
    assert (labels == EYE).sum() < MIN_SOURCE_PIXELS


def test_match_to_sources_shifts_only_the_offset_classes_inside_the_region():
    rng = np.random.default_rng(3)
    generated = rng.integers(20, 230, (24, 24, 3)).astype(np.uint8)
    labels = np.full((24, 24), SKIN, np.uint8)
    labels[6:18, 4:20] = LIP
    region = np.zeros((24, 24), bool)
    region[4:20, 2:22] = True
    region[12:, :] = False  # half of the lip lies outside the region
    out = match_to_sources(generated, labels, region, {LIP: np.array([9.0, -4.0, 0.0])})
    moved = region & (labels == LIP)
    want = np.clip(generated[moved].astype(int) + (9, -4, 0), 0, 255)
    assert np.array_equal(out[moved], want)
    assert np.array_equal(out[~moved], generated[~moved])
    assert match_to_sources(generated, labels, region, {}) is generated
    assert match_to_sources(generated, labels, region, {HAIR: np.ones(3)}) is generated


def test_the_engine_removes_the_style_sources_rendering_error_from_the_restyled_part(tiny_home):
    """Reference computation: a mouth restyled from b equals the generator's pixels plus, per
    mouth class, b's offset between its photo and its own unchanged re-rendering; every other
    pixel equals the edit without style matching. The raw output is the same."""
    from mgpe_core.components import get_component

    editor = Editor(load_model("tiny"))
    a, b = sample(0), sample(5)
    kw = dict(styles={"mouth": b}, match_colour=False)
    matched = editor.edit([EditRequest(a, **kw)])[0]
    plain = editor.edit([EditRequest(a, match_style=False, **kw)])[0]
    assert np.array_equal(matched.model_image, plain.model_image)
    again = editor.edit([EditRequest(b, keep_unedited=False)])[0].model_image
    square_b, labels_b, _ = to_square(b.image, b.labels, 64)
    offsets = rendering_offsets(square_b, again, labels_b, range(len(M11.classes)))
    mouth = [c for c in M11.ids(get_component("mouth").classes) if c in offsets]
    assert set(M11.ids(("u_lip", "l_lip"))) <= set(mouth)  # (a closed mouth: no inside)
    region = to_square(a.image, edit_region(EditRequest(a, **kw), M11).astype(np.uint8),
                       64)[1].astype(bool)
    moved = np.zeros_like(region)
    for c in mouth:  # the blend's alpha is 1 in the region (dilated, then blurred as far)
        where = region & (matched.mask == c)
        want = np.clip(np.rint(plain.image[where] + offsets[c]), 0, 255)
        assert np.abs(matched.image[where].astype(int) - want).max() <= 1
        moved |= region & (matched.mask == c)
    assert moved.any() and max(np.abs(offsets[c]).max() for c in mouth) > 2
    assert np.array_equal(matched.image[~dilate(moved, 2 * blend_radius(64))],
                          plain.image[~dilate(moved, 2 * blend_radius(64))])
