"""A coarse face-parsing label map from the face mesh and a person segmentation.

Why: a model's U-Net parser was trained on its own data (mgpe-synth for the built-in models) and
labels real photos poorly; the face mesh, trained on real faces, outlines the face's parts on any
photo. This parser paints them, by class *name* in the schema asked for:

- skin: inside the face oval (``FACEMESH_FACE_OVAL``), plus the forehead above it that the
  mesh does not cover: person pixels above the eyes, within half a face width of the face's
  axis, whose colour lies within 2 Mahalanobis units of the oval's colours (opened by 1 % of
  the face width against hair strands);
- brows: between the upper and lower brow lines (``FACEMESH_*_EYEBROW``);
- eyes: inside the eyelid contours (``FACEMESH_*_EYE``);
- nose: the convex hull of ``FACEMESH_NOSE`` (bridge from between the eyes to the nostrils);
- upper / lower lip: between the outer and the inner lip contour (``FACEMESH_LIPS``), above /
  below the mouth corners; inner mouth: inside the inner contour, unless the mouth is closed
  (the inner contours less than 1 px apart on average);
- hair: the person (MediaPipe selfie segmentation, run on the face's surroundings) outside the
  face, above the level halfway between eyes and mouth and within 1.4 face widths of the face's
  axis (in the face's rolled frame): below that the person is neck and clothes, which the
  11-class schema calls background. Everything else is background.

Left and right come from geometry, not from MediaPipe's names (its ``LEFT_EYE`` is the subject's
left): an eye is image-left when it lies left of the face's vertical axis, and a schema whose
``sides`` is ``"subject"`` (celebamask-19) gets the other one as ``l_eye``.

It knows nothing of ears (beside the upper face they come out as hair), neck, glasses or hats.
Per-class IoU against the two real Helen pictures with real labels is in bench/README.md
("Real photos"): about 0.9 skin, 0.8 hair, eyes, nose and lips, 0.5 brows.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..errors import UsageError
from ..labels import LabelSchema, get_schema
from .detect import Face, check_rgb, downscaled, order_eyes, run_model

#: Mesh indices of the lip contours' corners and of a point on each arc (MediaPipe's topology).
OUTER_CORNERS, INNER_CORNERS = (61, 291), (78, 308)
OUTER_UPPER, OUTER_LOWER, INNER_UPPER, INNER_LOWER = 0, 17, 13, 14
HAIR_HALF_WIDTH = 1.4  # face widths beside the face's axis where hair is looked for
MIN_MOUTH_OPENING = 1.0  # px: mean gap between the inner lip contours below which no mouth
HAIR_BELOW_EYES = 0.5  # hair reaches down to this fraction of the eye -> mouth distance
HAIR_ABOVE = 1.5  # face widths above the eyes searched for hair
FOREHEAD_DISTANCE = 2.0  # colour distance (Mahalanobis) of forehead pixels to the face's skin


def _graph(edges) -> dict[int, list[int]]:
    g: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        g[a].append(b)
        g[b].append(a)
    return g


def _walks(edges) -> list[list[int]]:
    """The connected pieces of a connection set as ordered vertex lists: closed contours
    (every vertex of degree 2) from any vertex, open lines from one end."""
    g = _graph(edges)
    seen: set[int] = set()
    out = []
    ends = sorted(v for v, n in g.items() if len(n) == 1)
    for start in ends + sorted(g):
        if start in seen:
            continue
        walk, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in g[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            walk.append(cur)
            seen.add(cur)
        out.append(walk)
    return out


def _arc(cycle: list[int], a: int, b: int, through: int) -> list[int]:
    """The part of a closed contour from ``a`` to ``b`` that passes ``through``."""
    i = cycle.index(a)
    rolled = cycle[i:] + cycle[:i]
    j = rolled.index(b)
    forward = rolled[: j + 1]
    if through in forward:
        return forward
    return [a] + rolled[j:][::-1]


class MeshContours:
    """The polygons (mesh indices) of the parts, from MediaPipe's connection sets."""

    def __init__(self, fm) -> None:
        lips = _walks(fm.FACEMESH_LIPS)
        outer = next(c for c in lips if OUTER_CORNERS[0] in c)
        inner = next(c for c in lips if INNER_CORNERS[0] in c)
        self.oval = _walks(fm.FACEMESH_FACE_OVAL)[0]
        self.eyes = [_walks(fm.FACEMESH_LEFT_EYE)[0], _walks(fm.FACEMESH_RIGHT_EYE)[0]]
        self.brows = [self._band(fm.FACEMESH_LEFT_EYEBROW),
                      self._band(fm.FACEMESH_RIGHT_EYEBROW)]
        self.nose = sorted({i for e in fm.FACEMESH_NOSE for i in e})
        self.u_lip = _arc(outer, *OUTER_CORNERS, OUTER_UPPER) + \
            _arc(inner, *INNER_CORNERS, INNER_UPPER)[::-1]
        self.l_lip = _arc(outer, *OUTER_CORNERS, OUTER_LOWER) + \
            _arc(inner, *INNER_CORNERS, INNER_LOWER)[::-1]
        self.mouth = inner

    @staticmethod
    def _band(edges) -> tuple[list[int], list[int]]:
        """A brow's two open lines (upper and lower edge); :func:`band_polygon` closes them."""
        a, b = (w for w in _walks(edges) if len(w) > 1)
        return a, b


