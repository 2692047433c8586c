"""Pure-numpy edits of face-parsing label maps, used by the shape-editing operations.

An edit operation changes a portrait's label map and the generator renders a face following the
edited map. Every function here takes and returns (H, W) uint8 id maps of a
:class:`~mgpe_core.labels.LabelSchema`, validates them with ``schema.validate``, never modifies
its inputs, and looks classes up by *name*, so it works for any schema having the classes it
needs (a missing class raises :class:`~mgpe_core.errors.LabelError` naming the schema and class).

Conventions (as in :mod:`mgpe_core.components`): coordinates are (y, x); "left"/"right" are
image-left/right; a box ``(y0, y1, x0, x1)`` has inclusive pixel bounds and its centre is
``((y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2)``. Fractional shifts are rounded half up.

Rules chosen for the edits:

- **Transplant** (:func:`transplant`, ``swap_*``): the photo's component pixels become ``fill``
  (skin); the reference's component pixels (each keeping its own class) are shifted so that the
  component's box centre lands on the photo's, optionally scaled about the reference centre
  (nearest neighbour), and pasted only over pixels whose class is in ``overwrite`` (default: the
  fill class and the component's classes). Pasted pixels that land on other classes (hair,
  background, nose, ...) or outside the image are dropped. When the photo lacks the component
  the reference centre is used as is (no shift). A reference of another size is first resized
  to the photo's (nearest neighbour).
- **Forehead** (:func:`forehead_region`, shared by :func:`add_bangs` and :func:`remove_bangs`):
  ``brow_top`` is the top row of the eyebrows (without brows: the eyes' top row minus
  ``0.2 * (chin - eye top)``, about 10% of the face height; without eyes either: LabelError;
  without skin: LabelError). ``chin`` is one past the lowest skin row. Columns ``x0..x1``: the
  face's extent at brow level (skin/brow/eye/nose pixels in the brows' rows; from ``brow_top``
  to the eyes' bottom row when derived from the eyes). ``crown``: the top row of skin or hair
  in those columns. The forehead's height is the smaller of two estimates of the hairline,
  ``forehead_ratio * (chin - brow_top)`` (rule of thirds, default 0.5) and
  ``hairline * (brow_top - crown)`` (halfway from the top of the head, default 0.5), rounded:
  rows ``[brow_top - height, brow_top)``, with the upper corners rounded by a superellipse
  (exponent 4) of half the width and the height, since hairlines are rounded.
- :func:`remove_bangs` turns the *hair* pixels of that region into skin; the rest (sides, top of
  the head) stays. A bangless face whose hairline lies below the estimate gets it raised to it.
- :func:`add_bangs` only turns *skin* pixels in rows ``[crown, brow_top)`` and columns
  ``x0..x1`` into hair. **Drawn fringe**: the region's skin from its top skin row ``ft`` down to
  a lower edge at ``ft + depth * (brow_top - ft)`` at the centre column, raised elsewhere by a
  small deterministic cosine wave (amplitude ``max(1, 0.1 * (brow_top - ft))`` px, period a
  quarter of the width, at least 4 px); rows whose centre is above the edge become hair, at
  least row ``ft``. With ``depth=1`` the fringe reaches the row just above the brows. If there
  is skin *above* the region in those columns (a forehead taller than the estimate, a bald
  head), the fringe hangs from the top of the head instead: all that skin becomes hair, the
  corners included, and the edge is measured from the region's top.
  **Reference bangs**: the reference's bangs are the hair pixels of *its* forehead region,
  mapped onto the photo by aligning the regions' bottom-centre points (brow top, centre column)
  and scaling by the ratio of the regions' heights (vertically) and widths (horizontally), then
  pasted on the photo's forehead-region skin (plus the skin above the region, as above). A
  reference without bangs falls back to the drawn fringe (:func:`add_bangs_info` says which).
- Neither edit changes rows at or below ``brow_top``, the lowest skin row, or which pixels are
  skin-or-hair, so the region is the same after either: removing is idempotent, and when no
  skin lies above the region, ``remove_bangs(add_bangs(m)) == remove_bangs(m)`` (adding a
  drawn fringe, then removing it, restores the forehead skin).
- **Mouth opening** (:func:`mouth_open`): the lower lip moves down by ``amount`` px; what it
  uncovers, and the gap between its old and new top edge, becomes the inner ``mouth`` class.
  The face outline does not move: the moved lip and the new mouth only overwrite skin, lower
  lip and mouth pixels (they are clipped elsewhere).

Only numpy is imported (cheap to import from the CLI's operations).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import LabelError, UsageError
from .labels import LabelSchema

Box = tuple[int, int, int, int]

MOUTH_CLASSES: tuple[str, ...] = ("u_lip", "mouth", "l_lip")
BROW_CLASSES: tuple[str, ...] = ("l_brow", "r_brow")
EYE_CLASSES: tuple[str, ...] = ("l_eye", "r_eye")
#: Classes whose columns at brow level give the face's width there.
FACE_CLASSES: tuple[str, ...] = ("skin", "nose", "l_brow", "r_brow", "l_eye", "r_eye")


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


# -- helpers -----------------------------------------------------------------------------------


def _require(schema: LabelSchema, names: Iterable[str], purpose: str) -> list[int]:
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


def _round(v: float) -> int:
    """Round half up (deterministic for the half-pixel centre differences)."""
    return math.floor(v + 0.5)


def _resize_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = labels.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return labels[np.ix_(rows, cols)]


def _reference(reference: np.ndarray, shape: tuple[int, int], schema: LabelSchema) -> np.ndarray:
    ref = schema.validate(reference, "reference mask")
    if ref.shape != shape:
        if ref.size == 0:
            raise LabelError(f"reference mask is empty (shape {ref.shape})")
        ref = _resize_nearest(ref, shape)
    return ref


def _source_coords(n: int, src: float, dst: float, scale: float) -> np.ndarray:
    """For destination pixels 0..n-1: the source pixel of a shift by round(dst - src) of the
    source scaled by ``scale`` about ``src`` (nearest neighbour)."""
    q = np.arange(n) - _round(dst - src)
    if scale == 1:
        return q
    return np.floor(src + (q + 0.5 - src) / scale).astype(np.int64)


def _place(src: np.ndarray, src_mask: np.ndarray, src_anchor, dst_anchor, scale, shape):
    """Map the ``src_mask`` pixels of ``src`` onto a ``shape`` grid, the source anchor point
    landing on the destination anchor: returns (values, placed) arrays of ``shape``."""
    rows = _source_coords(shape[0], src_anchor[0], dst_anchor[0], scale[0])
    cols = _source_coords(shape[1], src_anchor[1], dst_anchor[1], scale[1])
    row_ok = (rows >= 0) & (rows < src.shape[0])
    col_ok = (cols >= 0) & (cols < src.shape[1])
    grid = np.ix_(np.clip(rows, 0, src.shape[0] - 1), np.clip(cols, 0, src.shape[1] - 1))
    placed = src_mask[grid] & row_ok[:, None] & col_ok[None, :]
    return src[grid], placed


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
    ids = _require(schema, names, "transplant")
    fill_id = _require(schema, [fill], "transplant (fill)")[0]
    ow_ids = _require(schema, (fill, *names) if overwrite is None else overwrite,
                      "transplant (overwrite)")
    if align not in ("centre", "none"):
        raise UsageError(f"transplant: align must be 'centre' or 'none', got {align!r}")
    if scale is not None and match_size:
        raise UsageError("transplant: give scale or match_size, not both")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"transplant: scale must be a positive number, got {scale}")

    photo = schema.validate(labels, "photo mask")
    ref = _reference(reference, photo.shape, schema)
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
    values, placed = _place(ref, ref_mask, src_c, dst_c, (s, s), photo.shape)
    paste = placed & np.isin(out, ow_ids)
    out[paste] = values[paste]
    return out


def _check_reference_has(reference, schema, names, shape) -> None:
    ref = _reference(reference, shape, schema)
    absent = [n for n in names if not (ref == schema.index(n)).any()]
    if absent:
        raise LabelError(
            f"reference mask has no {', '.join(absent)} pixels (schema {schema.name!r})"
        )


def swap_mouth(labels, reference, schema: LabelSchema, *, scale: float | None = None,
               match_size: bool = False) -> np.ndarray:
    """The reference's mouth (upper lip, inner mouth, lower lip together, at their joint
    centre) replaces the photo's. The inner mouth may be absent from either (closed mouth);
    a schema without a ``mouth`` class swaps the lips alone."""
    _require(schema, ("u_lip", "l_lip"), "swap_mouth")
    names = [n for n in MOUTH_CLASSES if n in schema.classes]
    return transplant(labels, reference, names, schema, scale=scale, match_size=match_size)


def _swap_pair(labels, reference, schema, names, purpose, extra_overwrite=(), **kw):
    _require(schema, names, purpose)
    photo = schema.validate(labels, "photo mask")
    _check_reference_has(reference, schema, names, photo.shape)
    extra = [n for n in extra_overwrite if n in schema.classes]
    out = photo
    for name in names:
        out = transplant(out, reference, [name], schema, overwrite=("skin", name, *extra), **kw)
    return out


def swap_eyes(labels, reference, schema: LabelSchema, *, scale: float | None = None,
              match_size: bool = False) -> np.ndarray:
    """Each eye of the reference replaces the photo's, aligned at its own centre. Eyes may
    also be pasted over glasses (``eye_g``) where the schema has them."""
    return _swap_pair(labels, reference, schema, EYE_CLASSES, "swap_eyes", ("eye_g",),
                      scale=scale, match_size=match_size)


def swap_brows(labels, reference, schema: LabelSchema, *, scale: float | None = None,
               match_size: bool = False) -> np.ndarray:
    """Each eyebrow of the reference replaces the photo's, aligned at its own centre."""
    return _swap_pair(labels, reference, schema, BROW_CLASSES, "swap_brows",
                      scale=scale, match_size=match_size)


