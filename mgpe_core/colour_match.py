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
distance a lipstick or eye-colour transfer could remove. :func:`rendering_offsets` measures
that miss per class on a re-rendering of the style source itself (mean of photo - generated
over the class's interior there), and :func:`match_to_sources` removes it from the edit's
pixels of the class: the result keeps what the generator does with the style in the
target's layout and light, less the error it makes with that style where the truth is known.
Numpy only, at the model's resolution.
"""

from __future__ import annotations

import numpy as np

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


def rendering_offsets(photo: np.ndarray, rendered: np.ndarray, labels: np.ndarray,
                      classes) -> dict[int, np.ndarray]:
    """Per class of ``classes`` (ids) with at least :data:`MIN_SOURCE_PIXELS` in ``labels``:
    the mean of ``photo - rendered`` over its interior (eroded by 1 px; the whole class when
    it is too thin to have one), float32 RGB: the generator's colour error for that class
    when it re-renders ``photo`` (uint8 RGB, labelled by ``labels``) as ``rendered``. The
    interior, because edge pixels blend into the neighbour in any rendering, and differently
    beside another face's skin (with them, eyes gained half as much on ``mgpe eval`` and lips
    lost); a mean, not a median, because the aim is the class's mean colour."""
    offsets = {}
    for c in classes:
        own = labels == c
        if own.sum() < MIN_SOURCE_PIXELS:
            continue
        inner = erode(own, 1)
        use = inner if inner.any() else own
        diff = photo[use].astype(np.float32) - rendered[use].astype(np.float32)
        offsets[int(c)] = diff.mean(axis=0)
    return offsets


def match_to_sources(generated: np.ndarray, labels: np.ndarray, region: np.ndarray,
                     offsets: dict[int, np.ndarray]) -> np.ndarray:
    """``generated`` (uint8 RGB) with ``offsets`` (class id -> RGB offset, from
    :func:`rendering_offsets` of each restyled class's style source) added to that class's
    pixels inside ``region``. ``labels``: the edited mask. Returns uint8; ``generated``
    itself when nothing is matched."""
    region = np.asarray(region, dtype=bool)
    return _shifted(generated, [(region & (labels == c), off) for c, off in offsets.items()])
