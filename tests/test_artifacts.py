"""The periodic-artifact score (mgpe_core.metrics.artifacts): about 1 for detail with no
preferred frequency, far above 1 when a grid pattern of period 2, 4 or 8 is added (the
checkerboard of stride-2 transposed convolutions), insensitive to the region's outline and
to smooth shading, and undefined for regions too small to tell."""

import numpy as np
import pytest

from mgpe_core.metrics.artifacts import MIN_PIXELS, periodic_score, region_scores


def _disk(size=128, r=45):
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < r * r


def _noise(seed=0, size=128, amp=20):
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, amp, (size, size, 1)), 0, 255).repeat(3, 2)


def _grid(period: int, size=128):
    """A pattern of ``period`` px in x and y (what a stride-``period`` upsampler leaves)."""
    yy, xx = np.mgrid[:size, :size]
    return (np.cos(2 * np.pi * xx / period) * np.cos(2 * np.pi * yy / period))[..., None]


def test_white_noise_scores_about_one():
    scores = [periodic_score(_noise(s).astype(np.uint8), _disk()) for s in range(5)]
    assert all(0.8 < s < 1.25 for s in scores), scores


@pytest.mark.parametrize("period, factor", [(2, 3.0), (4, 1.6), (8, 1.3)])
def test_a_grid_pattern_raises_the_score(period, factor):
    """A faint pattern (amplitude 8 under noise of sigma 20); longer periods count less, as the
    detail filter (5x5 box) passes less of them."""
    base = _noise(1)
    plain = periodic_score(base.astype(np.uint8), _disk())
    patterned = np.clip(base + 8 * _grid(period), 0, 255).astype(np.uint8)
    assert periodic_score(patterned, _disk()) > factor * plain


def test_a_pattern_of_another_period_does_not():
    """Period 3 is not a grid of stride-2 upsampling: the score stays near noise."""
    base = _noise(2)
    odd = np.clip(base + 8 * _grid(3), 0, 255).astype(np.uint8)
    assert periodic_score(odd, _disk()) < 1.5


def test_outline_and_shading_are_not_detail():
    """A flat region with a hard outline, or a smooth gradient, carries no grid energy."""
    yy, xx = np.mgrid[:128, :128]
    shade = np.clip(40 + xx + 0.5 * yy, 0, 255)[..., None].repeat(3, 2)
    noisy = shade + _noise(3, amp=10) - 128
    assert periodic_score(np.clip(noisy, 0, 255).astype(np.uint8), _disk()) < 1.3
    square = np.zeros((128, 128), bool)
    square[20:100, 30:110] = True
    img = _noise(4).astype(np.uint8)
    img[~square] = 0  # a hard edge right at the region's border
    assert periodic_score(img, square) < 1.3


def test_small_regions_get_no_score():
    tiny = np.zeros((128, 128), bool)
    tiny[:10, :10] = True  # 100 px, 36 after erosion: below MIN_PIXELS
    assert tiny.sum() < MIN_PIXELS
    assert periodic_score(_noise().astype(np.uint8), tiny) is None
    r = region_scores([_noise().astype(np.uint8)] * 2, [tiny, _disk()])
    assert r["n"] == 1 and 0.8 < r["score"] < 1.25


def test_odd_sizes_are_padded():
    img = _noise(5, size=100).astype(np.uint8)
    assert 0.7 < periodic_score(img, _disk(100, 40)) < 1.4


def test_seam_score_measures_the_step_an_edit_adds():
    from mgpe_core.metrics.artifacts import seam_score

    photo = np.full((64, 64, 3), 120, np.uint8)
    photo[40:] = 60  # a step that was there already (a jaw over a darker neck)
    region = np.zeros((64, 64), bool)
    region[10:40, 16:48] = True  # the edited region ends at that step
    assert seam_score(photo, photo, region) == pytest.approx(0.0, abs=1e-9)
    lighter = photo.copy()
    lighter[region] = 170  # the region restyled lighter, its surroundings kept
    s = seam_score(lighter, photo, region)
    assert s > 10
    # a restyle that also follows into the surroundings adds no seam
    both = lighter.copy()
    both[~region] = np.clip(photo[~region].astype(int) + 50, 0, 255)
    assert abs(seam_score(both, photo, region)) < 3
    assert seam_score(photo, photo, np.zeros((64, 64), bool)) is None


def test_component_seam_score_counts_breaks_inside_a_component_only():
    from mgpe_core.components import component_groups
    from mgpe_core.labels import get_schema
    from mgpe_core.metrics.artifacts import component_seam_score, seam_score
    from mgpe_core.metrics.image_metrics import delta_e76, rgb_to_lab

    schema = get_schema("mgpe-13")
    skin, neck, hair = (schema.classes.index(c) for c in ("skin", "neck", "hair"))
    groups = component_groups(schema)
    assert groups[skin] == groups[neck] != groups[hair]  # the neck belongs to the skin
    background, glasses = schema.classes.index("background"), schema.classes.index("eye_g")
    # classes in no component are each a group of their own
    assert len({groups[background], groups[glasses], groups[skin], groups[hair]}) == 4

    rng = np.random.default_rng(0)
    labels = np.full((64, 64), skin)
    labels[44:] = neck
    labels[:, :12] = hair
    photo = np.full((64, 64, 3), 170.0)
    photo[labels == hair] = (60, 40, 30)
    photo = photo.astype(np.uint8)
    noisy = np.clip(photo + rng.normal(0, 3, photo.shape), 0, 255).astype(np.uint8)
    g = groups[labels]

    face = (labels == skin)  # a restyled face over the photo's neck: the seam at the jaw
    step = delta_e76(rgb_to_lab(np.array([[200, 180, 170]], np.uint8)),
                     rgb_to_lab(np.array([[170, 170, 170]], np.uint8)))[0]
    restyled = photo.copy()
    restyled[face] = (200, 180, 170)
    assert component_seam_score(restyled, face, g) == pytest.approx(step, rel=1e-6)
    assert component_seam_score(photo, face, g) == 0.0  # no edit, no seam
    # texture on both sides: the pairs that do not cross the border take it out
    assert component_seam_score(noisy, face, g) < 1.0
    noisy_restyled = noisy.copy()
    noisy_restyled[face] = np.clip(noisy[face].astype(int) + (30, 10, 0), 0, 255)
    assert 0.5 * step < component_seam_score(noisy_restyled, face, g) < 1.2 * step

    # hair recoloured as a whole: a wanted change at a component border counts only in the
    # plain seam score
    hair_region = labels == hair
    recoloured = photo.copy()
    recoloured[hair_region] = (200, 30, 30)
    assert seam_score(recoloured, photo, hair_region) > 20
    assert component_seam_score(recoloured, hair_region, g) is None  # no pair within one
    # too few pairs: no score
    tiny = np.zeros((64, 64), bool)
    tiny[30, 30] = True
    assert component_seam_score(photo, tiny, g) is None