def band_polygon(pts: np.ndarray, lines: tuple[list[int], list[int]]) -> np.ndarray:
    """A closed polygon from two open lines: the second reversed when that makes the two
    closing edges shorter (the lines' ends paired by distance, not by index order)."""
    a, b = lines
    same = np.hypot(*(pts[a[-1]] - pts[b[-1]])) + np.hypot(*(pts[a[0]] - pts[b[0]]))
    cross = np.hypot(*(pts[a[-1]] - pts[b[0]])) + np.hypot(*(pts[a[0]] - pts[b[-1]]))
    return pts[a + (b[::-1] if same <= cross else b)]


_CONTOURS: MeshContours | None = None


def contours() -> MeshContours:
    global _CONTOURS
    if _CONTOURS is None:
        from .detect import _mediapipe

        _CONTOURS = MeshContours(_mediapipe().solutions.face_mesh)
    return _CONTOURS


def person_mask(image: np.ndarray, max_side: int = 512) -> np.ndarray:
    """(H, W) bool: where MediaPipe's selfie segmentation sees a person (probability > 0.5),
    run on a copy of at most ``max_side`` px and scaled back."""
    from PIL import Image

    small = downscaled(image, max_side)
    prob = run_model("selfie", small).segmentation_mask
    prob = np.asarray(prob, dtype=np.float32)
    h, w = image.shape[:2]
    if prob.shape != (h, w):
        prob = np.asarray(Image.fromarray(prob).resize((w, h), Image.Resampling.BILINEAR))
    return prob > 0.5


