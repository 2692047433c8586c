"""Find the faces of a photo: boxes, scores, the 478-point face mesh, eye and mouth centres.

Why two MediaPipe models: the face *detector* (BlazeFace full-range, ``model_selection=1``)
finds faces of any size and roll in the whole photo, but gives only six coarse key points; the
*face mesh* with iris refinement (``refine_landmarks=True``, 478 points) gives the eye centres
to a fraction of a pixel, but its own detector only finds large, near-frontal faces. So the
detector runs once on the photo, and the mesh runs once per detected face, on a crop made
upright by the detector's eye key points (twice the box, 384 px); the mesh that overlaps the
detection's box most is kept (intersection over union >= 0.3), mapped back to photo pixels.
A face whose mesh fails keeps the detector's key points (``landmarks`` is None) if the
detector is sure of it (score >= 0.8), and is dropped otherwise.

Small faces: the detector squeezes whatever it is given into 192x192 px, so in one pass it
finds faces down to about 8 % of the picture's longer side. ``tiles`` levels of overlapping
square tiles (each half the previous side, a quarter overlap) are searched too: one level (the
default, 7 detector passes on a 4:3 photo) reaches ~4 %, two ~2 %. Detections are merged
(overlapping boxes: the best score wins).

Speed: a photo whose longer side exceeds ``max_side`` (1280) is detected on a downscaled copy
(antialiased: box-reduced, then resized) and the boxes mapped back, so detection costs the same
for a 12 Mpx photo as for a 1280 px one; the mesh crops come from the full-resolution photo.
The models load once per process (about 0.1 s, plus ~0.6 s to import mediapipe) and are
reused; bench/README.md ("Real photos") has the per-stage times.

Everything is in photo pixels, continuous coordinates (pixel ``i`` spans ``[i, i + 1)``).
Needs the ``photos`` extra (``pip install 'mgpe[photos]'``); mediapipe is imported only when a
photo is searched.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError

#: Longer side of the copy the detector sees.
DETECT_MAX_SIDE = 1280
#: Side (px) of the upright crop the mesh runs on, and its size relative to the detector's box.
MESH_CROP = 384
MESH_CROP_FACTOR = 2.0
#: Mesh indices: iris centres (468: the subject's right eye, 473: the left) and mouth corners.
IRIS_CENTRES = (468, 473)
MOUTH_CORNERS = (61, 291)
MESH_POINTS = 478
#: With the mesh on, a detection whose crop yields no matching mesh is kept only from this
#: score up: the mesh's own detector and landmark model are a second opinion, and the
#: unconfirmed detections seen in tests were false ones (a space suit's folds, 0.65, found
#: in a tile). Without the mesh, the same bar applies to detections seen only in tiles.
UNCONFIRMED_MIN_SCORE = 0.8

INSTALL_HINT = "finding faces in a photo needs the photos extra: pip install 'mgpe[photos]'"


class MissingExtra(UsageError):
    """An optional dependency (an extra of the mgpe package) is not installed."""


@dataclass(frozen=True, eq=False)
class Face:
    """One face of a photo, in photo pixels.

    ``box``: (x0, y0, x1, y1) of the detector, clipped to the photo; ``score``: its confidence
    (0..1); ``eyes``: (2, 2), row 0 the image-left eye, row 1 the image-right eye (decided by
    geometry: left of the face's vertical axis, which runs from the eye midpoint to the mouth),
    iris centres from the mesh; ``mouth``: (2,), the midpoint of the mouth corners;
    ``landmarks``: (478, 2) mesh points, or None when the mesh failed and eyes and mouth are the
    detector's key points."""

    box: tuple[float, float, float, float]
    score: float
    eyes: np.ndarray
    mouth: np.ndarray
    landmarks: np.ndarray | None = None

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(*(self.eyes[1] - self.eyes[0])))

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    @property
    def roll_degrees(self) -> float:
        """Angle of the eye line (image-left to image-right eye) from horizontal; positive:
        the image-right eye is lower (the head tilts clockwise on screen)."""
        d = self.eyes[1] - self.eyes[0]
        return float(np.degrees(np.arctan2(d[1], d[0])))

    def to_dict(self) -> dict:
        """JSON-ready description (pixels rounded to 0.1)."""
        r = lambda v: round(float(v), 1)  # noqa: E731
        return {
            "box": [r(v) for v in self.box],
            "score": round(float(self.score), 3),
            "eyes": [[r(v) for v in p] for p in self.eyes],
            "mouth": [r(v) for v in self.mouth],
            "eye_distance": r(self.eye_distance),
            "roll_degrees": r(self.roll_degrees),
            "mesh": self.landmarks is not None,
        }


def order_eyes(a, b, mouth) -> np.ndarray:
    """(2, 2): the two eye points, image-left first, whatever the face's roll: an eye is the
    image-left one when it lies left of the face's vertical axis (eye midpoint -> mouth)."""
    a, b, mouth = (np.asarray(p, dtype=np.float64) for p in (a, b, mouth))
    mid = (a + b) / 2
    down = mouth - mid
    right = np.array([down[1], -down[0]])  # "down" turned a quarter: the face's right-hand side
    return np.stack([a, b] if float((a - mid) @ right) <= 0 else [b, a])


