"""Background the edited mask uncovers: pixels it calls background where the photo has
something else (hair pulled back, a narrower face of another mask).

The generator's background input is the target photo times the edited mask's background
(:meth:`~mgpe_core.model.generator.MGPEGenerator.synthesize`). Training never shows it an
uncovered pixel: target image and mask always belong together. At edit time those pixels hold
the photo's old hair or skin, and a generator that takes the known background as is
(``model.background_skip``) would copy them. The engine therefore gives the generator, there,
the colour of the photo's own background nearby, filled in from around the hole
(:func:`fill_from`), so the background input is background everywhere the mask says so. The
removed part's fringe (:func:`uncovered_fringe`: background pixels it tinted) is filled with
it, and the fill reads only clean background, away from every part's outline.

Numpy only, at the model's resolution, and only for requests that uncover background: one pass
down and up a 2x pyramid, small beside the generator's work.
"""

from __future__ import annotations

import numpy as np

from .morphology import dilate


def uncovered_background(own_labels: np.ndarray, mask: np.ndarray,
                         background_id: int) -> np.ndarray:
    """Pixels the edited ``mask`` calls background and the photo's ``own_labels`` do not."""
    return (mask == background_id) & (own_labels != background_id)


def fringe_width(size: int) -> int:
    """Width (px) of the mixed pixels along a part's outline at an image's longer side: 1 at
    128 px, 8 at 1024. A renderer's anti-aliasing, a lens's blur and hair's loose strands
    tint the background pixels just outside a part, which every mask still calls
    background."""
    return max(1, round(size / 128))


def uncovered_fringe(own_labels: np.ndarray, mask: np.ndarray, background_id: int,
                     width: int | None = None) -> np.ndarray:
    """The photo's background pixels within ``width`` px (default: :func:`fringe_width` of the
    label map's longer side) of the background the edited ``mask`` uncovers: the removed
    part's tinted fringe. Kept, it would outline the part that is gone (a dark line where
    removed hair was)."""
    return _fringe(uncovered_background(own_labels, mask, background_id), own_labels, mask,
                   background_id, width)


def _fringe(hole, own_labels, mask, background_id: int, width: int | None) -> np.ndarray:
    """:func:`uncovered_fringe` of an already computed ``hole``."""
    if width is None:
        width = fringe_width(max(own_labels.shape))
    if not hole.any():  # most edits: no dilation of a photo-sized mask
        return hole
    return dilate(hole, width) & (own_labels == background_id) & (mask == background_id)


def fill_from(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every pixel's estimate from the ``known`` ones (push-pull): known pixels averaged down a
    2x pyramid until every cell holds one, then the coarser estimate, bilinearly doubled,
    taken wherever a finer cell holds none. Known pixels keep their value. ``image``: (H, W, C)
    float or uint8; returns float32. All pixels unknown: the image unchanged."""
    img = np.asarray(image, np.float32)
    if known.all() or not known.any():
        return img.copy()
    levels = []
    colour, weight = img * known[..., None], known.astype(np.float32)
    while True:
        levels.append((colour, weight))
        if weight.min() > 0 or weight.shape == (1, 1):  # (1, 1): known.any() holds there
            break
        colour, weight = _halve(colour), _halve(weight[..., None])[..., 0]
    estimate = None
    for colour, weight in reversed(levels):
        here = colour / np.maximum(weight, 1e-12)[..., None]
        if estimate is not None:
            here = np.where(weight[..., None] > 0, here, _double(estimate, weight.shape))
        estimate = here
    return estimate


def _halve(a: np.ndarray) -> np.ndarray:
    """Sums over 2x2 cells (an odd last row or column is its own cell)."""
    h, w = a.shape[:2]
    a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, a.shape[2]).sum(axis=(1, 3))


def _double(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear 2x upsampling (pixel centres, edges repeated), cropped to ``shape``."""
    def axis(x: np.ndarray, n: int, ax: int) -> np.ndarray:
        m = x.shape[ax]
        pos = (np.arange(n) + 0.5) / 2 - 0.5  # this pixel's centre in the coarse grid
        lo = np.clip(np.floor(pos).astype(int), 0, m - 1)
        hi = np.clip(lo + 1, 0, m - 1)
        t = np.clip(pos - np.floor(pos), 0, 1).astype(np.float32)
        t = np.where(pos < 0, 0, t)
        shape_t = [1] * x.ndim
        shape_t[ax] = n
        t = t.reshape(shape_t)
        return np.take(x, lo, axis=ax) * (1 - t) + np.take(x, hi, axis=ax) * t

    return axis(axis(a, shape[0], 0), shape[1], 1)


def background_input(image: np.ndarray, own_labels: np.ndarray, mask: np.ndarray,
                     background_id: int) -> np.ndarray:
    """The target photo as the generator should see it under the edited ``mask``: uncovered
    background filled from the photo's own background (uint8, same shape; the photo itself
    when nothing is uncovered or it has no background to fill from)."""
    hole = uncovered_background(own_labels, mask, background_id)
    known = own_labels == background_id
    if not hole.any() or not known.any():
        return image
    width = fringe_width(max(own_labels.shape))
    hole |= _fringe(hole, own_labels, mask, background_id, width)
    # filled from clean background only: a fringe of any part, the kept ones' too, is tinted
    clean = known & ~dilate(~known, width)
    out = image.copy()
    filled = fill_from(image, clean if clean.any() else known)
    out[hole] = np.clip(np.rint(filled[hole]), 0, 255).astype(np.uint8)
    return out
