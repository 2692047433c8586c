"""Generated pixels matched in tone to the photo they are blended into.

The engine keeps the photo's own pixels outside the edited region and blends the generated
ones in with a soft edge (:func:`~mgpe_core.engine.blend`). Where one class continues across
that border (a forehead no longer under a fringe of hair, the skin around a new mouth, hair
past the old hairline), the generator's tone of it seldom equals the photo's: a
reconstruction misses skin by about 3 delta E. A soft edge only spreads that step over a few
pixels; it shows as a lighter forehead patch or a ring of another tone.

:func:`match_to_photo` removes the step: per class, the median of photo - generated over a
ring of that class just outside the region is added to the class's generated pixels that the
blend uses. A median, and one offset per class, because the ring's generated pixels are not
all that class: the generator draws an eyelid's shadow or a lip's edge a pixel or two past
the mask, and a per-pixel offset field (tried: membrane interpolation of the ring's
difference) carried those structures into the skin and made seams worse on ``mgpe eval``.
A class with no pixels outside the region (a restyled component: all of its pixels are in
the region) has no ring and keeps the generated colour, so a wanted recolouring is never
undone. Only :data:`SURFACES` are matched.

A restyled component has its own reference instead: the portrait its style comes from. The
generator misses a small region's colour even when it re-renders a photo unchanged (lips by
about 4 delta E, eyes by 6, on the built-in model), which capped how much of the colour
distance a lipstick or eye-colour transfer could remove. :func:`part_colours` measures
that miss per class on a re-rendering of the style source itself (its mean Lab colour in the
photo minus in the rendering, over the class's interior), and :func:`match_to_sources` moves
the edit's pixels of the class by an offset in Lab. The offset (:func:`style_offsets`) is the
source's miss, or, for a model calibrated on mgpe-synth pairs where the true transfer is known
(:mod:`mgpe_core.style_match`), a linear blend (per Lab axis, or a full map across axes) of
the source's and the target's misses and of the source's and the target's photo colours'
distance from the edit's, plus a constant: a restyled part
keeps the target's light and shape, and with them part of the error the generator makes on
the target's own part (a restyled eye's lightness is the target's).
Numpy only, at the model's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics.image_metrics import lab_to_rgb, mean_lab, rgb_to_lab
from .morphology import dilate, erode

#: Classes matched (by name; a schema may lack some): surfaces of one tone with shading. The
#: small parts (eyes, brows, lips, mouth, glasses) are drawn structures, a white sclera beside
#: a dark iris, whose ring says nothing about the rest; the background is the photo's own
#: already (the generator's background input, filled where the edit uncovers it).
SURFACES = ("skin", "nose", "neck", "hair")

#: A class needs at least this many ring pixels to be matched: fewer read a noisy offset.
MIN_RING_PIXELS = 12

#: A style source's class needs at least this many pixels to give a rendering offset.
MIN_SOURCE_PIXELS = 12


#: The terms of a restyled class's colour offset (:func:`style_offsets`), by their names in a
#: model's calibration: the generator's colour error re-rendering the style source and the
#: target (:attr:`PartColour.error`), and the source's and the target's photo colour minus the
#: edit's own (:attr:`PartColour.photo` - the generated part's mean).
TERMS = ("source", "target", "source_photo", "target_photo")
#: Rows of :data:`TERMS` read from the target: weighing any of them re-renders it.
_TARGET_ROWS = [i for i, t in enumerate(TERMS) if t.startswith("target")]


def _as_map(value) -> np.ndarray:
    """A term's weight as a 3x3 map: 3 numbers weigh each Lab axis by itself (a diagonal),
    a 3x3 nested list is the map (rows: the offset's L, a, b; columns: the term's)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == (3,):
        return np.diag(arr)
    if arr.shape == (3, 3):
        return arr
    raise ValueError(f"a style-match term's weight is 3 numbers or a 3x3 map, got shape "
                     f"{arr.shape}")


