"""Background the edited mask uncovers (mgpe_core/background_fill.py): the generator's
background input there is the photo's own background filled in, not the photo's old hair."""

import numpy as np
import pytest

from mgpe_core.background_fill import (
    background_input,
    fill_from,
    fringe_width,
    uncovered_background,
    uncovered_fringe,
)
from mgpe_core.engine import Editor, EditRequest, Portrait
from mgpe_core.labels import convert, get_schema
from mgpe_core.registry import load_model
from mgpe_core.samples import load_sample

C19, M11 = get_schema("celebamask-19"), get_schema("mgpe-11")
BG, HAIR = M11.index("background"), M11.index("hair")


def test_a_flat_background_fills_the_hole_with_its_colour_and_keeps_known_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)  # odd sizes on purpose
    known = np.ones((37, 53), bool)
    known[5:30, 10:40] = False
    image[known] = (12, 200, 90)
    filled = fill_from(image, known)
    assert filled.dtype == np.float32 and filled.shape == image.shape
    assert np.array_equal(filled[known], image[known].astype(np.float32))
    assert np.allclose(filled[~known], (12, 200, 90), atol=1e-3)


def test_a_gradient_background_is_continued_into_the_hole():
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (64, 1))
    image = np.repeat(ramp[..., None], 3, axis=2)
    known = np.ones((64, 64), bool)
    known[20:44, 20:44] = False
    filled = fill_from(image, known)
    assert np.abs(filled - image)[~known].max() < 10  # of a 0..255 ramp across 64 px
    row = filled[32, 20:44, 0]
    assert np.all(np.diff(row) > 0)  # still rising left to right


def test_a_wide_strip_with_one_known_end_is_filled_everywhere():
    """Not square, and the known pixels in one corner: the pyramid goes down to one cell, so
    no pixel is left without an estimate (black)."""
    image = np.zeros((3, 40, 3), np.uint8)
    image[:, :2] = (200, 100, 50)
    known = np.zeros((3, 40), bool)
    known[:, :2] = True
    assert np.allclose(fill_from(image, known), (200, 100, 50), atol=1e-3)


def test_nothing_known_or_nothing_missing_leaves_the_image():
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    assert np.array_equal(fill_from(image, np.zeros((4, 4), bool)), image)
    assert np.array_equal(fill_from(image, np.ones((4, 4), bool)), image)


def test_only_the_uncovered_background_changes():
    image = np.zeros((16, 16, 3), np.uint8)
    image[..., 1] = 180  # green background
    own = np.full((16, 16), BG, np.uint8)
    own[4:12, 4:12] = HAIR
    image[own == HAIR] = (90, 40, 10)
    mask = own.copy()
    mask[4:8, 4:12] = BG  # the edit pulls the top half of the hair back
    hole = uncovered_background(own, mask, BG)
    assert hole.sum() == 32
    out = background_input(image, own, mask, BG)
    assert out.dtype == np.uint8
    assert np.array_equal(out[~hole], image[~hole])
    assert np.array_equal(out[hole], np.broadcast_to((0, 180, 0), (32, 3)))
    assert background_input(image, own, own, BG) is image  # nothing uncovered: the photo
    no_bg = np.full((16, 16), HAIR, np.uint8)
    assert background_input(image, no_bg, mask, BG) is image  # nothing to fill from


def test_the_tinted_fringe_of_a_removed_part_goes_with_it():
    """Background pixels just outside hair carry its tint (anti-aliasing, loose strands).
    Filling from them smeared dark blobs into the hole and kept a dark outline of the hair
    that was gone; the fringe of the removed hair is filled too, from clean background."""
    from mgpe_core.engine import edit_region
    from mgpe_core.morphology import dilate

    assert [fringe_width(s) for s in (32, 128, 256, 1024)] == [1, 1, 2, 8]
    size = 64
    own = np.full((size, size), BG, np.uint8)
    own[10:40, 10:30] = HAIR  # removed by the edit
    own[10:40, 40:50] = HAIR  # kept
    image = np.zeros((size, size, 3), np.uint8)
    image[...] = (20, 180, 60)
    ring = dilate(own == HAIR, 1) & (own == BG)
    image[ring] = (40, 30, 20)  # the hair's tint on the background beside it
    image[own == HAIR] = (60, 40, 20)
    mask = own.copy()
    mask[10:40, 10:30] = BG
    fringe = uncovered_fringe(own, mask, BG, 1)
    removed_ring = ring & dilate(mask != own, 1)
    assert np.array_equal(fringe, removed_ring)  # the kept hair's fringe is not in it
    out = background_input(image, own, mask, BG)
    gone = (mask != own) | fringe
    assert np.abs(out[gone].astype(int) - (20, 180, 60)).max() <= 1  # clean, no dark smear
    kept = ~gone
    assert np.array_equal(out[kept], image[kept])  # the kept hair's fringe stays as it was
    # the engine re-renders the fringe with the rest of the edit, at any size
    photo = Portrait(image, own)
    region = edit_region(EditRequest(photo, mask=mask), M11)
    assert np.array_equal(region, gone)


@pytest.mark.parametrize("cache", [0, 4])
def test_the_generator_sees_the_filled_background_where_the_mask_uncovers_it(tiny_home,
                                                                              cache):
    """An edit that turns the photo's hair into background: the target image synthesis gets
    is the photo everywhere but there, and there the fill of the photo's own background."""
    img, lab = load_sample(0)
    photo = Portrait(img, convert(lab, C19, M11), "sample:0")
    model = load_model("tiny")
    editor = Editor(model, embedding_cache=cache)
    seen = []
    synthesize = editor.generator.synthesize

    def spy(feats, target_image, target_labels, **kw):
        seen.append(target_image.clone())
        return synthesize(feats, target_image, target_labels, **kw)

    editor.generator.synthesize = spy
    square, own, _ = editor._prepare(photo, None)
    mask = photo.labels.copy()
    mask[mask == HAIR] = BG
    editor.edit([EditRequest(photo, mask=mask)])
    got = ((seen[-1][0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    square_mask = own.copy()
    square_mask[own == HAIR] = BG
    hole = uncovered_background(own, square_mask, BG)
    assert hole.sum() > 100
    want = background_input(square, own, square_mask, BG)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert np.abs(got[hole].astype(int) - square[hole].astype(int)).mean() > 10  # not the hair
