"""``bangs``: add hair over the forehead (from a reference mask, else a drawn fringe) or remove
it (replaced by skin). The photo's own hair and skin styles render the new layout.

The geometry lives here, built on the core's label-map primitives (:mod:`mgpe_core.mask_edit`).
numpy and those primitives are imported inside the functions, so loading this plugin (as
``mgpe --help`` does) stays cheap. Coordinates are (y, x), boxes inclusive, "left"/"right" are
image-left/right. Rules chosen:

- **Forehead** (:func:`forehead_region`, shared by :func:`add_bangs` and :func:`remove_bangs`):
  ``brow_top`` is the top row of the eyebrows (without brows: the eyes' top row minus
  ``0.2 * (chin - eye top)``, about 10% of the face height; without eyes either: LabelError;
  without skin: LabelError). ``chin`` is one past the lowest skin row. Columns ``x0..x1``: the
  face's extent at brow level (skin/brow/eye/nose pixels in the brows' rows; from ``brow_top``
  to the eyes' bottom row when derived from the eyes). ``crown``: the top row of skin or hair
  in those columns. The forehead's height is the smaller of two estimates of the hairline,
  ``forehead_ratio * (chin - brow_top)`` (rule of thirds, default 0.5) and
  ``hairline * (brow_top - crown)`` (halfway from the top of the head, default 0.5), rounded:
  rows ``[brow_top - height, brow_top)``, with the upper corners rounded by an ellipse of half
  the width and the height (:data:`HAIRLINE_EXPONENT`): an arched hairline, as real ones are.
- :func:`remove_bangs` turns the *hair* pixels of that region into skin; the rest (sides, top of
  the head) stays. Only a face with bangs changes (:func:`has_bangs`: hair covers at least
  :data:`BANGS_MIN_SHARE` of the region); on a bare forehead whose hairline lies below the
  estimate, clearing the region (:func:`clear_forehead`) would carve a hairline, so the
  operation says there is nothing to do.
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
  skin lies above the region and the fringe counts as bangs,
  ``remove_bangs(add_bangs(m)) == clear_forehead(m)`` (adding a drawn fringe, then removing
  it, restores the forehead skin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from mgpe_core import hookimpl
from mgpe_core.errors import LabelError, NothingToDo, UsageError
from mgpe_core.operations import DemoCase, EvalCase, Operation

if TYPE_CHECKING:
    import numpy as np

BROW_CLASSES: tuple[str, ...] = ("l_brow", "r_brow")
EYE_CLASSES: tuple[str, ...] = ("l_eye", "r_eye")
#: Classes whose columns at brow level give the face's width there.
FACE_CLASSES: tuple[str, ...] = ("skin", "nose", "l_brow", "r_brow", "l_eye", "r_eye")


#: Exponent of the superellipse that rounds the forehead region's upper corners (half the
#: width by the height): 2, an ellipse, gives an arched hairline, as real ones are; 4 (the
#: first choice) left a nearly square patch, which removing bangs turned into a square of skin.
HAIRLINE_EXPONENT = 2


# -- the geometry ------------------------------------------------------------------------------


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
        import numpy as np

        m = np.zeros(shape, dtype=bool)
        if self.bottom <= self.top:
            return m
        ys = np.arange(self.top, self.bottom)
        t = (self.bottom - ys - 0.5) / self.height
        p = HAIRLINE_EXPONENT
        half = (self.x1 - self.x0 + 1) / 2 * np.clip(1 - t**p, 0, None) ** (1 / p)
        xs = np.arange(shape[1]) + 0.5
        m[self.top:self.bottom] = np.abs(xs[None, :] - self.anchor[1]) <= half[:, None]
        return m

    def head(self, shape: tuple[int, int]) -> np.ndarray:
        """The box rows ``[crown, bottom)``, columns ``x0..x1`` (no rounding)."""
        import numpy as np

        m = np.zeros(shape, dtype=bool)
        m[self.crown:self.bottom, self.x0:self.x1 + 1] = True
        return m


def forehead_region(labels: np.ndarray, schema, forehead_ratio: float = 0.5,
                    hairline: float = 0.5, what: str = "photo mask") -> Forehead:
    """Where bangs go: see the module docstring. LabelError without skin, or without both
    eyebrows and eyes."""
    import numpy as np

    from mgpe_core import mask_edit as me

    for name, v in (("forehead_ratio", forehead_ratio), ("hairline", hairline)):
        if not (math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be positive, got {v}")
    skin, hair = me.require_classes(schema, ("skin", "hair"), "the forehead")
    labels = schema.validate(labels, what)
    skin_box = me.part_box(labels, skin)
    if skin_box is None:
        raise LabelError(f"{what} has no skin (schema {schema.name!r}): cannot place the forehead")
    chin = skin_box[1] + 1
    brows = me.part_box(labels, schema.ids(BROW_CLASSES))
    if brows is not None:
        brow_top, band_bottom = brows[0], brows[1]
    else:
        eyes = me.part_box(labels, schema.ids(EYE_CLASSES))
        if eyes is None:
            raise LabelError(
                f"{what} has neither eyebrows nor eyes (schema {schema.name!r}): "
                "cannot place the forehead"
            )
        brow_top = max(0, eyes[0] - me.round_half_up(0.2 * max(0, chin - eyes[0])))
        band_bottom = eyes[1]
    band = np.isin(labels[brow_top:band_bottom + 1], schema.ids(FACE_CLASSES))
    cols = np.flatnonzero(band.any(0))  # never empty: the brows/eyes are in the band
    x0, x1 = int(cols[0]), int(cols[-1])
    head = np.isin(labels[:brow_top, x0:x1 + 1], [skin, hair]).any(1)
    crown = int(np.flatnonzero(head)[0]) if head.any() else brow_top
    height = min(me.round_half_up(forehead_ratio * max(0, chin - brow_top)),
                 me.round_half_up(hairline * (brow_top - crown)))
    return Forehead(max(0, brow_top - height), brow_top, height, x0, x1, crown)


def _fringe(area: np.ndarray, fh: Forehead, depth: float, ft: int) -> np.ndarray:
    """The pixels of ``area`` above a wavy edge ``depth`` of the way from row ``ft`` down to
    the brows (at least row ``ft`` and everything above it)."""
    import numpy as np

    hf = fh.bottom - ft
    xc = (fh.x0 + fh.x1) // 2
    period = max(4.0, (fh.x1 - fh.x0 + 1) / 4)
    amp = max(1.0, 0.1 * hf)
    x = np.arange(area.shape[1])
    edge = ft + depth * hf - amp * (1 - np.cos(2 * np.pi * (x - xc) / period)) / 2
    edge = np.maximum(edge, ft + 1)
    y = np.arange(area.shape[0])[:, None]
    return area & (y + 0.5 <= edge[None, :])


def add_bangs_info(labels, schema, reference=None, depth: float = 0.6,
                   forehead_ratio: float = 0.5, hairline: float = 0.5
                   ) -> tuple[np.ndarray, dict]:
    """:func:`add_bangs`, also returning ``{"source": "reference" | "drawn" |
    "drawn (the reference has no bangs)", "forehead": Forehead, "changed": pixel count}``."""
    import numpy as np

    from mgpe_core import mask_edit as me

    if not (math.isfinite(depth) and 0 < depth <= 1):
        raise UsageError(f"add_bangs: depth must be in (0, 1], got {depth}")
    skin, hair = me.require_classes(schema, ("skin", "hair"), "add_bangs")
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
        ref = me.reference_like(reference, photo.shape, schema)
        rfh = forehead_region(ref, schema, forehead_ratio, hairline, "reference mask")
        bangs = rfh.mask(ref.shape) & (ref == hair)
        if bangs.any():
            source, new = "reference", region
            if region.any():
                sy = (fh.bottom - fh.top) / (rfh.bottom - rfh.top)
                sx = (fh.x1 - fh.x0 + 1) / (rfh.x1 - rfh.x0 + 1)
                _, placed = me.place(ref, bangs, rfh.anchor, fh.anchor, (sy, sx), photo.shape)
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


def add_bangs(labels, schema, reference=None, depth: float = 0.6,
              forehead_ratio: float = 0.5, hairline: float = 0.5) -> np.ndarray:
    """Hair over the forehead: the reference's bangs if given (and it has some), else a drawn
    fringe reaching ``depth`` (in (0, 1]) of the way down to the brows. Only forehead skin
    pixels change (to hair)."""
    return add_bangs_info(labels, schema, reference, depth, forehead_ratio, hairline)[0]


#: Bangs cover at least this share of the forehead region. Measured on 200 held-out mgpe-synth
#: faces at 128 px (the arched region): at least 0.815 of it is hair with bangs (37 faces), at
#: most 0.280 without (149 faces: hairlines below the estimate), none when bald; a drawn
#: fringe at the default depth covers at least 0.439 (so that removing it is never refused).
BANGS_MIN_SHARE = 0.35


def bangs_share(labels, schema, forehead_ratio: float = 0.5, hairline: float = 0.5) -> float:
    """The share of the forehead region that is hair (0 when the region is empty)."""
    from mgpe_core import mask_edit as me

    _, hair = me.require_classes(schema, ("skin", "hair"), "bangs")
    photo = schema.validate(labels, "photo mask")
    region = forehead_region(photo, schema, forehead_ratio, hairline).mask(photo.shape)
    return float((region & (photo == hair)).sum() / region.sum()) if region.any() else 0.0


def has_bangs(labels, schema, forehead_ratio: float = 0.5, hairline: float = 0.5) -> bool:
    """Hair covers at least :data:`BANGS_MIN_SHARE` of the forehead region."""
    return bangs_share(labels, schema, forehead_ratio, hairline) >= BANGS_MIN_SHARE


def clear_forehead(labels, schema, forehead_ratio: float = 0.5,
                   hairline: float = 0.5) -> np.ndarray:
    """Every hair pixel of the forehead region becomes skin, bangs or not (on a face without
    bangs whose hairline lies below the estimate this carves the hairline up to it: what
    :func:`remove_bangs` does only when there are bangs)."""
    from mgpe_core import mask_edit as me

    skin, hair = me.require_classes(schema, ("skin", "hair"), "remove_bangs")
    photo = schema.validate(labels, "photo mask")
    fh = forehead_region(photo, schema, forehead_ratio, hairline)
    out = photo.copy()
    out[fh.mask(photo.shape) & (photo == hair)] = skin
    return out


def remove_bangs(labels, schema, forehead_ratio: float = 0.5,
                 hairline: float = 0.5) -> np.ndarray:
    """Hair pixels of the forehead region become skin; hair outside it (sides, top of the
    head) stays. An unchanged copy when the face has no bangs (:func:`has_bangs`): removing
    hair from a bare forehead would only carve its hairline."""
    if not has_bangs(labels, schema, forehead_ratio, hairline):
        return schema.validate(labels, "photo mask").copy()
    return clear_forehead(labels, schema, forehead_ratio, hairline)


# -- the operation -----------------------------------------------------------------------------


def _has_no_bangs(attributes: dict) -> str | None:
    """Bangs are added only to faces without them (mgpe-synth attributes), never to bald ones."""
    style = attributes.get("hair_style")
    if style in ("bangs", "bald"):
        return f"hair style {style} (attributes)"
    return None


def _has_bangs(attributes: dict) -> str | None:
    """Bangs are removed only from faces that have them (mgpe-synth attributes)."""
    if "hair_style" in attributes and attributes["hair_style"] != "bangs":
        return "no bangs (attributes)"
    return None


class Bangs(Operation):
    name = "bangs"
    summary = "Add bangs (from a reference or a drawn fringe) or remove them."
    example = "mgpe edit bangs sample:1 --mode add -o bangs.png"

    def options(self):
        return [
            click.Option(["--mode"], type=click.Choice(["add", "remove"]), required=True),
            click.Option(["--reference", "-r"], metavar="REF",
                         help="add: copy the fringe of this photo's / mask's hair."),
            click.Option(["--depth"], type=click.FloatRange(0.1, 1.0), default=0.6,
                         show_default=True,
                         help="add without reference: how far down to the brows the fringe "
                              "reaches."),
        ]

    def prepare(self, ctx, target, mode, reference, depth):
        from mgpe_core.engine import EditRequest

        if mode == "remove":
            if reference:
                raise UsageError("--reference goes with --mode add")
            share = bangs_share(target.labels, ctx.schema)
            if share < BANGS_MIN_SHARE:
                raise NothingToDo(f"no bangs to remove in {target.name}: hair covers "
                                  f"{share:.0%} of its forehead (bangs cover at least "
                                  f"{BANGS_MIN_SHARE:.0%})")
            edited = remove_bangs(target.labels, ctx.schema)
        else:
            ref = ctx.reference_mask(reference) if reference else None
            edited = add_bangs(target.labels, ctx.schema, reference=ref, depth=depth)
        return [EditRequest(target, mask=edited)]

    def eval_cases(self):
        return [EvalCase("bangs-add", ("--mode", "add"), skip_face=_has_no_bangs,
                         benchmark=True),
                EvalCase("bangs-remove", ("--mode", "remove"), skip_face=_has_bangs,
                         benchmark=True)]

    def demo_cases(self):
        return [DemoCase("component_edits", "sample:5", ("--mode", "add", "--depth", "0.7"),
                         "add bangs"),
                DemoCase("component_edits", "sample:3", ("--mode", "remove"), "remove bangs")]


@hookimpl
def register_operations(register):
    register(Bangs())