@dataclass(frozen=True, eq=False)
class StyleWeights:
    """How a class's colour offset blends the :data:`TERMS`: per term a 3x3 map from the
    term's Lab vector to the offset (``maps``: (4, 3, 3), rows the offset's L, a, b, in
    :data:`TERMS`' order), plus a ``constant`` Lab offset. A diagonal map weighs each axis by
    itself; a full one lets a term's lightness move the offset's hue too (an eye's colour
    mixes a white sclera and the iris, so the photo's L tells how much of its b is iris). A
    model's fitted weights live in its config.json (:mod:`mgpe_core.style_match`)."""

    maps: np.ndarray  # (len(TERMS), 3, 3) float
    constant: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @classmethod
    def of(cls, constant=None, **rows) -> StyleWeights:
        """Weights from rows named as :data:`TERMS` (each 3 numbers, a diagonal, or a 3x3
        map) and an optional ``constant`` (3 numbers); a term not given weighs 0."""
        unknown = set(rows) - set(TERMS)
        if unknown:
            raise ValueError(f"unknown style-match terms {sorted(unknown)}; known: {TERMS}")
        maps = np.stack([_as_map(rows.get(t, np.zeros(3))) for t in TERMS])
        const = np.zeros(3) if constant is None else np.asarray(constant, dtype=np.float64)
        if const.shape != (3,):
            raise ValueError(f"a style-match constant is 3 numbers, got shape {const.shape}")
        return cls(maps, const)

    def __getattr__(self, name: str) -> np.ndarray:
        if name in TERMS:
            return self.maps[TERMS.index(name)]
        raise AttributeError(name)

    def offset(self, terms) -> np.ndarray:
        """The Lab offset (..., 3) of ``terms`` (..., len(TERMS), 3), e.g. one pair's
        :func:`offset_terms` or a stack of them."""
        return np.einsum("kij,...kj->...i", self.maps, np.asarray(terms, dtype=np.float64)) \
            + self.constant

    def is_diagonal(self) -> bool:
        """Whether every map weighs each axis by itself (no cross terms)."""
        return bool(np.all(self.maps == self.maps * np.eye(3)))

    def uses_target(self) -> bool:
        """Whether any target term weighs: the target must be re-rendered."""
        return bool(np.any(self.maps[_TARGET_ROWS] != 0))


#: A class no calibration names: the style source's error, all of it (the engine before a
#: model was calibrated, and what the fit starts from).
UNCALIBRATED = StyleWeights.of(source=np.ones(3))


@dataclass(frozen=True)
class PartColour:
    """One class of a portrait as the generator re-renders it, over the class's interior
    (:func:`class_interior`), in mean Lab: ``photo``, the photo's colour; ``error``, the
    photo's minus the re-rendering's (the generator's colour error there)."""

    photo: np.ndarray  # (3,)
    error: np.ndarray  # (3,)


def ring_width(radius: int) -> int:
    """Width (px) of the ring read outside the region: past the blend's reach (twice the
    feather ``radius``) by one radius, so most of it is the photo unblended."""
    return 3 * radius


def surface_ids(schema) -> list[int]:
    """Ids of the :data:`SURFACES` that ``schema`` has."""
    return [schema.index(name) for name in SURFACES if name in schema.classes]


def match_to_photo(generated: np.ndarray, photo: np.ndarray, labels: np.ndarray,
                   region: np.ndarray, radius: int, classes) -> np.ndarray:
    """``generated`` (uint8 RGB) with the tone offset to ``photo`` of each of ``classes``
    (ids, e.g. :func:`surface_ids`) removed where the blend uses it: the class's pixels within
    twice ``radius`` (the engine's feather radius) of ``region``. ``labels``: the edited
    mask (outside the region it is the photo's own). Returns uint8; ``generated`` itself
    when nothing is matched."""
    region = np.asarray(region, dtype=bool)
    if not region.any():
        return generated
    reach = dilate(region, 2 * radius)
    ring = dilate(region, ring_width(radius)) & ~region
    shifts = []
    for c in np.intersect1d(np.unique(labels[reach]), classes):
        own = labels == c
        known = ring & own
        if known.sum() < MIN_RING_PIXELS:
            continue
        diff = photo[known].astype(np.float32) - generated[known].astype(np.float32)
        shifts.append((reach & own, np.median(diff, axis=0)))
    return _shifted(generated, shifts)


