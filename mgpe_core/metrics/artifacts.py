"""Periodic-artifact score: how much of a region's fine detail sits on a grid.

Transposed convolutions of stride 2 (and chains of them) leave a checkerboard: a pattern
whose period divides 2, 4 or 8 pixels, the "knitted" look of generated hair. Real hair (and
the procedural renderer's) has no such grid. The score measures it from the spectrum:

1. the luminance's fine detail: the image minus a 5x5 box blur of it (texture, not shading);
2. restricted to the region (eroded by 2 px, so that the region's own edge adds no energy),
   its mean removed, zero elsewhere;
3. the power spectrum of that (the image padded to a multiple of 8), and the share of its
   energy in the bins at frequencies k/8 cycles per pixel (every periodic pattern of period 2,
   4 or 8), each with its 8 neighbours (the region's window widens a peak by about a bin);
4. divided by the share those bins have of all bins: 1.0 for detail with no preferred
   frequency (white noise), larger when detail piles up on the grid.

``mgpe eval`` reports it for the hair of the reconstructions and of the real test faces, and
their ratio: a generator without checkerboards scores like the real faces (ratio near 1).
"""

from __future__ import annotations

import numpy as np

#: The longest period looked for (2, 4 and 8 divide it): three stride-2 upsamplings.
PERIOD = 8
#: Regions smaller than this (pixels, after erosion) get no score.
MIN_PIXELS = 256


def box_blur(x: np.ndarray, k: int = 5) -> np.ndarray:
    """The mean of ``x`` (2-D) over a ``k`` x ``k`` window around each pixel (edges
    reflected), by summed-area table: O(1) per pixel whatever ``k``."""
    pad = k // 2
    p = np.pad(x, pad, mode="reflect")
    c = np.cumsum(np.cumsum(p, 0), 1)
    c = np.pad(c, ((1, 0), (1, 0)))
    h, w = x.shape
    s = c[k:k + h, k:k + w] - c[:h, k:k + w] - c[k:k + h, :w] + c[:h, :w]
    return s / (k * k)


def _grid_bins(n_rows: int, n_cols: int) -> np.ndarray:
    """Boolean mask of the spectrum's grid bins (k/PERIOD cycles per pixel, not DC) and
    their 8 neighbours."""
    mark = np.zeros((n_rows, n_cols), bool)
    rows = [round(i * n_rows / PERIOD) for i in range(PERIOD)]
    cols = [round(j * n_cols / PERIOD) for j in range(PERIOD)]
    for r in rows:
        for c in cols:
            if r == 0 and c == 0:
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    mark[(r + dr) % n_rows, (c + dc) % n_cols] = True
    # DC's own neighbours carry the region's low frequencies, not a grid
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            mark[dr % n_rows, dc % n_cols] = False
    return mark