# -- MediaPipe, loaded once -----------------------------------------------------------------------

_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}


def _mediapipe():
    try:
        with _quiet():
            import mediapipe as mp
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None
    if not hasattr(mp, "solutions"):
        raise MissingExtra(f"mediapipe {getattr(mp, '__version__', '?')} lacks the "
                           f"'solutions' API mgpe uses; {INSTALL_HINT} (mediapipe==0.10.14)")
    return mp


def _model(name: str):
    """The MediaPipe graph ``name`` ("detector", "mesh", "selfie"), built on first use."""
    with _LOCK:
        if name not in _MODELS:
            mp = _mediapipe()
            with _quiet():
                if name == "detector":
                    model = mp.solutions.face_detection.FaceDetection(
                        model_selection=1, min_detection_confidence=0.5)
                elif name == "mesh":
                    model = mp.solutions.face_mesh.FaceMesh(
                        static_image_mode=True, refine_landmarks=True, max_num_faces=2,
                        min_detection_confidence=0.5)
                elif name == "selfie":
                    model = mp.solutions.selfie_segmentation.SelfieSegmentation(
                        model_selection=0)
                else:  # pragma: no cover - internal names only
                    raise ValueError(name)
            _MODELS[name] = model
        return _MODELS[name]


def run_model(name: str, rgb: np.ndarray):
    """``process`` of a MediaPipe graph on an RGB uint8 picture (serialised: graphs are not
    re-entrant), its native log lines silenced."""
    model = _model(name)
    with _LOCK, _quiet():
        return model.process(np.ascontiguousarray(rgb))


@contextlib.contextmanager
def _quiet():
    """Silence MediaPipe's native (C++/absl) log lines and protobuf's deprecation warning for
    the duration: they go straight to file descriptor 2 and would clutter every command's
    stderr. ``MGPE_MEDIAPIPE_LOGS=1`` keeps them (debugging)."""
    import warnings

    if os.environ.get("MGPE_MEDIAPIPE_LOGS"):
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no real stderr (embedded): nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


# -- the search ---------------------------------------------------------------------------------


def check_rgb(image) -> np.ndarray:
    """An (H, W, 3) uint8 picture (a gray (H, W) one is expanded), else a UsageError."""
    image = np.asarray(image)
    if image.ndim == 2 and image.dtype == np.uint8:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"expected an RGB picture (H, W, 3) uint8, got {image.shape} "
                         f"{image.dtype}")
    if min(image.shape[:2]) < 8:
        raise UsageError(f"picture too small to hold a face: {image.shape[1]}x{image.shape[0]}")
    return image


