"""Align a face of a photo to a model's framing: the similarity transform and the square crop.

Why a similarity (rotation, uniform scale, translation) and not a full affine: the model was
trained on undistorted faces; a similarity keeps the face's proportions and only rolls, scales
and moves it. It is fitted by least squares (Umeyama 1991, reflections excluded) on three
points: the two eye centres and the mouth centre of the photo onto the framing's. Three points
over-determine the four unknowns, so a face whose proportions differ from the framing's keeps
its proportions and the error is shared between eyes and mouth.

The crop is read through :func:`mgpe_core.faces.warp.warp_affine`: only the face's footprint in
the photo is touched, it is box-reduced first when the face is much larger than the crop
(antialiasing), and pixels beyond the photo are padded (``reflect`` by default) and flagged in
:attr:`Aligned.outside`, so a face at the border still gets a full crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .framing import Framing, get_framing
from .warp import PADS, apply, invert, warp_affine


@dataclass(frozen=True, eq=False)
class Aligned:
    """A face brought to a model's framing.

    ``image``: the (size, size, 3) uint8 crop; ``matrix``: 2x3, photo -> crop coordinates;
    ``inverse``: crop -> photo; ``outside``: (size, size) bool, the crop pixels whose centre
    lies beyond the photo (padding); ``photo_hw``: the photo's (height, width);
    ``residual``: RMS distance (crop px) between the face's three points after the transform
    and the framing's (how far the face's proportions are from the framing's)."""

    image: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray
    outside: np.ndarray
    size: int
    photo_hw: tuple[int, int]
    framing: Framing
    residual: float

    @property
    def scale(self) -> float:
        """Crop px per photo px."""
        return float(np.hypot(*self.matrix[:, 0]))

    @property
    def rotation_degrees(self) -> float:
        """Rotation of the photo -> crop map, degrees, in image coordinates (y down): positive
        turns +x toward +y, i.e. clockwise on screen."""
        return float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))

    def to_crop(self, points) -> np.ndarray:
        """Photo (x, y) points -> crop coordinates."""
        return apply(self.matrix, points)

    def to_photo(self, points) -> np.ndarray:
        """Crop (x, y) points -> photo coordinates."""
        return apply(self.inverse, points)


def similarity_transform(src, dst) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation; no reflection) that maps the
    (N, 2) points ``src`` onto ``dst`` with the least squared error (Umeyama)."""
    p = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    q = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if len(p) != len(q) or len(p) < 2:
        raise UsageError("similarity_transform: needs two equal lists of at least 2 points")
    mp, mq = p.mean(0), q.mean(0)
    pc, qc = p - mp, q - mq
    var = float((pc ** 2).sum()) / len(p)
    if var <= 1e-12:
        raise UsageError("similarity_transform: the source points coincide")
    cov = qc.T @ pc / len(p)
    u, s, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(s) @ d)) / var
    t = mq - scale * rot @ mp
    return np.hstack([scale * rot, t[:, None]])


def face_points(face) -> np.ndarray:
    """(3, 2): image-left eye, image-right eye, mouth of a :class:`~.detect.Face` (or anything
    with ``eyes`` (2, 2) and ``mouth`` (2,))."""
    try:
        eyes = np.asarray(face.eyes, dtype=np.float64).reshape(2, 2)
        mouth = np.asarray(face.mouth, dtype=np.float64).reshape(2)
    except (AttributeError, ValueError) as e:
        raise UsageError(f"align: expected a face with eyes (2 points) and a mouth: {e}") \
            from None
    return np.vstack([eyes, mouth[None]])


def alignment_matrix(face, size: int, framing: Framing | str | dict) -> np.ndarray:
    """The 2x3 photo -> crop similarity that puts ``face``'s eyes and mouth on ``framing``'s in
    a ``size`` px square."""
    framing = get_framing(framing)
    return similarity_transform(face_points(face), framing.points(size))


def align_face(image: np.ndarray, face, size: int, framing: Framing | str | dict,
               pad: str = "reflect") -> Aligned:
    """The ``size`` x ``size`` crop of ``image`` (H, W, 3) uint8 with ``face`` at ``framing``.

    Bicubic, from a box-reduced copy when the face is more than twice the crop's scale;
    ``pad`` (reflect, edge, zero) fills what lies beyond the photo, and :attr:`Aligned.outside`
    marks it."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"align_face: expected an (H, W, 3) uint8 picture, got "
                         f"{image.shape} {image.dtype}")
    size = int(size)
    if size < 8:
        raise UsageError(f"align_face: size must be at least 8 px, got {size}")
    if pad not in PADS:
        raise UsageError(f"align_face: pad must be one of {', '.join(PADS)}, got {pad!r}")
    framing = get_framing(framing)
    matrix = alignment_matrix(face, size, framing)
    inverse = invert(matrix)
    crop = warp_affine(image, matrix, (size, size), pad=pad)
    h, w = image.shape[:2]
    c = np.arange(size) + 0.5
    xx, yy = np.meshgrid(c, c)
    px = inverse[0, 0] * xx + inverse[0, 1] * yy + inverse[0, 2]
    py = inverse[1, 0] * xx + inverse[1, 1] * yy + inverse[1, 2]
    outside = (px < 0) | (px >= w) | (py < 0) | (py >= h)
    moved = apply(matrix, face_points(face))
    residual = float(np.sqrt(((moved - np.asarray(framing.points(size))) ** 2).sum(1).mean()))
    return Aligned(crop, matrix, inverse, outside, size, (h, w), framing, residual)