class _FaceFrame:
    """The face's own (rolled) frame: origin at the eye midpoint, ``v`` along the eye -> mouth
    direction, ``u`` to the image-right of it; the face oval's width and chin depth."""

    def __init__(self, face: Face, oval: np.ndarray) -> None:
        self.mid = face.eyes.mean(0)
        down = face.mouth - self.mid
        self.mouth = float(np.hypot(*down))
        self.down = down / max(self.mouth, 1e-9)
        self.right = np.array([self.down[1], -self.down[0]])
        rel = oval - self.mid
        self.width = float((rel @ self.right).max() - (rel @ self.right).min())
        self.chin = float((rel @ self.down).max())

    def corners(self, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
        uv = np.array([(u0, v0), (u1, v0), (u0, v1), (u1, v1)])
        return self.mid + uv[:, :1] * self.right + uv[:, 1:] * self.down

    def uv(self, x0: int, y0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """u and v of the pixel centres of the box (x0, y0, w, h)."""
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        xx += x0 + 0.5 - self.mid[0]
        yy += y0 + 0.5 - self.mid[1]
        return xx * self.right[0] + yy * self.right[1], xx * self.down[0] + yy * self.down[1]


def parse_landmarks(image, face: Face, schema: str | LabelSchema = "mgpe-11",
                    person: np.ndarray | None = None) -> np.ndarray:
    """(H, W) uint8 label map of ``image`` in ``schema`` for ``face`` (which needs its mesh:
    :func:`~.detect.find_faces` with ``mesh=True``). ``person``: an (H, W) person mask to use
    instead of running the selfie segmentation on the face's surroundings.

    Only the face's surroundings (HAIR_HALF_WIDTH face widths beside it, one and a half above
    the eyes) are computed; the rest of the map is background."""
    image = check_rgb(image)
    schema = get_schema(schema)
    if face.landmarks is None:
        raise UsageError("parse_landmarks needs the face's mesh (find_faces(..., mesh=True); "
                         "this face has only the detector's key points)")
    c = contours()
    h, w = image.shape[:2]
    frame = _FaceFrame(face, np.asarray(face.landmarks)[c.oval])
    half = HAIR_HALF_WIDTH * frame.width
    corners = frame.corners(-half, half, -HAIR_ABOVE * frame.width, frame.chin)
    x0, y0 = (max(0, int(np.floor(v))) for v in corners.min(0))
    x1, y1 = min(w, int(np.ceil(corners[:, 0].max()))), min(h, int(np.ceil(corners[:, 1].max())))
    out = np.zeros((h, w), dtype=np.uint8)
    if x0 >= x1 or y0 >= y1:
        return out
    box = np.ascontiguousarray(image[y0:y1, x0:x1])
    pts = np.asarray(face.landmarks, dtype=np.float64) - (x0, y0)
    if person is not None:
        person = np.asarray(person, dtype=bool)[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = _parse_box(box, pts, face, frame, (x0, y0), schema, c, person)
    return out


def _parse_box(box: np.ndarray, pts: np.ndarray, face: Face, frame: _FaceFrame, origin,
               schema: LabelSchema, c: MeshContours, person) -> np.ndarray:
    """The label map of the face's surroundings ``box`` (landmarks ``pts`` in its pixels)."""
    from PIL import Image, ImageDraw

    from ..morphology import dilate, erode

    h, w = box.shape[:2]
    pil_pts = pts - 0.5  # continuous coordinates -> PIL's pixel-centre coordinates
    labels = np.zeros((h, w), dtype=np.uint8)
    oval = _fill(pil_pts[c.oval], (h, w))
    names = set(schema.classes)
    u, v = frame.uv(origin[0], origin[1], h, w)
    if "hair" in names:
        if person is None:
            person = person_mask(box)
        zone = (v < HAIR_BELOW_EYES * frame.mouth) & (np.abs(u) < HAIR_HALF_WIDTH * frame.width)
        labels[person & zone & ~oval] = schema.index("hair")
    if "skin" in names:
        skin = oval.copy()
        if "hair" in names:  # the forehead above the mesh's oval: skin-coloured person pixels
            forehead = (labels == schema.index("hair")) & (v < 0) & \
                (np.abs(u) < 0.5 * frame.width) & _skin_like(box, oval, FOREHEAD_DISTANCE)
            r = max(1, round(0.01 * frame.width))
            forehead &= dilate(erode(forehead, r), r)
            skin |= _connected_to(forehead, oval, frame.width)
        labels[skin] = schema.index("skin")
    canvas = Image.fromarray(labels)
    draw = ImageDraw.Draw(canvas)
    image_side = {"image": ("l_", "r_"), "subject": ("r_", "l_")}[getattr(schema, "sides",
                                                                          "image")]

    def paint(name: str, polygon) -> None:
        if name in names and len(polygon) >= 3:
            draw.polygon([tuple(p) for p in polygon], fill=schema.index(name))

    paint("nose", _hull(pil_pts[c.nose]))
    parts = {"brow": [band_polygon(pil_pts, lines) for lines in c.brows],
             "eye": [pil_pts[ring] for ring in c.eyes]}
    for name, polys in parts.items():
        centres = [p.mean(0) for p in polys]
        first_is_left = np.allclose(order_eyes(centres[0], centres[1], face.mouth - origin)[0],
                                    centres[0])
        left, right = polys if first_is_left else polys[::-1]  # by geometry
        paint(image_side[0] + name, left)
        paint(image_side[1] + name, right)
    paint("u_lip", pil_pts[c.u_lip])
    paint("l_lip", pil_pts[c.l_lip])
    inner = pil_pts[c.mouth]
    corners = pil_pts[list(INNER_CORNERS)]
    opening = _area(inner) / max(float(np.hypot(*(corners[1] - corners[0]))), 1e-9)
    if opening >= MIN_MOUTH_OPENING:  # a closed mouth's inner contour encloses nothing
        paint("mouth", inner)
    return np.asarray(canvas, dtype=np.uint8)


def _connected_to(mask: np.ndarray, seed: np.ndarray, face_width: float) -> np.ndarray:
    """The parts of ``mask`` connected to ``seed`` (8-neighbours; geodesic reconstruction by
    repeated dilation), worked out on a grid where the face is at most ~160 px wide: skin-
    coloured strands in the hair, not touching the face, stay hair."""
    from PIL import Image

    from ..morphology import dilate

    h, w = mask.shape
    f = max(1, int(face_width // 160))
    small_mask, small_seed = mask[::f, ::f], seed[::f, ::f]
    grown = small_seed & ~small_mask
    grown = dilate(grown, 1) & small_mask
    for _ in range(400):
        nxt = dilate(grown, 2) & small_mask
        if np.array_equal(nxt, grown):
            break
        grown = nxt
    if f > 1:
        up = Image.fromarray(grown.astype(np.uint8) * 255).resize(
            (grown.shape[1] * f, grown.shape[0] * f), Image.Resampling.NEAREST)
        grown = dilate(np.asarray(up)[:h, :w] > 0, f)  # cover the grid's gaps; mask trims
    return grown & mask


def _fill(polygon: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the polygon (PIL pixel-centre coordinates) filled."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (hw[1], hw[0]), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in polygon], fill=1)
    return np.asarray(img, dtype=bool)


def _skin_like(box: np.ndarray, oval: np.ndarray, limit: float) -> np.ndarray:
    """(H, W) bool: pixels whose colour lies within ``limit`` Mahalanobis units of the colours
    inside the face oval (mean and covariance of its RGB, a little regularised)."""
    px = box[oval].astype(np.float64)
    if len(px) < 16:
        return np.zeros(box.shape[:2], dtype=bool)
    mu = px.mean(0)
    inv = np.linalg.inv(np.cov(px.T) + np.eye(3) * 4.0)
    d = box.reshape(-1, 3).astype(np.float64) - mu
    dist2 = np.einsum("ij,jk,ik->i", d, inv, d)
    return (dist2 < limit * limit).reshape(box.shape[:2])


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(x @ np.roll(y, 1) - y @ np.roll(x, 1)))


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain) of (N, 2) points, as a polygon."""
    p = sorted(map(tuple, points))
    if len(p) < 3:
        return np.asarray(p)

    def half(seq):
        out: list = []
        for q in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (q[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (q[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(q)
        return out

    lower, upper = half(p), half(p[::-1])
    return np.asarray(lower[:-1] + upper[:-1])