def downscaled(image: np.ndarray, max_side: int) -> np.ndarray:
    """The picture shrunk (antialiased) so that its longer side is at most ``max_side``."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(image)
    k = int(1.0 / scale)
    if k >= 2:  # exact k x k box averages first (4x faster than one antialiased resize)
        img = img.reduce(k)
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR))


def find_faces(image, max_side: int = DETECT_MAX_SIDE, min_score: float = 0.5,
               mesh: bool = True, tiles: int = 1) -> list[Face]:
    """The faces of an RGB uint8 photo, largest box first (index 0 = the largest).

    ``max_side``: the detector sees a copy at most this large (longer side); ``min_score``:
    the detector's confidence threshold; ``tiles``: how many levels of overlapping square tiles
    (each half the previous side) are searched besides the whole picture (0: the whole picture
    only, faces down to ~8 % of the longer side; 1: also halves, ~4 %; 2: quarters, ~2 %);
    ``mesh=False`` skips the face mesh (eyes and mouth from the detector's key points: faster,
    coarser). Raises :class:`MissingExtra` without mediapipe."""
    image = check_rgb(image)
    h, w = image.shape[:2]
    _mediapipe()
    small = downscaled(image, max_side)
    sh, sw = small.shape[:2]
    found: list[tuple[Face, bool]] = []  # (face, seen only in a tile)
    for (tx, ty, side) in detection_windows(sw, sh, tiles):
        part = small[ty:ty + side, tx:tx + side] if side else small
        result = run_model("detector", part)
        ph, pw = part.shape[:2]
        for det in result.detections or []:
            score = float(det.score[0]) if det.score else 0.0
            if score < min_score:
                continue
            # part-relative -> photo pixels
            face = _from_detection(det, score, pw * w / sw, ph * h / sh, tx * w / sw,
                                   ty * h / sh, w, h)
            if face is not None:
                found.append((face, bool(side)))
    faces = []
    for face, tiled in _suppress_duplicates(found):
        if mesh:  # the mesh confirms a face: an unconfirmed, uncertain detection is dropped
            face = _with_mesh(image, face)
            if face.landmarks is None and face.score < UNCONFIRMED_MIN_SCORE:
                continue
        elif tiled and face.score < UNCONFIRMED_MIN_SCORE:
            continue  # a tile sees less context: without the mesh, only sure detections
        faces.append(face)
    faces.sort(key=lambda f: -f.area)
    return faces


def detection_windows(w: int, h: int, tiles: int) -> list[tuple[int, int, int]]:
    """(x, y, side) squares the detector searches in a (w, h) picture: (0, 0, 0) for the whole
    picture, then per level overlapping squares of half the previous side (a quarter overlap,
    the last one flush with the border), while they stay at least 160 px."""
    out = [(0, 0, 0)]
    side = max(w, h)
    for _ in range(max(0, int(tiles))):
        side = (side + 1) // 2
        if side < 160 or side >= min(w, h) and max(w, h) <= side:
            break
        stride = max(1, (3 * side) // 4)
        xs = _starts(w, side, stride)
        ys = _starts(h, side, stride)
        out += [(x, y, side) for y in ys for x in xs]
    return out


def _starts(n: int, side: int, stride: int) -> list[int]:
    if n <= side:
        return [0]
    starts = list(range(0, n - side, stride))
    return starts + [n - side]


def _from_detection(det, score: float, pw: float, ph: float, ox: float, oy: float,
                    w: int, h: int) -> Face | None:
    """A Face from a detection in a part of the photo (size pw x ph, origin ox, oy, in photo
    pixels): box and the detector's eye and mouth key points (relative coordinates)."""
    loc = det.location_data
    bb = loc.relative_bounding_box
    x0, y0 = ox + bb.xmin * pw, oy + bb.ymin * ph
    x1, y1 = x0 + bb.width * pw, y0 + bb.height * ph
    box = (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return None
    kp = [(ox + p.x * pw, oy + p.y * ph) for p in loc.relative_keypoints]
    if len(kp) < 4:
        return None
    eyes = order_eyes(kp[0], kp[1], kp[3])
    return Face(box, score, eyes, np.asarray(kp[3], dtype=np.float64), None)


def _mesh_crop_matrix(face: Face) -> np.ndarray:
    """Photo -> upright mesh-crop similarity: the box's centre to the crop's centre, the eye line
    horizontal, twice the box's longer side to MESH_CROP px."""
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = MESH_CROP_FACTOR * max(x1 - x0, y1 - y0)
    s = MESH_CROP / side
    d = face.eyes[1] - face.eyes[0]
    theta = -math.atan2(d[1], d[0])
    c, sn = s * math.cos(theta), s * math.sin(theta)
    rot = np.array([[c, -sn], [sn, c]])
    t = np.array([MESH_CROP / 2, MESH_CROP / 2]) - rot @ np.array([cx, cy])
    return np.hstack([rot, t[:, None]])


def _with_mesh(image: np.ndarray, face: Face) -> Face:
    """The face with its mesh (eyes from the irises, mouth from the corners), or unchanged when
    no mesh in the upright crop overlaps the detection enough."""
    from .warp import apply, invert, warp_affine

    m = _mesh_crop_matrix(face)
    crop = warp_affine(image, m, (MESH_CROP, MESH_CROP), pad="edge")
    result = run_model("mesh", crop)
    if not result.multi_face_landmarks:
        return face
    x0, y0, x1, y1 = face.box
    box_pts = apply(m, [(x0, y0), (x1, y0), (x0, y1), (x1, y1)])
    det_box = (*box_pts.min(0), *box_pts.max(0))
    best, best_iou = None, 0.3
    for lms in result.multi_face_landmarks:
        pts = np.array([(p.x, p.y) for p in lms.landmark], dtype=np.float64) * MESH_CROP
        if len(pts) < MESH_POINTS:
            continue
        iou = box_iou(det_box, (*pts.min(0), *pts.max(0)))
        if iou >= best_iou:
            best, best_iou = pts, iou
    if best is None:
        return face
    pts = apply(invert(m), best)
    mouth = (pts[MOUTH_CORNERS[0]] + pts[MOUTH_CORNERS[1]]) / 2
    eyes = order_eyes(pts[IRIS_CENTRES[0]], pts[IRIS_CENTRES[1]], mouth)
    return Face(face.box, face.score, eyes, mouth, pts)


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _suppress_duplicates(found: list[tuple[Face, bool]], iou: float = 0.4,
                         cover: float = 0.7) -> list[tuple[Face, bool]]:
    """Keep the best-scoring face of any group of overlapping boxes: intersection over union
    above ``iou``, or above ``cover`` of the smaller box (a face cut by a tile's border inside
    the whole face's box). A face seen in the whole picture counts as such (not tile-only)."""
    kept: list[list] = []
    for face, tiled in sorted(found, key=lambda ft: -ft[0].score):
        for k in kept:
            if box_iou(face.box, k[0].box) > iou or box_cover(face.box, k[0].box) > cover:
                k[1] = k[1] and tiled
                break
        else:
            kept.append([face, tiled])
    return [(f, t) for f, t in kept]


def box_cover(a, b) -> float:
    """Intersection of two boxes over the smaller one's area."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 0.0
