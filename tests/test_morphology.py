"""mgpe_core.morphology: dilation / erosion against brute-force loops, PIL's Max/MinFilter and
the implementations it replaced (image_metrics' square, mask_edit's disk), on random masks of
odd shapes, empty and full masks, masks touching the borders, radius 0."""

import math
import time

import numpy as np
import pytest
from PIL import Image, ImageFilter

from mgpe_core.errors import UsageError
from mgpe_core.morphology import dilate, erode

SHAPES = [(1, 1), (1, 9), (7, 1), (5, 13), (16, 16), (23, 9), (30, 41)]


def brute(mask, radius, shape, pick):
    """``pick`` (max / min) over the in-image offsets of the square or disk, pixel by pixel."""
    h, w = mask.shape
    out = np.empty_like(mask)
    for y in range(h):
        for x in range(w):
            vals = [mask[y + dy, x + dx]
                    for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
                    if (shape == "square" or dy * dy + dx * dx <= radius * radius)
                    and 0 <= y + dy < h and 0 <= x + dx < w]
            out[y, x] = pick(vals)
    return out


def old_square_dilate(mask, radius):
    """image_metrics.dilate before morphology: edge-padded separable OR loops."""
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0:
        return mask.copy()
    h, w = mask.shape
    padded = np.pad(mask, radius, mode="edge")
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        out |= padded[dy:dy + h, radius:radius + w]
    rows = np.pad(out, ((0, 0), (radius, radius)), mode="edge")
    out = np.zeros_like(mask)
    for dx in range(2 * radius + 1):
        out |= rows[:, dx:dx + w]
    return out


def old_disk_dilate(mask, radius):
    """mask_edit._dilate before morphology: zero-padded OR over every disk offset."""
    if radius == 0 or not mask.any():
        return mask.copy()
    h, w = mask.shape
    r = radius
    padded = np.pad(mask, r)
    out = np.zeros_like(mask)
    for dy in range(-r, r + 1):
        span = math.isqrt(r * r - dy * dy)
        for dx in range(-span, span + 1):
            out |= padded[r + dy:r + dy + h, r + dx:r + dx + w]
    return out


def random_masks(seed=0):
    """(mask, radius) cases: random densities, empty, full, a border frame, single corners."""
    rng = np.random.default_rng(seed)
    for h, w in SHAPES:
        for density in (0.02, 0.15, 0.6):
            yield rng.random((h, w)) < density, int(rng.integers(0, 7))
        yield np.zeros((h, w), bool), int(rng.integers(0, 5))
        yield np.ones((h, w), bool), int(rng.integers(0, 5))
        frame = np.zeros((h, w), bool)
        frame[0], frame[:, -1] = True, True  # touching the top and right borders
        yield frame, int(rng.integers(1, 6))
        corner = np.zeros((h, w), bool)
        corner[-1, 0] = True
        yield corner, 3


@pytest.mark.parametrize("shape", ["square", "disk"])
def test_binary_dilate_and_erode_match_brute_force(shape):
    for mask, radius in random_masks():
        for r in (0, radius):
            got_d, got_e = dilate(mask, r, shape), erode(mask, r, shape)
            assert got_d.dtype == got_e.dtype == np.bool_
            assert np.array_equal(got_d, brute(mask, r, shape, max)), (mask.shape, r)
            assert np.array_equal(got_e, brute(mask, r, shape, min)), (mask.shape, r)
            assert np.array_equal(got_e, ~dilate(~mask, r, shape))  # the dual


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 9, 20])
def test_square_equals_pil_max_and_min_filter_on_greyscale(radius):
    """PIL's rank filters repeat the edge pixels; ignoring out-of-image pixels is the same."""
    rng = np.random.default_rng(radius)
    for h, w in [(37, 61), (64, 20), (3, 50), (50, 3)]:
        grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
        grey[rng.random((h, w)) < 0.5] = 0  # runs of black like a mask's
        img = Image.fromarray(grey)
        k = 2 * radius + 1
        pil_max = np.asarray(img.filter(ImageFilter.MaxFilter(k)))
        pil_min = np.asarray(img.filter(ImageFilter.MinFilter(k)))
        assert np.array_equal(dilate(grey, radius), pil_max)
        assert np.array_equal(erode(grey, radius), pil_min)


def test_same_as_the_replaced_implementations():
    from mgpe_core.mask_edit import _dilate
    from mgpe_core.metrics import image_metrics

    rng = np.random.default_rng(7)
    for h, w in [(40, 40), (33, 70), (90, 17)]:
        for density in (0.0, 0.01, 0.1):
            mask = rng.random((h, w)) < density
            mask[rng.integers(0, h), 0] = density > 0  # a pixel on the left border
            for r in (0, 1, 4, 11):
                assert np.array_equal(image_metrics.dilate(mask, r), old_square_dilate(mask, r))
                assert np.array_equal(image_metrics.erode(mask, r),
                                      ~old_square_dilate(~mask, r))
                assert np.array_equal(_dilate(mask, r), old_disk_dilate(mask, r))
    # image_metrics keeps its bool contract for 0/1 integer masks
    ones = np.zeros((5, 5), np.uint8)
    ones[2, 2] = 1
    grown = image_metrics.dilate(ones, 1)
    assert grown.dtype == np.bool_ and grown.sum() == 9


def test_float_and_batched_masks():
    rng = np.random.default_rng(3)
    stack = rng.random((3, 12, 17)).astype(np.float32)
    for shape in ("square", "disk"):
        got = dilate(stack, 2, shape)
        assert got.dtype == np.float32 and got.shape == stack.shape
        for i in range(3):
            assert np.array_equal(got[i], brute(stack[i], 2, shape, max))
            assert np.array_equal(erode(stack, 2, shape)[i], brute(stack[i], 2, shape, min))


def test_radius_zero_and_inputs_are_not_modified():
    mask = np.random.default_rng(1).random((8, 11)) < 0.3
    before = mask.copy()
    out = dilate(mask, 0)
    assert out is not mask and np.array_equal(out, mask)
    dilate(mask, 3, "disk")
    erode(mask, 2)
    assert np.array_equal(mask, before)
    assert dilate(np.zeros((0, 5), bool), 2).shape == (0, 5)


def test_bad_arguments_raise_usage_errors():
    m = np.zeros((4, 4), bool)
    with pytest.raises(UsageError, match="radius must be a whole number >= 0"):
        dilate(m, -1)
    with pytest.raises(UsageError, match="radius must be a whole number >= 0"):
        erode(m, 1.5)
    with pytest.raises(UsageError, match="shape must be one of square, disk"):
        dilate(m, 1, shape="diamond")
    with pytest.raises(UsageError, match=r"expected an \(H, W\) mask"):
        dilate(np.zeros(5, bool), 1)


def test_square_is_fast_at_1024_px():
    """Separable, O(1) per pixel: tens of ms for 1024 px at radius 16 (PIL's MaxFilter(33): s).
    The bound is loose: the machine is shared."""
    mask = np.zeros((1024, 1024), np.uint8)
    mask[300:700, 200:800] = 255
    dilate(mask, 16)
    t0 = time.perf_counter()
    out = dilate(mask, 16)
    assert time.perf_counter() - t0 < 0.5
    assert out[284:716, 184:816].all() and out.sum() == 432 * 632 * 255