def _shifted(generated: np.ndarray, shifts) -> np.ndarray:
    """``generated`` (uint8 RGB) with each ``(where, offset)`` of ``shifts`` added (offsets
    of the original pixels, in float, rounded once); ``generated`` itself when no ``where``
    has a pixel."""
    shifts = [(where, offset) for where, offset in shifts if where.any()]
    if not shifts:
        return generated
    out = generated.astype(np.float32)
    for where, offset in shifts:
        out[where] += offset
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def class_interior(labels: np.ndarray, c: int) -> np.ndarray:
    """Pixels of class ``c`` in ``labels`` eroded by 1 px (the whole class when it is too
    thin to have an interior): where a part's own colour is read, without the edge pixels that
    blend into its neighbours in any rendering."""
    own = labels == c
    inner = erode(own, 1)
    return inner if inner.any() else own


def part_colours(photo: np.ndarray, rendered: np.ndarray, labels: np.ndarray,
                 classes) -> dict[int, PartColour]:
    """Per class of ``classes`` (ids) with at least :data:`MIN_SOURCE_PIXELS` in ``labels``:
    its :class:`PartColour` when ``photo`` (uint8 RGB, labelled by ``labels``) is re-rendered
    unchanged as ``rendered``. The interior, because edge pixels blend into the neighbour in
    any rendering, and differently beside another face's skin (with them, eyes gained half as
    much on ``mgpe eval`` and lips lost); mean Lab colours, the measure ``mgpe eval`` scores a
    colour transfer by."""
    out = {}
    for c in classes:
        if (labels == c).sum() < MIN_SOURCE_PIXELS:
            continue
        use = class_interior(labels, c)
        own = mean_lab(photo, use)
        out[int(c)] = PartColour(own, own - mean_lab(rendered, use))
    return out


def edited_colours(generated: np.ndarray, labels: np.ndarray, classes) -> dict[int, np.ndarray]:
    """Mean Lab colour of each of ``classes`` over its interior in ``labels`` (the edited
    mask) in ``generated`` (the generator's output, before any matching); classes with fewer
    than :data:`MIN_SOURCE_PIXELS` pixels are left out."""
    return {int(c): mean_lab(generated, class_interior(labels, c)) for c in classes
            if (labels == c).sum() >= MIN_SOURCE_PIXELS}


def offset_terms(source: PartColour, target: PartColour | None,
                 edited: np.ndarray | None) -> np.ndarray:
    """The (len(:data:`TERMS`), 3) Lab vectors a class's offset blends: the source's and the
    target's rendering errors, the source's and the target's photo colour minus the edit's
    (a vector the portraits cannot give counts 0)."""
    zero = np.zeros(3)
    return np.stack([
        source.error,
        target.error if target is not None else zero,
        source.photo - edited if edited is not None else zero,
        target.photo - edited if target is not None and edited is not None else zero])


def style_offsets(classes, source: dict[int, PartColour], target: dict[int, PartColour],
                  edited: dict[int, np.ndarray],
                  weights: dict[int, StyleWeights]) -> dict[int, np.ndarray]:
    """Class id -> Lab offset for each of ``classes`` (a restyled component's) that its style
    source has a :class:`PartColour` for: ``weights[c]``' blend of the
    :func:`offset_terms` (``target``: the target's part colours, ``edited``: the edit's
    :func:`edited_colours`), the source's error alone (:data:`UNCALIBRATED`) for a class
    ``weights`` does not name."""
    out = {}
    for c in classes:
        if c not in source:
            continue
        w = weights.get(c, UNCALIBRATED)
        out[int(c)] = w.offset(offset_terms(source[c], target.get(c), edited.get(c)))
    return out


def match_to_sources(generated: np.ndarray, labels: np.ndarray, region: np.ndarray,
                     offsets: dict[int, np.ndarray]) -> np.ndarray:
    """``generated`` (uint8 RGB) with ``offsets`` (class id -> Lab offset, from
    :func:`style_offsets`) added in Lab to that class's pixels inside ``region``, converted
    back to sRGB (out-of-gamut colours clipped). ``labels``: the edited mask. Returns uint8;
    ``generated`` itself when nothing is matched."""
    region = np.asarray(region, dtype=bool)
    out = None
    for c, offset in offsets.items():
        where = region & (labels == c)
        if not where.any():
            continue
        if out is None:
            out = generated.copy()
        lab = rgb_to_lab(generated[where]) + np.asarray(offset, dtype=np.float64)
        out[where] = np.clip(np.rint(lab_to_rgb(lab)), 0, 255).astype(np.uint8)
    return generated if out is None else out