def periodic_score(image: np.ndarray, region: np.ndarray) -> float | None:
    """The score (see the module doc) of ``region`` (bool, H x W) in ``image`` (uint8 RGB);
    None when the region is too small to tell."""
    from ..morphology import erode

    inner = erode(region.astype(bool), 2)
    if inner.sum() < MIN_PIXELS:
        return None
    rgb = image.astype(np.float64) / 255.0
    lum = rgb @ np.array([0.299, 0.587, 0.114])
    detail = lum - box_blur(lum)
    vals = detail[inner]
    x = np.where(inner, detail - vals.mean(), 0.0)
    h, w = x.shape
    H, W = -(-h // PERIOD) * PERIOD, -(-w // PERIOD) * PERIOD
    x = np.pad(x, ((0, H - h), (0, W - w)))
    power = np.abs(np.fft.fft2(x)) ** 2
    power[0, 0] = 0.0
    total = power.sum()
    if total <= 0:
        return None
    bins = _grid_bins(H, W)
    share = power[bins].sum() / total
    return float(share / (bins.sum() / (H * W - 1)))


def region_scores(images, regions) -> dict:
    """Mean score over the images whose region can be scored, and how many could."""
    scores = [s for s in (periodic_score(i, r) for i, r in zip(images, regions, strict=True))
              if s is not None]
    return {"score": float(np.mean(scores)) if scores else None, "n": len(scores)}


#: Width in pixels of the bands on either side of an edited region's border.
SEAM_BAND = 3
#: Bands smaller than this (pixels) give no seam score.
SEAM_MIN_PIXELS = 16
#: Distance in pixels between the two pixels of a pair that :func:`component_seam_score`
#: compares: two bands, spanning the engine's feathering.
SEAM_GAP = 2 * SEAM_BAND


def seam_score(result: np.ndarray, photo: np.ndarray, region: np.ndarray) -> float | None:
    """How much colour step an edit adds at the border of the region it changed: the CIE76
    distance between the result's mean Lab colour in a :data:`SEAM_BAND`-px band just inside
    ``region`` and in the band just outside it, minus the same distance in ``photo`` (the
    step that was there already, e.g. a jaw against a darker neck), never below 0 (an edit
    that softens a border, e.g. hair restyled closer to the background's colour, adds no
    seam). 0: the edit joins its surroundings as the photo did; a restyled face over a neck
    that kept the photo's tone, or a lighter forehead patch, scores above 0. None when either
    band is too small."""
    from ..morphology import dilate, erode
    from .image_metrics import delta_e76, mean_lab

    region = np.asarray(region, dtype=bool)
    inner = region & ~erode(region, SEAM_BAND)
    outer = dilate(region, SEAM_BAND) & ~region
    if inner.sum() < SEAM_MIN_PIXELS or outer.sum() < SEAM_MIN_PIXELS:
        return None
    step_after = delta_e76(mean_lab(result, inner), mean_lab(result, outer))
    step_before = delta_e76(mean_lab(photo, inner), mean_lab(photo, outer))
    return max(0.0, float(step_after - step_before))


def component_seam_score(result: np.ndarray, region: np.ndarray, groups: np.ndarray,
                         gap: int = SEAM_GAP) -> float | None:
    """A seam as a local break inside one component: the mean CIE76 distance between pixel
    pairs ``gap`` px apart (horizontal and vertical) that straddle the border of ``region``
    with the same component on both sides (``groups``: a component id per pixel, e.g. skin and
    neck one id, each lip class the mouth's), minus the mean distance of the same kind of pairs
    near the border that do not straddle it (the texture and shading that are there anyway),
    never below 0.

    Unlike :func:`seam_score`, a wanted change of a whole component's colour (lips recoloured
    against the skin, hair restyled against the background) adds nothing here: those borders
    separate components. A restyled face over a neck left in the photo's tone, or a forehead
    patch lighter than the skin around it, does. ``gap`` spans the engine's feathering. None
    when fewer than :data:`SEAM_MIN_PIXELS` pairs straddle the border."""
    from ..morphology import dilate, erode
    from .image_metrics import delta_e76, rgb_to_lab

    region = np.asarray(region, dtype=bool)
    groups = np.asarray(groups)
    lab = rgb_to_lab(result)
    near = dilate(region, gap) & ~erode(region, gap)
    straddle, other = [], []
    every, first, second = slice(None), slice(0, -gap), slice(gap, None)
    for a, b in (((first, every), (second, every)), ((every, first), (every, second))):
        same = groups[a] == groups[b]
        dist = delta_e76(lab[a], lab[b])
        crosses = region[a] != region[b]
        straddle.append(dist[same & crosses])
        other.append(dist[same & ~crosses & near[a] & near[b]])
    straddle, other = np.concatenate(straddle), np.concatenate(other)
    if straddle.size < SEAM_MIN_PIXELS or other.size < SEAM_MIN_PIXELS:
        return None
    return max(0.0, float(straddle.mean() - other.mean()))
