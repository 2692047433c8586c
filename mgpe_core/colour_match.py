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
undone. Only :data:`SURFACES` are matched. Numpy only, at the model's resolution.
"""

from __future__ import annotations

import numpy as np

from .morphology import dilate

#: Classes matched (by name; a schema may lack some): surfaces of one tone with shading. The
#: small parts (eyes, brows, lips, mouth, glasses) are drawn structures, a white sclera beside
#: a dark iris, whose ring says nothing about the rest; the background is the photo's own
#: already (the generator's background input, filled where the edit uncovers it).
SURFACES = ("skin", "nose", "neck", "hair")

#: A class needs at least this many ring pixels to be matched: fewer read a noisy offset.
MIN_RING_PIXELS = 12


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
    out = None
    for c in np.intersect1d(np.unique(labels[reach]), classes):
        own = labels == c
        known = ring & own
        where = reach & own
        if known.sum() < MIN_RING_PIXELS:
            continue
        if out is None:
            out = generated.astype(np.float32)
        diff = photo[known].astype(np.float32) - generated[known].astype(np.float32)
        out[where] += np.median(diff, axis=0)
    if out is None:
        return generated
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
