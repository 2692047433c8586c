"""The one affine resampler: photo -> aligned crop and edited crop -> photo both use it.

Why its own module: both directions need the same three things, and getting any of them wrong
shows as a shifted, aliased or smeared face:

- **Only the footprint.** The output's corners are mapped into the source and only that window
  (plus a small margin for the filter) is read: aligning a face in a 4000x3000 photo, or pasting
  a 256 px crop back into it, never touches the rest of the photo.
- **Antialiasing.** When the output is much smaller than the source window (a face of 1000 px
  into a 128 px crop), the window is first box-reduced by the integer factor ``k = floor(1 /
  scale)`` (PIL's ``reduce``: exact box averages), so the final bicubic / bilinear step shrinks by
  less than 2x and does not alias.
- **Padding.** Pixels beyond the source's border are ``reflect``-ed (mirror, the edge pixel
  repeated: numpy's ``symmetric``), ``edge``-repeated, or ``zero``.

Coordinates are continuous with pixel ``i`` spanning ``[i, i + 1)`` (its centre at ``i + 0.5``);
PIL's affine transform uses the same convention (identity -> identical pixels,
tests/test_faces.py). Matrices are 2x3 ``[[a, b, c], [d, e, f]]`` mapping ``(x, y, 1)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import MgpeError

PADS = ("reflect", "edge", "zero")


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer(inner(p))`` as one 2x3 matrix."""
    a = np.vstack([np.asarray(outer, dtype=np.float64), [0.0, 0.0, 1.0]])
    b = np.vstack([np.asarray(inner, dtype=np.float64), [0.0, 0.0, 1.0]])
    return (a @ b)[:2]


def apply(matrix: np.ndarray, points) -> np.ndarray:
    """Map (N, 2) points (x, y) with a 2x3 matrix."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix)[:, 2]


def scale_of(matrix: np.ndarray) -> float:
    """The (geometric mean) scale of an affine matrix: output px per input px."""
    return math.sqrt(abs(float(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:, :2]))))


def _pad_index(idx: np.ndarray, n: int, pad: str) -> np.ndarray:
    """Source indices for (possibly out-of-range) ``idx`` along an axis of length ``n``."""
    if pad == "reflect":
        period = 2 * n
        idx = np.mod(idx, period)
        return np.where(idx >= n, period - 1 - idx, idx)
    return np.clip(idx, 0, n - 1)


def read_window(src: np.ndarray, x0: int, y0: int, x1: int, y1: int, pad: str) -> np.ndarray:
    """``src[y0:y1, x0:x1]`` with the parts beyond the border padded: a view when the window lies
    inside ``src``, else a copy of the window only."""
    h, w = src.shape[:2]
    if 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h:
        return src[y0:y1, x0:x1]
    if pad == "zero":
        out = np.zeros((y1 - y0, x1 - x0) + src.shape[2:], dtype=src.dtype)
        ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if ix0 < ix1 and iy0 < iy1:
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = src[iy0:iy1, ix0:ix1]
        return out
    rows = _pad_index(np.arange(y0, y1), h, pad)
    cols = _pad_index(np.arange(x0, x1), w, pad)
    return np.take(np.take(src, rows, axis=0), cols, axis=1)


def warp_affine(src: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int], *,
                pad: str = "reflect", resample: str = "bicubic",
                antialias: bool = True) -> np.ndarray:
    """Resample ``src`` (H, W, 3) uint8 or (H, W) float32 into an ``out_hw`` picture where
    ``matrix`` (2x3) maps source coordinates to output coordinates.

    uint8 pictures are resampled bicubic (or ``resample="bilinear"``), float maps bilinear.
    Output pixels whose source lies beyond ``src`` get ``pad``'s values."""
    from PIL import Image

    if pad not in PADS:
        raise MgpeError(f"warp: pad must be one of {', '.join(PADS)}, got {pad!r}")
    src = np.asarray(src)
    floats = src.dtype != np.uint8
    if floats:
        src = src.astype(np.float32, copy=False)
        if src.ndim != 2:
            raise MgpeError(f"warp: float maps must be 2-D, got shape {src.shape}")
    oh, ow = int(out_hw[0]), int(out_hw[1])
    inv = invert(matrix)  # output -> source
    corners = apply(inv, [(0, 0), (ow, 0), (0, oh), (ow, oh)])
    k = 1
    if antialias:
        k = max(1, int(math.floor(1.0 / max(scale_of(matrix), 1e-9) + 1e-9)))
    margin = 3 * k
    x0 = int(math.floor(corners[:, 0].min())) - margin
    y0 = int(math.floor(corners[:, 1].min())) - margin
    x1 = int(math.ceil(corners[:, 0].max())) + margin
    y1 = int(math.ceil(corners[:, 1].max())) + margin
    x1 = x0 + -(-(x1 - x0) // k) * k  # whole boxes of k x k
    y1 = y0 + -(-(y1 - y0) // k) * k
    window = read_window(src, x0, y0, x1, y1, pad)
    if k > 1:
        if floats:
            hh, ww = window.shape[0] // k, window.shape[1] // k
            window = window.reshape(hh, k, ww, k).mean(axis=(1, 3), dtype=np.float32)
        else:
            window = np.asarray(Image.fromarray(np.ascontiguousarray(window)).reduce(k))
    # output -> reduced-window coordinates
    to_window = np.array([[1.0 / k, 0.0, -x0 / k], [0.0, 1.0 / k, -y0 / k]])
    m = compose(to_window, inv)
    data = tuple(float(v) for v in m.reshape(-1))
    if floats:
        img = Image.fromarray(np.ascontiguousarray(window))  # float32 -> mode "F"
        filt = Image.Resampling.BILINEAR
    else:
        img = Image.fromarray(np.ascontiguousarray(window))
        filt = Image.Resampling.BILINEAR if resample == "bilinear" else Image.Resampling.BICUBIC
    out = img.transform((ow, oh), Image.Transform.AFFINE, data, resample=filt)
    return np.asarray(out)


def warp_labels(labels: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """A label map (H, W) uint8 resampled by nearest neighbour into ``out_hw`` (``matrix``:
    2x3, source -> output coordinates); what lies beyond the source is background (0). Ids are
    never blended: a mask warped with its photo stays a mask."""
    from PIL import Image

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise MgpeError(f"warp_labels: expected a 2-D label map, got shape {labels.shape}")
    oh, ow = int(out_hw[0]), int(out_hw[1])
    inv = invert(matrix)  # output -> source
    data = tuple(float(v) for v in inv.reshape(-1))
    img = Image.fromarray(np.ascontiguousarray(labels.astype(np.uint8)))
    out = img.transform((ow, oh), Image.Transform.AFFINE, data,
                        resample=Image.Resampling.NEAREST, fillcolor=0)
    return np.asarray(out)
