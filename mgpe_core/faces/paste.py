"""Paste an edited aligned crop back into the photo it came from.

Why this is more than the inverse warp: a user expects the photo back with only the edited part
changed. So the crop is warped back with :attr:`Aligned.inverse` and blended only inside the
edited region (``region_mask``, in crop coordinates), feathered so the seam cannot be seen:

- the region is dilated and box-blurred in crop coordinates (:func:`mgpe_core.engine.feathered`,
  radius 1/64 of the crop's side by default: the engine's own blend), so it is fully edited
  inside and fades to nothing within twice the radius outside;
- the feather also fades to 0 at the crop's border, which is therefore never a seam;
- the soft mask is warped bilinearly into the photo: where it is exactly 0 the photo's own pixels
  are copied, so every pixel outside the warped, feathered region is bit-identical to the input;
- only the bounding box of the warped region is computed (:func:`mgpe_core.faces.warp.
  warp_affine` reads only the footprint): pasting a 256 px crop into a 4000x3000 photo costs a
  copy of the photo plus a few ms, whatever the photo's size.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from .align import Aligned
from .warp import apply, compose, warp_affine


def crop_alpha(region_mask: np.ndarray, radius: int) -> np.ndarray:
    """The feathered blend weight (size, size) float32 in crop coordinates: 1 on the region,
    0 from ``2 * radius`` px beyond it, and tapered to 0 over ``radius`` px at the crop border."""
    from ..engine import feathered

    size = region_mask.shape[0]
    alpha = feathered(region_mask, radius) if radius > 0 else region_mask.astype(np.float32)
    if radius > 0:
        c = np.arange(size, dtype=np.float32) + 0.5
        ramp = np.clip((np.minimum(c, size - c) - 0.5) / radius, 0.0, 1.0)
        alpha *= np.minimum(ramp[:, None], ramp[None, :])
    return alpha


def paste_back(photo: np.ndarray, aligned: Aligned, edited_crop: np.ndarray,
               region_mask: np.ndarray, radius: int | None = None) -> np.ndarray:
    """``photo`` with ``edited_crop`` (the aligned crop after editing, (size, size, 3) uint8)
    warped back and blended inside ``region_mask`` ((size, size) bool, crop coordinates: the
    pixels the edit changed), feathered by ``radius`` crop px (default: 1/64 of the side).

    Returns a new photo of the same size; pixels outside the warped feathered region are the
    input's, bit for bit."""
    from ..engine import blend, blend_radius

    photo = np.asarray(photo)
    size = aligned.size
    if photo.shape[:2] != tuple(aligned.photo_hw) or photo.ndim != 3 or photo.dtype != np.uint8:
        raise UsageError(f"paste_back: the photo ({photo.shape} {photo.dtype}) is not the "
                         f"(H, W, 3) uint8 picture of {aligned.photo_hw} the face was aligned in")
    edited_crop = np.asarray(edited_crop)
    if edited_crop.shape != (size, size, 3) or edited_crop.dtype != np.uint8:
        raise UsageError(f"paste_back: the edited crop must be ({size}, {size}, 3) uint8, got "
                         f"{edited_crop.shape} {edited_crop.dtype}")
    region_mask = np.asarray(region_mask)
    if region_mask.shape != (size, size):
        raise UsageError(f"paste_back: region_mask must be ({size}, {size}) in crop "
                         f"coordinates, got {region_mask.shape}")
    out = photo.copy()
    alpha = crop_alpha(region_mask.astype(bool), blend_radius(size) if radius is None
                       else int(radius))
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    if rows.size == 0:
        return out
    # the photo box the feathered region lands in
    cx0, cx1, cy0, cy1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    corners = apply(aligned.inverse, [(cx0, cy0), (cx1, cy0), (cx0, cy1), (cx1, cy1)])
    h, w = photo.shape[:2]
    x0 = max(0, int(math.floor(corners[:, 0].min())) - 1)
    y0 = max(0, int(math.floor(corners[:, 1].min())) - 1)
    x1 = min(w, int(math.ceil(corners[:, 0].max())) + 1)
    y1 = min(h, int(math.ceil(corners[:, 1].max())) + 1)
    if x0 >= x1 or y0 >= y1:
        return out
    to_box = compose(np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]), aligned.inverse)
    box_alpha = warp_affine(alpha, to_box, (y1 - y0, x1 - x0), pad="zero")
    box_alpha = np.clip(box_alpha, 0.0, 1.0)
    box_alpha[box_alpha < 1e-6] = 0.0  # float dust of the filter: not an edit
    generated = warp_affine(edited_crop, to_box, (y1 - y0, x1 - x0), pad="edge")
    out[y0:y1, x0:x1] = blend(generated, photo[y0:y1, x0:x1], box_alpha)
    return out
