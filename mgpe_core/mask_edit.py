"""Pure-numpy primitives for editing face-parsing label maps: the building blocks of operations.

An edit operation changes a portrait's label map and the generator renders a face following the
edited map. The geometry of each operation (which component to swap, where a forehead is) lives
in that operation's module (``mgpe_plugins/ops/``); this module holds only what any operation
may need: boxes and centres, transplanting a class group at a centre, placing pixels by anchor
points, replacing and growing classes, opening a mouth.

Every function here takes and returns (H, W) uint8 id maps of a
:class:`~mgpe_core.labels.LabelSchema`, validates them with ``schema.validate``, never modifies
its inputs, and looks classes up by *name*, so it works for any schema having the classes it
needs (a missing class raises :class:`~mgpe_core.errors.LabelError` naming the schema and class).

Conventions (as in :mod:`mgpe_core.components`): coordinates are (y, x); "left"/"right" are
image-left/right; a box ``(y0, y1, x0, x1)`` has inclusive pixel bounds and its centre is
``((y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2)``. Fractional shifts are rounded half up.

Rules chosen for the edits:

- **Transplant** (:func:`transplant`): the photo's component pixels become ``fill``
  (skin); the reference's component pixels (each keeping its own class) are shifted so that the
  component's box centre lands on the photo's, optionally scaled about the reference centre
  (nearest neighbour), and pasted only over pixels whose class is in ``overwrite`` (default: the
  fill class and the component's classes). Pasted pixels that land on other classes (hair,
  background, nose, ...) or outside the image are dropped. When the photo lacks the component
  the reference centre is used as is (no shift). A reference of another size is first resized
  to the photo's (nearest neighbour).
- **Placing** (:func:`place`): the general form of that shift and scale, for operations that
  align other anchor points (e.g. two foreheads at their bottom centre).
- **Mouth opening** (:func:`mouth_open`): the lower lip moves down by ``amount`` px; what it
  uncovers, and the gap between its old and new top edge, becomes the inner ``mouth`` class.
  The face outline does not move: the moved lip and the new mouth only overwrite skin, lower
  lip and mouth pixels (they are clipped elsewhere).

Only numpy is imported. Operation modules import this module inside ``prepare`` (never at
import time), so ``mgpe --help`` loads no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from .errors import LabelError, UsageError
from .labels import LabelSchema

Box = tuple[int, int, int, int]

# -- boxes and centres -------------------------------------------------------------------------


def _ids_list(ids) -> list[int]:
    if isinstance(ids, int | np.integer):
        return [int(ids)]
    return [int(i) for i in ids]


def mask_box(mask: np.ndarray) -> Box | None:
    """Inclusive bounds ``(y0, y1, x0, x1)`` of the True pixels of a bool mask; None if none."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def box_centre(box: Box) -> tuple[float, float]:
    """Centre ``((y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2)`` of an inclusive box."""
    y0, y1, x0, x1 = box
    return (y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2


def part_box(labels: np.ndarray, ids) -> Box | None:
    """Inclusive bounds of the pixels whose id is in ``ids`` (an id or ids); None if absent."""
    return mask_box(np.isin(np.asarray(labels), _ids_list(ids)))


def part_centre(labels: np.ndarray, ids) -> tuple[float, float] | None:
    """Bounding-box centre (y, x) of the pixels whose id is in ``ids``; None if absent."""
    box = part_box(labels, ids)
    return None if box is None else box_centre(box)


def changed_region(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Bool mask of the pixels that differ between two label maps of the same shape."""
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape:
        raise LabelError(f"changed_region: shapes differ: {before.shape} vs {after.shape}")
    return before != after


# -- helpers for operations -------------------------------------------------------------------


def require_classes(schema: LabelSchema, names: Iterable[str], purpose: str) -> list[int]:
    """Ids of ``names``; a LabelError naming the schema and the missing classes otherwise."""
    names = list(names)
    missing = [n for n in names if n not in schema.classes]
    if missing:
        raise LabelError(
            f"{purpose} needs class{'es' if len(missing) > 1 else ''} "
            f"{', '.join(repr(n) for n in missing)}, which schema {schema.name!r} lacks "
            f"(classes: {', '.join(schema.classes)})"
        )
    return [schema.classes.index(n) for n in names]


def round_half_up(v: float) -> int:
    """Round half up (deterministic for the half-pixel centre differences)."""
    return math.floor(v + 0.5)


def resize_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A label map resized to ``shape`` by nearest-neighbour sampling at pixel centres."""
    h, w = labels.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return labels[np.ix_(rows, cols)]


def reference_like(reference: np.ndarray, shape: tuple[int, int],
                   schema: LabelSchema) -> np.ndarray:
    """A reference mask validated against ``schema`` and resized (nearest) to the photo's
    ``shape``, so that references of any size can be compared with the photo."""
    ref = schema.validate(reference, "reference mask")
    if ref.shape != shape:
        if ref.size == 0:
            raise LabelError(f"reference mask is empty (shape {ref.shape})")
        ref = resize_nearest(ref, shape)
    return ref


def _source_coords(n: int, src: float, dst: float, scale: float) -> np.ndarray:
    """For destination pixels 0..n-1: the source pixel of a shift by round(dst - src) of the
    source scaled by ``scale`` about ``src`` (nearest neighbour)."""
    q = np.arange(n) - round_half_up(dst - src)
    if scale == 1:
        return q
    return np.floor(src + (q + 0.5 - src) / scale).astype(np.int64)


def place(src: np.ndarray, src_mask: np.ndarray, src_anchor, dst_anchor, scale, shape):
    """Map the ``src_mask`` pixels of ``src`` onto a ``shape`` grid, the source anchor point
    landing on the destination anchor: returns (values, placed) arrays of ``shape``."""
    rows = _source_coords(shape[0], src_anchor[0], dst_anchor[0], scale[0])
    cols = _source_coords(shape[1], src_anchor[1], dst_anchor[1], scale[1])
    row_ok = (rows >= 0) & (rows < src.shape[0])
    col_ok = (cols >= 0) & (cols < src.shape[1])
    grid = np.ix_(np.clip(rows, 0, src.shape[0] - 1), np.clip(cols, 0, src.shape[1] - 1))
    placed = src_mask[grid] & row_ok[:, None] & col_ok[None, :]
    return src[grid], placed


def require_present(labels: np.ndarray, schema: LabelSchema, names: Iterable[str],
                    what: str = "reference mask") -> None:
    """LabelError naming the classes of ``names`` that have no pixel in ``labels``."""
    absent = [n for n in names if not (np.asarray(labels) == schema.index(n)).any()]
    if absent:
        raise LabelError(f"{what} has no {', '.join(absent)} pixels (schema {schema.name!r})")


def _region_mask(region, shape: tuple[int, int]) -> np.ndarray:
    """A region as a bool mask: a bool array of ``shape`` or an inclusive box (y0, y1, x0, x1)."""
    if isinstance(region, np.ndarray) and region.ndim == 2:
        if region.shape != shape:
            raise UsageError(f"region has shape {region.shape}, the label map {shape}")
        return region.astype(bool)
    try:
        y0, y1, x0, x1 = (int(v) for v in region)
    except (TypeError, ValueError):
        raise UsageError(
            "region must be a bool mask or an inclusive box (y0, y1, x0, x1)"
        ) from None
    m = np.zeros(shape, dtype=bool)
    m[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
    return m


# -- transplanting a component -----------------------------------------------------------------


def transplant(
    labels: np.ndarray,
    reference: np.ndarray,
    class_names: str | Sequence[str],
    schema: LabelSchema,
    fill: str = "skin",
    align: str = "centre",
    *,
    scale: float | None = None,
    match_size: bool = False,
    overwrite: Sequence[str] | None = None,
) -> np.ndarray:
    """The reference's shape of a component replaces the photo's, aligned at its centre.

    (a) The photo's pixels of ``class_names`` become ``fill``. (b) The reference's pixels of
    those classes, each keeping its class, are shifted by ``round(photo centre - reference
    centre)`` (box centres of the union of the classes; ``align="none"``: no shift) and pasted
    where the edited photo's class is in ``overwrite`` (default: ``fill`` and the component's
    classes); pixels landing elsewhere or outside the image are dropped. If the photo lacks the
    component, the reference centre is used as is (no shift). ``scale``: scale the reference
    component about its centre by this factor first (nearest); ``match_size=True``: scale so its
    box width matches the photo component's (no scaling if the photo lacks it).
    Raises LabelError if the reference has none of the component's pixels.
    """
    names = (class_names,) if isinstance(class_names, str) else tuple(class_names)
    if not names:
        raise UsageError("transplant: no classes given")
    ids = require_classes(schema, names, "transplant")
    fill_id = require_classes(schema, [fill], "transplant (fill)")[0]
    ow_ids = require_classes(schema, (fill, *names) if overwrite is None else overwrite,
                      "transplant (overwrite)")
    if align not in ("centre", "none"):
        raise UsageError(f"transplant: align must be 'centre' or 'none', got {align!r}")
    if scale is not None and match_size:
        raise UsageError("transplant: give scale or match_size, not both")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"transplant: scale must be a positive number, got {scale}")

    photo = schema.validate(labels, "photo mask")
    ref = reference_like(reference, photo.shape, schema)
    ref_mask = np.isin(ref, ids)
    ref_box = mask_box(ref_mask)
    if ref_box is None:
        raise LabelError(
            f"reference mask has no {'/'.join(names)} pixels (schema {schema.name!r})"
        )
    old = np.isin(photo, ids)
    photo_box = mask_box(old)
    src_c = box_centre(ref_box)
    dst_c = src_c if photo_box is None or align == "none" else box_centre(photo_box)
    if match_size and photo_box is not None:
        scale = (photo_box[3] - photo_box[2] + 1) / (ref_box[3] - ref_box[2] + 1)
    s = 1.0 if scale is None else float(scale)

    out = photo.copy()
    out[old] = fill_id
    values, placed = place(ref, ref_mask, src_c, dst_c, (s, s), photo.shape)
    paste = placed & np.isin(out, ow_ids)
    out[paste] = values[paste]
    return out


# -- small class edits -------------------------------------------------------------------------


def replace_class(labels, schema: LabelSchema, src_name: str, dst_name: str,
                  region=None) -> np.ndarray:
    """Pixels of class ``src_name`` become ``dst_name``; only inside ``region`` (a bool mask
    or an inclusive box ``(y0, y1, x0, x1)``) if given."""
    src, dst = require_classes(schema, (src_name, dst_name), "replace_class")
    photo = schema.validate(labels, "photo mask")
    sel = photo == src
    if region is not None:
        sel &= _region_mask(region, photo.shape)
    out = photo.copy()
    out[sel] = dst
    return out


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilation by a disk of ``radius`` px (offsets with dy² + dx² <= radius²); nothing grows
    in from beyond the border. The toolkit's one implementation (:mod:`mgpe_core.morphology`),
    imported here so this module's imports stay as they are."""
    from .morphology import dilate

    if not mask.any():  # nothing to grow: skip the passes
        return mask.copy()
    return dilate(mask, radius, shape="disk")


def dilate_class(labels, schema: LabelSchema, name: str, radius: int,
                 into: Sequence[str] = ("skin",)) -> np.ndarray:
    """Grow class ``name`` by a disk of ``radius`` px, only into pixels of the classes
    ``into`` (other pixels never change)."""
    if isinstance(into, str):
        into = (into,)
    cid = require_classes(schema, (name,), "dilate_class")[0]
    into_ids = require_classes(schema, into, "dilate_class (into)")
    if int(radius) != radius or radius < 0:
        raise UsageError(f"dilate_class: radius must be a whole number >= 0, got {radius}")
    photo = schema.validate(labels, "photo mask")
    grown = _dilate(photo == cid, int(radius))
    out = photo.copy()
    out[grown & np.isin(photo, into_ids)] = cid
    return out


def mouth_open(labels, schema: LabelSchema, amount: int) -> np.ndarray:
    """Open the mouth: the lower lip moves down by ``amount`` px, the upper lip stays, and what
    lies between them (the lip's old place, and the gap below its old top edge in each column)
    becomes inner mouth. Only skin, lower lip and mouth pixels change. LabelError without a
    ``mouth`` class in the schema or a lower lip in the mask."""
    _, m, lip_id, skin = require_classes(schema, ("u_lip", "mouth", "l_lip", "skin"), "mouth_open")
    if int(amount) != amount or amount < 0:
        raise UsageError(f"mouth_open: amount must be a whole number >= 0, got {amount}")
    amount = int(amount)
    photo = schema.validate(labels, "photo mask")
    lip = photo == lip_id
    if not lip.any():
        raise LabelError(f"photo mask has no lower lip (l_lip) to move (schema {schema.name!r})")
    out = photo.copy()
    if amount == 0:
        return out
    h = photo.shape[0]
    new_lip = np.zeros_like(lip)
    if amount < h:
        new_lip[amount:] = lip[:h - amount]
    top = np.argmax(lip, axis=0)  # first lip row of each column (0 where none)
    y = np.arange(h)[:, None]
    gap = lip.any(0)[None, :] & (y >= top[None, :]) & (y < top[None, :] + amount)
    allowed = np.isin(photo, [skin, m, lip_id])
    out[(lip | gap) & ~new_lip & allowed] = m
    out[new_lip & allowed] = lip_id
    return out
