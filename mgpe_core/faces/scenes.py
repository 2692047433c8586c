"""Photos with faces at known places: the ground truth of the face tests and benchmark.

Why in the package: the tests (tests/test_faces.py) and the benchmark (bench/bench_faces.py)
must build the same scenes the same way, and only a known transform tells how far an alignment
is off. A face picture with its label map (a built-in sample, or any portrait) is rotated,
scaled and moved onto a larger canvas; the eye and mouth centres of its label map
(:func:`mgpe_core.faces.framing.mask_points`) go through the same transform. Numpy + PIL only.
"""

from __future__ import annotations

import math

import numpy as np

from .framing import mask_points
from .warp import apply, warp_affine


def background(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A face-free (H, W, 3) uint8 backdrop: a smooth two-colour gradient with mild noise."""
    rng = np.random.default_rng(seed)
    h, w = hw
    a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (np.linspace(0, 1, w, dtype=np.float32)[None, :] * 0.6
         + np.linspace(0, 1, h, dtype=np.float32)[:, None] * 0.4)
    out = a[None, None].astype(np.float32) * (1 - t[..., None]) + \
        b[None, None].astype(np.float32) * t[..., None]
    out += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def placement(src_size: int, centre: tuple[float, float], scale: float,
              angle_degrees: float) -> np.ndarray:
    """2x3 similarity: a ``src_size`` square picture scaled by ``scale``, turned by
    ``angle_degrees`` (counter-clockwise on screen) about its centre, its centre at ``centre``."""
    th = math.radians(-angle_degrees)  # image y points down: negate for on-screen CCW
    c, s = scale * math.cos(th), scale * math.sin(th)
    rot = np.array([[c, -s], [s, c]])
    t = np.asarray(centre, dtype=np.float64) - rot @ np.array([src_size / 2, src_size / 2])
    return np.hstack([rot, t[:, None]])


def place_face(canvas: np.ndarray, face: np.ndarray, labels: np.ndarray,
               centre: tuple[float, float], scale: float, angle_degrees: float) -> np.ndarray:
    """Paint ``face`` (a square picture with its celebamask-19 ``labels``) onto ``canvas`` in
    place (bicubic, antialiased, edges blended); returns its true points (3, 2) in canvas
    pixels: image-left eye, image-right eye, mouth-corner midpoint."""
    n = face.shape[0]
    m = placement(n, centre, scale, angle_degrees)
    h, w = canvas.shape[:2]
    pixels = warp_affine(face, m, (h, w), pad="edge")
    cover = warp_affine(np.ones((n, n), np.float32), m, (h, w), pad="zero")[..., None]
    inside = cover[..., 0] > 0
    mixed = cover[inside] * pixels[inside] + (1 - cover[inside]) * canvas[inside]
    canvas[inside] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return apply(m, mask_points(labels))


def eye_error_after_alignment(true_points: np.ndarray, aligned, framing) -> np.ndarray:
    """How far the true eye centres land from where they should, in % of the eye distance.

    The reference is the alignment the true points themselves give (same framing and size):
    the detected face's alignment maps the true eyes to ``matrix @ true``, the ideal one to
    ``ideal @ true``; the distance between the two, over the ideal crop's eye distance.
    Returns the two eyes' errors."""
    from .align import similarity_transform

    ideal = similarity_transform(true_points, framing.points(aligned.size))
    got, want = apply(aligned.matrix, true_points[:2]), apply(ideal, true_points[:2])
    d = float(np.hypot(*(want[1] - want[0])))
    return np.hypot(*(got - want).T) / d * 100.0
