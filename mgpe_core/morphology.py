"""Dilation and erosion of masks, in numpy: the one implementation the toolkit uses.

- :func:`dilate`: the maximum over a neighbourhood; :func:`erode`: the minimum. On bool masks,
  binary dilation / erosion; on numeric arrays (a greyscale alpha), the grey-level max / min
  filter (what PIL's ``MaxFilter`` / ``MinFilter`` compute).
- ``shape="square"``: the (2r+1) x (2r+1) square (8-neighbour); ``shape="disk"``: the offsets
  with dy² + dx² <= r².
- Borders: pixels beyond the image are ignored, which for a max / min is the same as repeating
  the edge pixels (PIL's border rule): a full mask stays full under erosion, and nothing grows
  in from outside under dilation.

Cost: a square is separable, and each 1-D running max is the van Herk / Gil-Werman scheme
(prefix and suffix maxima inside blocks of 2r+1 samples): O(1) per pixel per axis whatever the
radius. A 1024 px mask with radius 16 takes a few ms, where PIL's ``MaxFilter(33)`` (O(r²) per
pixel) takes seconds. A disk is the union of the largest rectangles that fit in it, one per
distinct row half-width, so O(r) per pixel.

Numpy only (no scipy, no torch): cheap to import from the CLI's paths. The generator has its own
torch ``dilate`` (``max_pool2d``) because it runs inside the network on the training device.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import UsageError

SHAPES = ("square", "disk")


def dilate(mask: np.ndarray, radius: int, shape: str = "square") -> np.ndarray:
    """Maximum of ``mask`` (..., H, W) over a square or disk of ``radius`` px around each pixel
    (pixels beyond the border ignored); same dtype, a new array. ``radius=0``: a copy."""
    return _morph(mask, radius, shape, np.maximum, "dilate")


def erode(mask: np.ndarray, radius: int, shape: str = "square") -> np.ndarray:
    """Minimum of ``mask`` over the same neighbourhood as :func:`dilate` (its dual on bool masks:
    ``erode(m) == ~dilate(~m)``); a pixel survives when its whole in-image neighbourhood does,
    so a full mask stays full."""
    return _morph(mask, radius, shape, np.minimum, "erode")


# -- implementation --------------------------------------------------------------------------------


def _morph(mask, radius, shape: str, op: np.ufunc, what: str) -> np.ndarray:
    """Check the arguments once, then dispatch on the shape."""
    mask = np.asarray(mask)
    if mask.ndim < 2:
        raise UsageError(f"{what}: expected an (H, W) mask, got shape {mask.shape}")
    if shape not in SHAPES:
        raise UsageError(f"{what}: shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if isinstance(radius, bool) or int(radius) != radius or radius < 0:
        raise UsageError(f"{what}: radius must be a whole number >= 0, got {radius!r}")
    radius = int(radius)
    if radius == 0 or mask.size == 0:
        return mask.copy()
    y, x = mask.ndim - 2, mask.ndim - 1
    if shape == "square":
        return _running(_running(mask, radius, radius, y, op), radius, radius, x, op)
    out = None
    for half_w, half_h in _disk_rectangles(radius):
        part = _running(_running(mask, half_w, half_w, x, op), half_h, half_h, y, op)
        out = part if out is None else op(out, part, out=out)
    return out


def _disk_rectangles(radius: int) -> list[tuple[int, int]]:
    """(half-width, half-height) of rectangles whose union is the disk dy² + dx² <= r²: for each
    distinct row half-width s = isqrt(r² - dy²), the tallest rectangle of that width inside the
    disk (half-height isqrt(r² - s²)). A point of the disk lies in the rectangle of its own row's
    half-width; every rectangle lies in the disk (dx² + dy² <= s² + r² - s²)."""
    widths = sorted({math.isqrt(radius * radius - dy * dy) for dy in range(radius + 1)})
    return [(s, math.isqrt(radius * radius - s * s)) for s in widths]


def _identity(dtype: np.dtype, op: np.ufunc):
    """The value that never wins ``op`` (fills the border): False / True, the dtype's min / max,
    -inf / inf."""
    big = op is np.minimum
    if dtype == np.bool_:
        return big
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.max if big else info.min
    if np.issubdtype(dtype, np.floating):
        return np.inf if big else -np.inf
    raise UsageError(f"morphology: unsupported mask dtype {dtype}")


def _running(a: np.ndarray, before: int, after: int, axis: int, op: np.ufunc) -> np.ndarray:
    """``op`` over the window [i - before, i + after] along ``axis`` (van Herk / Gil-Werman).

    The axis is padded with the identity (``before`` in front, enough behind to fill whole
    blocks of k = before + after + 1 samples); g = running ``op`` from each block's start, h =
    from each block's end. A window starting at padded index i spans at most two blocks, so its
    result is op(h[i], g[i + k - 1]): two passes and one combine, whatever the radius."""
    k = before + after + 1
    if k == 1:
        return a.copy()
    n = a.shape[axis]
    blocks = -(-(n + k - 1) // k)
    padded_shape = a.shape[:axis] + (blocks * k,) + a.shape[axis + 1:]
    padded = np.full(padded_shape, _identity(a.dtype, op), dtype=a.dtype)
    _at(padded, axis, slice(before, before + n))[...] = a
    split = a.shape[:axis] + (blocks, k) + a.shape[axis + 1:]
    cells = padded.reshape(split)
    g = op.accumulate(cells, axis=axis + 1).reshape(padded_shape)
    flipped = _at(cells, axis + 1, slice(None, None, -1))
    h = _at(op.accumulate(flipped, axis=axis + 1), axis + 1, slice(None, None, -1))
    h = h.reshape(padded_shape)
    return op(_at(h, axis, slice(0, n)), _at(g, axis, slice(k - 1, k - 1 + n)))


def _at(a: np.ndarray, axis: int, index: slice) -> np.ndarray:
    """``a[..., index, ...]`` with ``index`` on ``axis`` (a view)."""
    return a[(slice(None),) * axis + (index,)]