def swap_nose(labels, reference, schema: LabelSchema, *, scale: float | None = None,
              match_size: bool = False) -> np.ndarray:
    """The reference's nose replaces the photo's, aligned at its centre."""
    return transplant(labels, reference, ["nose"], schema, scale=scale, match_size=match_size)


# -- forehead and bangs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Forehead:
    """The forehead region: rows ``[top, bottom)`` (``bottom`` is the brows' top row), columns
    ``x0..x1`` (inclusive) at brow level, upper corners rounded (see the module docstring).
    ``height`` is the unclipped height (``top`` is clipped at row 0); ``crown`` the top row of
    the head (skin or hair) in those columns."""

    top: int
    bottom: int
    height: int
    x0: int
    x1: int
    crown: int

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre point (brow top row, centre column): where references align."""
        return float(self.bottom), (self.x0 + self.x1 + 1) / 2

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        m = np.zeros(shape, dtype=bool)
        if self.bottom <= self.top:
            return m
        ys = np.arange(self.top, self.bottom)
        t = (self.bottom - ys - 0.5) / self.height
        half = (self.x1 - self.x0 + 1) / 2 * np.clip(1 - t**4, 0, None) ** 0.25
        xs = np.arange(shape[1]) + 0.5
        m[self.top:self.bottom] = np.abs(xs[None, :] - self.anchor[1]) <= half[:, None]
        return m

    def head(self, shape: tuple[int, int]) -> np.ndarray:
        """The box rows ``[crown, bottom)``, columns ``x0..x1`` (no rounding)."""
        m = np.zeros(shape, dtype=bool)
        m[self.crown:self.bottom, self.x0:self.x1 + 1] = True
        return m


def forehead_region(labels: np.ndarray, schema: LabelSchema, forehead_ratio: float = 0.5,
                    hairline: float = 0.5, what: str = "photo mask") -> Forehead:
    """Where bangs go: see the module docstring. LabelError without skin, or without both
    eyebrows and eyes."""
    for name, v in (("forehead_ratio", forehead_ratio), ("hairline", hairline)):
        if not (math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be positive, got {v}")
    skin, hair = _require(schema, ("skin", "hair"), "the forehead")
    labels = schema.validate(labels, what)
    skin_box = part_box(labels, skin)
    if skin_box is None:
        raise LabelError(f"{what} has no skin (schema {schema.name!r}): cannot place the forehead")
    chin = skin_box[1] + 1
    brows = part_box(labels, schema.ids(BROW_CLASSES))
    if brows is not None:
        brow_top, band_bottom = brows[0], brows[1]
    else:
        eyes = part_box(labels, schema.ids(EYE_CLASSES))
        if eyes is None:
            raise LabelError(
                f"{what} has neither eyebrows nor eyes (schema {schema.name!r}): "
                "cannot place the forehead"
            )
        brow_top = max(0, eyes[0] - _round(0.2 * max(0, chin - eyes[0])))
        band_bottom = eyes[1]
    band = np.isin(labels[brow_top:band_bottom + 1], schema.ids(FACE_CLASSES))
    cols = np.flatnonzero(band.any(0))  # never empty: the brows/eyes are in the band
    x0, x1 = int(cols[0]), int(cols[-1])
    head = np.isin(labels[:brow_top, x0:x1 + 1], [skin, hair]).any(1)
    crown = int(np.flatnonzero(head)[0]) if head.any() else brow_top
    height = min(_round(forehead_ratio * max(0, chin - brow_top)),
                 _round(hairline * (brow_top - crown)))
    return Forehead(max(0, brow_top - height), brow_top, height, x0, x1, crown)


def _fringe(area: np.ndarray, fh: Forehead, depth: float, ft: int) -> np.ndarray:
    """The pixels of ``area`` above a wavy edge ``depth`` of the way from row ``ft`` down to
    the brows (at least row ``ft`` and everything above it)."""
    hf = fh.bottom - ft
    xc = (fh.x0 + fh.x1) // 2
    period = max(4.0, (fh.x1 - fh.x0 + 1) / 4)
    amp = max(1.0, 0.1 * hf)
    x = np.arange(area.shape[1])
    edge = ft + depth * hf - amp * (1 - np.cos(2 * np.pi * (x - xc) / period)) / 2
    edge = np.maximum(edge, ft + 1)
    y = np.arange(area.shape[0])[:, None]
    return area & (y + 0.5 <= edge[None, :])


def add_bangs_info(labels, schema: LabelSchema, reference=None, depth: float = 0.6,
                   forehead_ratio: float = 0.5, hairline: float = 0.5
                   ) -> tuple[np.ndarray, dict]:
    """:func:`add_bangs`, also returning ``{"source": "reference" | "drawn" |
    "drawn (the reference has no bangs)", "forehead": Forehead, "changed": pixel count}``."""
    if not (math.isfinite(depth) and 0 < depth <= 1):
        raise UsageError(f"add_bangs: depth must be in (0, 1], got {depth}")
    skin, hair = _require(schema, ("skin", "hair"), "add_bangs")
    photo = schema.validate(labels, "photo mask")
    fh = forehead_region(photo, schema, forehead_ratio, hairline)
    skin_px = photo == skin
    region = fh.mask(photo.shape) & skin_px
    head = fh.head(photo.shape) & skin_px
    above = head.copy()
    above[fh.top:] = False
    attach = bool(above.any())  # skin above the region: the fringe hangs from the hair
    source, new = "drawn", None
    if reference is not None:
        ref = _reference(reference, photo.shape, schema)
        rfh = forehead_region(ref, schema, forehead_ratio, hairline, "reference mask")
        bangs = rfh.mask(ref.shape) & (ref == hair)
        if bangs.any():
            source, new = "reference", region
            if region.any():
                sy = (fh.bottom - fh.top) / (rfh.bottom - rfh.top)
                sx = (fh.x1 - fh.x0 + 1) / (rfh.x1 - rfh.x0 + 1)
                _, placed = _place(ref, bangs, rfh.anchor, fh.anchor, (sy, sx), photo.shape)
                new = region & placed
            if new.any():
                new = new | above
        else:
            source = "drawn (the reference has no bangs)"
    if new is None:
        if attach:
            new = _fringe(head, fh, depth, fh.top)
        else:
            rows = np.flatnonzero(region.any(1))
            new = _fringe(region, fh, depth, int(rows[0])) if rows.size else region
    out = photo.copy()
    out[new] = hair
    return out, {"source": source, "forehead": fh, "changed": int(new.sum())}


def add_bangs(labels, schema: LabelSchema, reference=None, depth: float = 0.6,
              forehead_ratio: float = 0.5, hairline: float = 0.5) -> np.ndarray:
    """Hair over the forehead: the reference's bangs if given (and it has some), else a drawn
    fringe reaching ``depth`` (in (0, 1]) of the way down to the brows. Only forehead skin
    pixels change (to hair)."""
    return add_bangs_info(labels, schema, reference, depth, forehead_ratio, hairline)[0]


def remove_bangs(labels, schema: LabelSchema, forehead_ratio: float = 0.5,
                 hairline: float = 0.5) -> np.ndarray:
    """Hair pixels of the forehead region become skin; hair outside it (sides, top of the
    head) stays. An unchanged copy when there is no hair on the forehead."""
    skin, hair = _require(schema, ("skin", "hair"), "remove_bangs")
    photo = schema.validate(labels, "photo mask")
    fh = forehead_region(photo, schema, forehead_ratio, hairline)
    out = photo.copy()
    out[fh.mask(photo.shape) & (photo == hair)] = skin
    return out


# -- small class edits -------------------------------------------------------------------------


def replace_class(labels, schema: LabelSchema, src_name: str, dst_name: str,
                  region=None) -> np.ndarray:
    """Pixels of class ``src_name`` become ``dst_name``; only inside ``region`` (a bool mask
    or an inclusive box ``(y0, y1, x0, x1)``) if given."""
    src, dst = _require(schema, (src_name, dst_name), "replace_class")
    photo = schema.validate(labels, "photo mask")
    sel = photo == src
    if region is not None:
        sel &= _region_mask(region, photo.shape)
    out = photo.copy()
    out[sel] = dst
    return out


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilation by a disk of ``radius`` px (offsets with dy² + dx² <= radius²)."""
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


def dilate_class(labels, schema: LabelSchema, name: str, radius: int,
                 into: Sequence[str] = ("skin",)) -> np.ndarray:
    """Grow class ``name`` by a disk of ``radius`` px, only into pixels of the classes
    ``into`` (other pixels never change)."""
    if isinstance(into, str):
        into = (into,)
    cid = _require(schema, (name,), "dilate_class")[0]
    into_ids = _require(schema, into, "dilate_class (into)")
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
    _, m, lip_id, skin = _require(schema, ("u_lip", "mouth", "l_lip", "skin"), "mouth_open")
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
