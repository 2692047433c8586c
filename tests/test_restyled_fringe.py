"""A restyled part's fringe (mgpe_core/restyled_fringe.py): the background pixels its old
colour tinted are found by geometry and recoloured by their share of the part."""

import numpy as np

from mgpe_core.restyled_fringe import recolour_fringe, restyled_fringe

BG, HAIR, SKIN = 0, 10, 1


def scene(size=32, share=0.5, old=(120, 60, 20), background=(40, 160, 220)):
    """A square of hair on a flat background, with a 1-px ring of background mixing
    ``share`` of the hair's colour in: (photo, labels, ring)."""
    labels = np.full((size, size), BG, np.uint8)
    labels[10:22, 10:22] = HAIR
    photo = np.zeros((size, size, 3), np.float64) + background
    photo[labels == HAIR] = old
    ring = np.zeros((size, size), bool)
    ring[9:23, 9:23] = True
    ring &= labels == BG
    photo[ring] = np.asarray(background) + share * (np.asarray(old) - np.asarray(background))
    return np.rint(photo).astype(np.uint8), labels, ring


def test_the_fringe_is_the_background_beside_the_part_in_both_maps():
    _, labels, ring = scene()
    assert np.array_equal(restyled_fringe(labels, labels, [HAIR], BG, width=1), ring)
    wider = restyled_fringe(labels, labels, [HAIR], BG, width=2)
    assert ring.sum() < wider.sum() and not (wider & (labels != BG)).any()
    # a pixel the edited mask (or the photo) calls anything else is not the part's fringe
    edited = labels.copy()
    edited[9, 9:23] = SKIN
    assert not restyled_fringe(labels, edited, [HAIR], BG, width=1)[9].any()
    assert not restyled_fringe(edited, labels, [HAIR], BG, width=1)[9].any()
    assert not restyled_fringe(labels, labels, [SKIN], BG).any()  # no such part: nothing


def test_a_fringe_takes_its_share_of_the_new_colour():
    """Half hair, half background in the photo: half of the new hair over the same background
    after the restyle, to within a level; every other pixel is the edit's own."""
    new = np.array([200, 40, 90])
    for share in (0.25, 0.5, 0.75):
        photo, labels, ring = scene(share=share)
        shown = photo.copy()
        shown[labels == HAIR] = new
        out = recolour_fringe(shown, photo, labels, labels, ring, [HAIR], BG)
        want = np.array([40, 160, 220]) + share * (new - np.array([40, 160, 220]))
        assert np.abs(out[ring].astype(int) - want).max() <= 2, share
        assert np.array_equal(out[~ring], shown[~ring])


def test_nothing_to_read_leaves_the_edit_as_it_is():
    """No clean background, or no part near: the edit's own pixels; untinted: the photo's."""
    photo, labels, ring = scene()
    shown = photo.copy()
    shown[labels == HAIR] = (200, 40, 90)
    # a flat canvas: the part cannot be told from the background, nothing tinted the
    # fringe, which is the canvas's own
    flat = np.full_like(photo, 128)
    out = recolour_fringe(shown, flat, labels, labels, ring, [HAIR], BG)
    assert (out[ring] == 128).all() and np.array_equal(out[~ring], shown[~ring])
    # no clean background anywhere (the part fills the picture but for its ring)
    crowded = labels.copy()
    crowded[~ring & (labels == BG)] = SKIN
    assert recolour_fringe(shown, photo, crowded, crowded, ring, [HAIR], BG) is shown
    # a fringe far from the part
    far = np.zeros_like(ring)
    far[0, 0] = True
    assert recolour_fringe(shown, photo, labels, labels, far, [HAIR], BG) is shown
    # the part unchanged: the fringe stays the photo's
    same = recolour_fringe(photo, photo, labels, labels, ring, [HAIR], BG)
    assert np.abs(same.astype(int) - photo).max() <= 1
