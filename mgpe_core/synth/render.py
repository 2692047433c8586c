"""Procedural portrait renderer: a face picture and its exact CelebAMask-HQ part masks.

How it works
------------
All geometry lives in *face coordinates*: units of the image side, origin at the image centre,
x to the image right, y down, before the pose (shift, scale, in-plane rotation) is applied. Each
pixel centre is mapped back into face coordinates once (``_Canvas.U``/``V``), so any output size
gives the same picture at another resolution.

Every shape is an implicit function ``f`` (negative inside) evaluated only inside the shape's
bounding box. Its anti-aliased *coverage* is ``clip(0.5 - f / |grad f|, 0, 1)`` with the gradient
taken in pixels (or ``0.5 - d / pixel`` for true distances), so edges are smooth at any size.

Shapes are composited in painter's order (background, back hair, neck, clothes, ears, face,
earrings, nose, eyes, brows, lips, front hair, glasses). Labelled shapes are *layers*; colour
details (iris, beard, nostrils, shading...) paint inside a layer without a label of their own.

Labels: a layer's binary mask is ``coverage >= 0.5``. The saved part mask of a layer is that mask
minus the pixels covered by *opaque* layers drawn above it with a lower CelebAMask-HQ id (a higher
id overwrites it in the merge anyway). Merging the parts in CelebAMask-HQ order then gives, at
every pixel, the label of the top visible layer (see :func:`render_scene`, whose ``top`` is that
painter's-order answer computed separately). Glasses lenses are *clear*: through them one sees
eyes, brows or hair (later classes in the merge), while skin behind a lens is labelled eye_g, as in
CelebAMask-HQ's annotations.

Numpy only, float32, no Python loops over pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..labels import CELEBAMASK_CLASSES

_ID = {name: i for i, name in enumerate(CELEBAMASK_CLASSES)}
F32 = np.float32
_NOISE_EXTENT = 1.0  # noise grids span face coordinates [-1, 1]


@dataclass
class Scene:
    """A rendered face: ``image`` (H, W, 3) uint8, ``parts`` name -> bool (H, W), and ``top``
    (H, W) uint8, the CelebAMask-HQ id of the top visible layer at each pixel."""

    image: np.ndarray
    parts: dict[str, np.ndarray]
    top: np.ndarray


def _ss(e0: float, e1: float, x):
    """Smoothstep from 0 at ``e0`` to 1 at ``e1``."""
    t = np.clip((x - e0) * (1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _ellipse_d(u, v, cx, cy, a, b):
    """Approximate signed distance to an axis-aligned ellipse (exact on the axes)."""
    x = (u - cx) * (1.0 / a)
    y = (v - cy) * (1.0 / b)
    k0 = np.sqrt(x * x + y * y)
    k1 = np.sqrt(x * x * (1.0 / (a * a)) + y * y * (1.0 / (b * b)))
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)


def _segment_d(u, v, x0, y0, x1, y1):
    """Distance to the segment (x0, y0)-(x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((u - x0) * dx + (v - y0) * dy) * (1.0 / (dx * dx + dy * dy)), 0.0, 1.0)
    px = u - x0 - t * dx
    py = v - y0 - t * dy
    return np.sqrt(px * px + py * py)


def _round_box_d(u, v, cx, cy, hw, hh, r):
    """Signed distance to a rounded rectangle of half sizes (hw, hh) and corner radius r."""
    qx = np.abs(u - cx) - (hw - r)
    qy = np.abs(v - cy) - (hh - r)
    ox = np.maximum(qx, 0.0)
    oy = np.maximum(qy, 0.0)
    return np.sqrt(ox * ox + oy * oy) + np.minimum(np.maximum(qx, qy), 0.0) - r


def _pos(x):
    return np.maximum(x, 0.0)


def _noise_sample(grid: np.ndarray, u, v, smooth: bool = False):
    """Bilinear (or smoothstep-weighted) lookup of a square noise grid over face coordinates."""
    n = grid.shape[0]
    k = (n - 1) / (2 * _NOISE_EXTENT)
    fx = np.clip((u + _NOISE_EXTENT) * k, 0, n - 1.001)
    fy = np.clip((v + _NOISE_EXTENT) * k, 0, n - 1.001)
    ix = fx.astype(np.int32)
    iy = fy.astype(np.int32)
    tx = fx - ix
    ty = fy - iy
    if smooth:
        tx = tx * tx * (3 - 2 * tx)
        ty = ty * ty * (3 - 2 * ty)
    flat = grid.ravel()
    i00 = iy * n + ix
    a = flat[i00]
    b = flat[i00 + 1]
    c = flat[i00 + n]
    d = flat[i00 + n + 1]
    top = a + (b - a) * tx
    return top + (c + (d - c) * tx - top) * ty


def _interp1(arr: np.ndarray, x):
    """Periodic linear interpolation of a 1-D array at fractional indices ``x``."""
    n = arr.shape[0]
    i = np.floor(x)
    t = (x - i).astype(F32)
    i = i.astype(np.int64) % n
    a = arr[i]
    return a + (arr[(i + 1) % n] - a) * t


class _Canvas:
    """Face-coordinate grid, the colour buffer and the list of labelled layers."""

    def __init__(self, size: int, pose: dict):
        n = int(size)
        self.n = n
        self.s = float(pose["scale"])
        th = math.radians(float(pose["rotation"]))
        self.cos, self.sin = math.cos(th), math.sin(th)
        self.dx, self.dy = float(pose["shift_x"]), float(pose["shift_y"])
        c = (np.arange(n, dtype=np.float64) + 0.5) / n - 0.5
        px = (c - self.dx)[None, :]
        py = (c - self.dy)[:, None]
        self.U = ((self.cos * px + self.sin * py) / self.s).astype(F32)
        self.V = ((-self.sin * px + self.cos * py) / self.s).astype(F32)
        self.pix = 1.0 / (n * self.s)  # one pixel in face units
        self.img = np.zeros((n, n, 3), F32)
        self.layers: list[tuple[str, tuple[slice, slice], np.ndarray, bool]] = []

    # -- geometry helpers -------------------------------------------------------------------

    def region(self, x0: float, y0: float, x1: float, y1: float):
        """Pixel slices covering the face-coordinate box (with a margin), or None if off-image."""
        xs = np.array([x0, x1, x0, x1], dtype=np.float64)
        ys = np.array([y0, y0, y1, y1], dtype=np.float64)
        px = self.dx + self.s * (self.cos * xs - self.sin * ys)
        py = self.dy + self.s * (self.sin * xs + self.cos * ys)
        cols = (px + 0.5) * self.n - 0.5
        rows = (py + 0.5) * self.n - 0.5
        c0 = max(int(math.floor(cols.min())) - 2, 0)
        c1 = min(int(math.ceil(cols.max())) + 3, self.n)
        r0 = max(int(math.floor(rows.min())) - 2, 0)
        r1 = min(int(math.ceil(rows.max())) + 3, self.n)
        if c1 - c0 < 1 or r1 - r0 < 1:
            return None
        return (slice(r0, r1), slice(c0, c1))

    def uv(self, sl):
        return self.U[sl], self.V[sl]

    def cov(self, f: np.ndarray) -> np.ndarray:
        """Coverage of an implicit function (negative inside), anti-aliased by its pixel
        gradient."""
        if f.shape[0] < 2 or f.shape[1] < 2:
            return (f <= 0).astype(F32)
        gy, gx = np.gradient(f)
        g = np.sqrt(gx * gx + gy * gy)
        np.maximum(g, 1e-12, out=g)
        return np.clip(0.5 - f / g, 0.0, 1.0).astype(F32, copy=False)

    def cov_d(self, d: np.ndarray, soft: float = 0.0) -> np.ndarray:
        """Coverage of a signed distance in face units; ``soft`` widens the edge (face units)."""
        w = max(self.pix, soft)
        return np.clip(0.5 - d * (1.0 / w), 0.0, 1.0).astype(F32, copy=False)

    # -- painting ---------------------------------------------------------------------------

    def paint(self, sl, alpha: np.ndarray, colour) -> None:
        dst = self.img[sl]
        dst += (np.asarray(colour, dtype=F32) - dst) * alpha[..., None]

    def layer(self, name: str, sl, cov: np.ndarray, opaque: bool = True) -> None:
        self.layers.append((name, sl, cov >= 0.5, opaque))

    # -- labels -----------------------------------------------------------------------------

    def top_labels(self) -> np.ndarray:
        """Painter's order: the id of the top visible layer at each pixel (a clear lens shows
        what lies behind it if that comes later in the merge order)."""
        top = np.zeros((self.n, self.n), np.uint8)
        for name, sl, m, opaque in self.layers:
            k = _ID[name]
            t = top[sl]
            if opaque:
                t[m] = k
            else:
                t[m] = np.maximum(t[m], k)
        return top

    def part_masks(self) -> dict[str, np.ndarray]:
        """Each part: its layers' masks minus pixels of opaque layers above with a lower id."""
        min_above = np.full((self.n, self.n), 255, np.uint8)
        parts: dict[str, np.ndarray] = {}
        for name, sl, m, opaque in reversed(self.layers):
            k = _ID[name]
            mb = min_above[sl]
            visible = m & (mb >= k)
            if name not in parts:
                parts[name] = np.zeros((self.n, self.n), bool)
            parts[name][sl] |= visible
            if opaque:
                mb[m] = np.minimum(mb[m], k)
        return {name: parts[name] for name in CELEBAMASK_CLASSES if name in parts
                and parts[name].any()}


class _Lighting:
    """Directional light; ``shade(nx, ny)`` for a surface normal whose z is implied."""

    def __init__(self, lighting: dict, rotation_deg: float):
        # The light is fixed in the image; express its direction in face coordinates.
        phi = math.radians(float(lighting["angle"]) - rotation_deg)
        self.strength = float(lighting["strength"])
        lx, ly, lz = math.cos(phi) * 0.62, math.sin(phi) * 0.62, 0.78
        self.l = (lx, ly, lz)

    def shade(self, nx, ny):
        nz = np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.02, 1.0))
        ndl = np.maximum(nx * self.l[0] + ny * self.l[1] + nz * self.l[2], 0.0)
        return (1.0 + self.strength * (ndl - 0.72)).astype(F32, copy=False)


def _geometry(attrs: dict) -> dict:
    """Positions and sizes in face coordinates (CelebA-HQ-like: eyes at ~47% of the height,
    mouth at ~72%, chin at ~86%)."""
    sh = attrs["shape"]
    fa = 0.25 * sh["face_width"]
    es = sh["eye_size"]
    g = {
        "fa": fa, "fb": 0.315, "fcy": 0.045, "jaw": sh["jaw"],
        "ex": 0.118 * sh["eye_spacing"], "ey": -0.025, "ew": 0.042 * es,
        "eh_up": 0.0175 * es, "eh_lo": 0.011 * es, "iris_r": 0.0185 * es,
        "nw": 0.052 * sh["nose_width"], "nbot": -0.015 + 0.15 * sh["nose_length"],
        "my": 0.225, "mw": 0.092 * sh["mouth_width"], "lip": sh["lip_thickness"],
        "by": -0.083 + sh["brow_height"], "bt": 0.021 * sh["brow_thickness"],
        "hv": sh["hair_volume"], "part": sh["hair_part"],
    }
    g["ha"] = fa + 0.03 + g["hv"]
    g["hb"] = 0.375 + 0.5 * g["hv"]
    g["hcy"] = 0.02
    return g


def _face_f(g, u, v):
    t = np.clip((v - g["fcy"]) * (1.0 / g["fb"]), 0.0, 1.0)
    a = g["fa"] * (1.0 - g["jaw"] * t * t)
    x = u / a
    y = (v - g["fcy"]) * (1.0 / g["fb"])
    return x * x + y * y - 1.0


def _face_half_width(g, v):
    y = np.clip((v - g["fcy"]) / g["fb"], -1.0, 1.0)
    t = np.clip(y, 0.0, 1.0)
    return g["fa"] * (1.0 - g["jaw"] * t * t) * np.sqrt(np.maximum(1.0 - y * y, 0.0))


class _Textures:
    """Resolution-independent noise, all drawn from the face's texture seed."""

    def __init__(self, seed: int, cv: _Canvas):
        rng = np.random.default_rng(seed)
        self.coarse = rng.random((9, 9), dtype=F32)
        self.fine = rng.random((400, 400), dtype=F32)
        self.strands = rng.random(900, dtype=F32)
        self.clumps = rng.random(70, dtype=F32)
        self.edge = rng.random(160, dtype=F32)
        self.phase = [float(x) for x in rng.uniform(0, 2 * np.pi, 8)]
        self.low = _noise_sample(self.coarse, cv.U, cv.V, smooth=True)  # 0..1, smooth
        self.grain = _noise_sample(self.fine, cv.U, cv.V)  # 0..1, fine


def render_scene(attrs: dict, size: int) -> Scene:
    """Render a face and return the picture, its part masks and the painter's-order labels."""
    size = int(size)
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    cv = _Canvas(size, attrs["pose"])
    tex = _Textures(int(attrs["texture_seed"]), cv)
    light = _Lighting(attrs["lighting"], float(attrs["pose"]["rotation"]))
    g = _geometry(attrs)
    skin = np.asarray(attrs["skin_tone"], F32)
    hair_rgb = np.asarray(attrs["hair_color"], F32)
    style = attrs["hair_style"]

    _background(cv, attrs, tex)
    if style != "bald":
        _hair_back(cv, g, attrs, tex, light, hair_rgb)
    _neck(cv, g, skin, tex, light)
    _cloth(cv, g, attrs, tex, light)
    _ears(cv, g, skin, tex, light)
    _face(cv, g, attrs, skin, tex, light, hair_rgb)
    if attrs["earrings"]:
        _earrings(cv, g, attrs)
    _nose(cv, g, skin, tex, light)
    _eyes(cv, g, attrs, skin, light)
    _brows(cv, g, attrs, tex, hair_rgb)
    _mouth(cv, g, attrs, tex)
    if style != "bald":
        _hair_front(cv, g, attrs, tex, light, hair_rgb)
    if attrs["glasses"]:
        _glasses(cv, g, attrs)

    image = np.clip(cv.img + 0.5, 0, 255).astype(np.uint8)
    return Scene(image, cv.part_masks(), cv.top_labels())


def render_face(attrs: dict, size: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render ``attrs`` at ``size`` x ``size``: (RGB uint8 image, part name -> bool mask).

    Parts absent from the face (or too small to cover a pixel centre) are not in the dict.
    """
    scene = render_scene(attrs, size)
    return scene.image, scene.parts


# -- the layers, bottom to top ---------------------------------------------------------------


def _background(cv: _Canvas, attrs: dict, tex: _Textures) -> None:
    bg = attrs["background"]
    cols = [np.asarray(c, F32) for c in bg["colors"]]
    n = cv.n
    if bg["kind"] == "gradient" and len(cols) > 1:
        a = math.radians(float(bg["angle"]))
        c = (np.arange(n, dtype=F32) + 0.5) / n - 0.5
        t = np.clip(0.5 + math.cos(a) * c[None, :] + math.sin(a) * c[:, None], 0.0, 1.0)
        cv.img[:] = cols[0] + (cols[1] - cols[0]) * t[..., None]
    else:
        cv.img[:] = cols[0]
    cv.img *= (0.97 + 0.06 * tex.low)[..., None]


def _hair_colour(cv, sl, g, tex, light, hair_rgb, u, v):
    """Strand texture radiating from the crown, volume shading and a soft sheen."""
    cx, cy = g["part"], -0.34
    du, dv = u - cx, v - cy
    r = np.sqrt(du * du + dv * dv)
    theta = np.arctan2(dv, du) + 0.03 * np.sin(r * 28.0 + tex.phase[0])
    pos = (theta + np.pi) * (len(tex.strands) / (2 * np.pi))
    s1 = _interp1(tex.strands, pos)
    s2 = _interp1(tex.clumps, pos * (len(tex.clumps) / len(tex.strands)))
    grain = tex.grain[sl]
    bright = 1.0 + 0.3 * (s1 - 0.5) + 0.3 * (s2 - 0.5) + 0.1 * (grain - 0.5)
    nx = u * (1.0 / (g["ha"] * 1.2))
    ny = (v - g["hcy"]) * (1.0 / (g["hb"] * 1.5))
    shade = light.shade(nx, ny)
    sheen = 0.5 * np.exp(-(((r - 0.17) * (1.0 / 0.045)) ** 2)) * (0.4 + s1) * light.strength
    col = hair_rgb * (bright * shade)[..., None]
    col += (sheen[..., None] * (hair_rgb * 0.5 + 90.0)).astype(F32)
    col += ((s1 - 0.5) * 24.0)[..., None]
    return col


def _long_outline(g, v, tex):
    """Outer half-width of long hair below the crown: flares a little downwards, in waves."""
    return (g["ha"] + 0.008 + 0.05 * _ss(0.0, 0.45, v)
            + 0.01 * _ss(0.0, 0.15, v) * np.sin(v * 32.0 + tex.phase[4]))


def _hair_wave(tex, u):
    return 0.012 * np.sin(u * 45.0 + tex.phase[1]) + 0.008 * np.sin(u * 97.0 + tex.phase[2])


def _hair_back(cv, g, attrs, tex, light, hair_rgb) -> None:
    style = attrs["hair_style"]
    ha, hb, hcy = g["ha"], g["hb"], g["hcy"]
    ybot = {"short": 0.06, "bangs": 0.19, "long": 0.47}[style]
    x_out = ha + 0.06
    sl = cv.region(-x_out, hcy - hb - 0.01, x_out, ybot + 0.03)
    if sl is None:
        return
    u, v = cv.uv(sl)
    cap = _ellipse_d(u, v, 0.0, hcy, ha, hb)
    if style == "short":
        d = np.maximum(cap, v - (0.02 + 0.05 * _ss(0.0, ha, np.abs(u))))
    else:
        w = _long_outline(g, v, tex) if style == "long" else ha + 0.004 + 0.012 * _ss(0.0, 0.2, v)
        ends = v - (ybot + _hair_wave(tex, u) + (0.0 if style == "long" else -0.5 * u * u))
        drape = np.maximum(np.abs(u) - w, np.maximum(ends, (hcy - 0.05) - v))
        d = np.minimum(cap, drape)
    cov = cv.cov_d(d)
    col = _hair_colour(cv, sl, g, tex, light, hair_rgb, u, v)
    # Back hair is in the head's shadow, darkest right beside the face.
    near = _face_f(g, u, v) * (0.5 * g["fa"])
    col *= (0.72 + 0.2 * _ss(0.0, 0.05, near))[..., None]
    cv.paint(sl, cov, col)
    cv.layer("hair", sl, cov)


def _neck(cv, g, skin, tex, light) -> None:
    sl = cv.region(-0.2, 0.05, 0.2, 0.8)
    if sl is None:
        return
    u, v = cv.uv(sl)
    w = 0.12 + 0.6 * _pos(v - 0.35) ** 2
    d = np.maximum(np.abs(u) - w, 0.08 - v)
    cov = cv.cov_d(d)
    shade = light.shade(u * (1.0 / 0.17), np.zeros_like(u))
    # Shadow under the jaw: darker just below the face outline.
    below = _face_f(g, u, v) * (0.5 * g["fa"])
    jaw_shadow = 0.6 + 0.4 * _ss(0.0, 0.06, below)
    k = (shade * jaw_shadow * 0.88) * (0.97 + 0.06 * tex.low[sl] + 0.04 * (tex.grain[sl] - 0.5))
    cv.paint(sl, cov, skin * k[..., None])
    cv.layer("neck", sl, cov)


def _cloth(cv, g, attrs, tex, light) -> None:
    sl = cv.region(-1.0, 0.3, 1.0, 1.0)
    if sl is None:
        return
    u, v = cv.uv(sl)
    t = _pos(np.abs(u) - 0.13)
    shoulder = 0.405 + 0.2 * t * t / (t + 0.05)
    d = shoulder - v
    if attrs["neckline"] == "round":
        neck = _ellipse_d(u, v, 0.0, 0.395, 0.11, 0.065)
    else:
        neck = np.maximum(np.abs(u) - 0.114 * np.clip((0.53 - v) / 0.13, 0, 1), v - 0.53)
        neck = np.maximum(neck, 0.39 - v)
    d = np.maximum(d, -neck)
    cov = cv.cov_d(d)
    base = np.asarray(attrs["cloth_color"], F32)
    shade = light.shade(u * (1.0 / 0.6), np.zeros_like(u))
    folds = 0.9 + 0.2 * tex.low[sl] + 0.05 * (tex.grain[sl] - 0.5)
    collar = 1.0 - 0.28 * np.exp(-((neck * (1.0 / 0.009)) ** 2))
    cv.paint(sl, cov, base * (shade * folds * collar)[..., None])
    cv.layer("cloth", sl, cov)


def _ears(cv, g, skin, tex, light) -> None:
    for side, name in ((-1, "l_ear"), (1, "r_ear")):
        cx, cy, a, b = side * (g["fa"] + 0.004), 0.03, 0.033, 0.065
        sl = cv.region(cx - a, cy - b, cx + a, cy + b)
        if sl is None:
            continue
        u, v = cv.uv(sl)
        d = _ellipse_d(u, v, cx, cy, a, b)
        cov = cv.cov_d(d)
        # Inner ear: a darker curved groove along the rim.
        groove = np.abs(_ellipse_d(u, v, cx + side * 0.007, cy + 0.004, a * 0.55, b * 0.62))
        k = 0.88 * light.shade(np.full_like(u, side * 0.7), (v - cy) * (1.0 / 0.12))
        k = k * (1.0 - 0.25 * np.exp(-((groove * (1.0 / 0.005)) ** 2)))
        cv.paint(sl, cov, skin * k[..., None])
        cv.layer(name, sl, cov)


def _face(cv, g, attrs, skin, tex, light, hair_rgb) -> None:
    bald = attrs["hair_style"] == "bald"
    top = g["hcy"] + 0.02 - 0.335 if bald else g["fcy"] - g["fb"]
    sl = cv.region(-g["fa"] - 0.01, top - 0.01, g["fa"] + 0.01, g["fcy"] + g["fb"] + 0.01)
    if sl is None:
        return
    u, v = cv.uv(sl)
    f = _face_f(g, u, v)
    if bald:  # the scalp joins the face: one skin region
        scalp = _ellipse_d(u, v, 0.0, g["hcy"] + 0.02, g["fa"] + 0.008, 0.335)
        f = np.minimum(f * (0.5 * g["fa"]), scalp)  # the face term is roughly a distance
    cov = cv.cov(f)
    nx = u * (1.0 / (g["fa"] * 1.25))
    ny = (v - g["fcy"]) * (1.0 / (g["fb"] * 1.35))
    k = light.shade(nx, ny) * (0.96 + 0.08 * tex.low[sl]) * (1.0 + 0.05 * (tex.grain[sl] - 0.5))
    col = skin * k[..., None]
    blush = float(attrs["shape"]["blush"])
    for side in (-1, 1):
        b = np.exp(-(_pos(_ellipse_d(u, v, side * 0.145, 0.1, 0.055, 0.04)) * (1 / 0.03)) ** 2)
        col += (blush * b)[..., None] * (np.array([200, 60, 60], F32) - col)
        s = np.exp(-(_pos(_ellipse_d(u, v, side * g["ex"], g["ey"] - 0.008, 0.06, 0.035))
                     * (1 / 0.02)) ** 2)
        col *= (1.0 - 0.09 * s)[..., None]
    # Soft shadows under the nose and under the lower lip.
    sh = np.exp(-(_pos(_ellipse_d(u, v, 0.0, g["nbot"] + 0.012, g["nw"] * 0.8, 0.01))
                  * (1 / 0.012)) ** 2)
    sh += np.exp(-(_pos(_ellipse_d(u, v, 0.0, g["my"] + 0.06, g["mw"] * 0.55, 0.012))
                   * (1 / 0.014)) ** 2) * 0.6
    col *= (1.0 - 0.14 * sh)[..., None]
    cv.paint(sl, cov, col)
    if attrs["beard"]:
        _beard(cv, sl, g, attrs, tex, hair_rgb, u, v, cov)
    cv.layer("skin", sl, cov)


def _beard(cv, sl, g, attrs, tex, hair_rgb, u, v, face_cov) -> None:
    """Stubble/beard on the lower face: colour only (CelebAMask-HQ labels beards as skin)."""
    d = (0.275 - 4.3 * u * u) - v
    must = np.maximum(np.abs(u) - g["mw"] * 1.08,
                      np.abs(v - (g["my"] - 0.034 + 2.2 * u * u)) - 0.013)
    d = np.minimum(d, must)
    area = cv.cov_d(d, soft=0.014) * face_cov
    grain = _noise_sample(tex.fine, u * 1.6 + 0.11, v * 1.6 - 0.07)
    alpha = area * float(attrs["beard_density"]) * (0.4 + 0.6 * grain)
    cv.paint(sl, alpha.astype(F32), hair_rgb * 0.55 + 8.0)


def _earrings(cv, g, attrs) -> None:
    metal = np.asarray((212, 175, 55) if attrs["earring_metal"] == "gold" else (200, 200, 208),
                       F32)
    for side in (-1, 1):
        cx, cy, r = side * (g["fa"] + 0.012), 0.104, 0.012
        sl = cv.region(cx - r, cy - r, cx + r, cy + r)
        if sl is None:
            continue
        u, v = cv.uv(sl)
        d = np.sqrt((u - cx) ** 2 + (v - cy) ** 2) - r
        cov = cv.cov_d(d)
        hl = np.exp(-(((u - cx + 0.3 * r) ** 2 + (v - cy + 0.35 * r) ** 2) * (1 / (0.35 * r) ** 2)))
        k = 0.6 + 0.4 * np.clip(-d / r, 0, 1)
        col = metal * k[..., None] + (hl * 120.0)[..., None]
        cv.paint(sl, cov, np.minimum(col, 255.0))
        cv.layer("ear_r", sl, cov)


def _nose(cv, g, skin, tex, light) -> None:
    """The nose region shades the skin under it (no hard colour edge), with nostrils."""
    ntop, nbot, nw = g["ey"] + 0.012, g["nbot"], g["nw"]
    sl = cv.region(-nw, ntop, nw, nbot)
    if sl is None:
        return
    u, v = cv.uv(sl)
    lobe_cy, lobe_b = nbot - 0.03, 0.036
    t = np.clip((v - ntop) / (lobe_cy - ntop), 0.0, 1.0)
    w = 0.02 + (nw * 0.88 - 0.02) * t ** 1.6
    bridge = np.maximum(np.abs(u) - w, np.maximum(ntop - v, v - lobe_cy))
    d = np.minimum(bridge, _ellipse_d(u, v, 0.0, lobe_cy, nw, lobe_b))
    cov = cv.cov_d(d)
    # Side walls turn away from the light; the ridge and the tip catch it.
    nx = np.clip(u / (w + 0.01), -1, 1) * 0.8
    k = light.shade(nx, np.full_like(u, 0.1)) / light.shade(np.zeros_like(u), np.zeros_like(u))
    k = k * (1.0 - 0.1 * _ss(0.4, 1.0, np.abs(u) / (w + 0.004)))
    col = self_col = cv.img[sl] * k[..., None]
    tip = np.exp(-(((u - light.l[0] * 0.01) ** 2 + (v - lobe_cy + 0.006) ** 2) * (1 / 0.013 ** 2)))
    col += (0.25 * light.strength * tip)[..., None] * (255.0 - col)
    for side in (-1, 1):
        nd = _ellipse_d(u, v, side * nw * 0.45, nbot - 0.008, 0.0115, 0.0055)
        a = cv.cov_d(nd, soft=0.005) * 0.7
        col += a[..., None] * (skin * 0.35 - col)
        wing = np.abs(_ellipse_d(u, v, side * nw * 0.62, lobe_cy + 0.006, nw * 0.42, 0.024))
        crease = np.exp(-(wing * (1 / 0.0035)) ** 2) * (v > lobe_cy - 0.012) * 0.25
        col *= (1.0 - crease)[..., None]
    cv.paint(sl, cov, self_col)
    cv.layer("nose", sl, cov)


def _eyes(cv, g, attrs, skin, light) -> None:
    ew, hu, hl, ri = g["ew"], g["eh_up"], g["eh_lo"], g["iris_r"]
    iris_rgb = np.asarray(attrs["iris_color"], F32)
    gx = attrs["shape"]["gaze_x"] * 0.3 * ri
    gy = attrs["shape"]["gaze_y"] * 0.2 * ri
    for side, name in ((-1, "l_eye"), (1, "r_eye")):
        cx, cy = side * g["ex"], g["ey"]
        sl = cv.region(cx - ew * 1.25, cy - hu * 2.2, cx + ew * 1.25, cy + hl * 1.6)
        if sl is None:
            continue
        u, v = cv.uv(sl)
        xn = (u - cx) * (side / ew)  # -1 inner corner, +1 outer corner
        q = _pos(1.0 - xn * xn)
        vv = v - cy + 0.004 * xn  # the outer corner sits slightly higher
        upper = -hu * q * (1.0 - 0.18 * xn)
        lower = hl * q * (1.0 + 0.15 * xn)
        f = np.maximum(np.maximum(upper - vv, vv - lower), np.abs(xn) - 1.0)
        cov = cv.cov(f)
        # Sclera, shaded towards the corners and under the upper lid.
        k = 0.93 - 0.16 * xn * xn
        col = np.array([236, 232, 226], F32) * k[..., None]
        ix, iy = cx + gx, cy + gy
        rd = np.sqrt((u - ix) ** 2 + (v - iy) ** 2)
        ia = cv.cov_d(rd - ri)
        ring = 0.6 + 0.55 * np.clip(1.0 - rd / ri, 0, 1)  # darker limbal ring
        ring *= 0.9 + 0.1 * np.cos(np.arctan2(v - iy, u - ix) * 13.0)
        col += ia[..., None] * (iris_rgb * ring[..., None] - col)
        col += cv.cov_d(rd - ri * 0.45)[..., None] * (np.array([12, 10, 10], F32) - col)
        hx, hy = ix + light.l[0] * ri * 0.45, iy + light.l[1] * ri * 0.45 - ri * 0.25
        glint = cv.cov_d(np.sqrt((u - hx) ** 2 + (v - hy) ** 2) - ri * 0.2) * 0.9
        col += glint[..., None] * (255.0 - col)
        # The upper lid shades the top of the eyeball.
        col *= (1.0 - 0.4 * np.exp(-(((vv - upper) * (1.0 / (0.3 * hu))) ** 2)))[..., None]
        cv.paint(sl, cov, col)
        cv.layer(name, sl, cov)
        # Upper lid line with lashes (a little wing past the outer corner), crease, lower lid.
        t2 = np.clip(xn, -1.0, 1.2)
        lid_y = -hu * _pos(1.0 - t2 * t2) * (1.0 - 0.18 * t2) - 0.25 * hu * _pos(t2 - 0.75) * 4
        thick = 0.0045 * (0.5 + 0.7 * _pos(1.0 - np.abs(t2 - 0.35)))
        ld = np.maximum(np.abs(vv - lid_y + 0.0012) - thick * 0.5,
                        np.maximum(-1.02 - xn, xn - 1.2))
        cv.paint(sl, cv.cov_d(ld) * 0.9, np.array([32, 24, 24], F32))
        crease_y = -hu * q * 1.3 - 0.0075
        cd = np.maximum(np.abs(vv - crease_y) - 0.0012, np.abs(xn) - 0.9)
        cv.paint(sl, cv.cov_d(cd, soft=0.004) * 0.25, skin * 0.5)
        lo = np.maximum(np.abs(vv - lower - 0.0012) - 0.001, np.abs(xn) - 0.85)
        cv.paint(sl, cv.cov_d(lo, soft=0.003) * 0.25, skin * 0.55)


def _brows(cv, g, attrs, tex, hair_rgb) -> None:
    shape = attrs["brow_shape"]
    bt = g["bt"]
    colour = hair_rgb * 0.7 + 6.0
    if attrs["hair_color_name"] in ("blond", "gray"):
        colour = hair_rgb * 0.5 + 12.0
    t0, t1 = -0.05, 0.056
    for side, name in ((-1, "l_brow"), (1, "r_brow")):
        cx, cy = side * g["ex"], g["by"]
        sl = cv.region(cx - 0.06, cy - 0.03, cx + 0.06, cy + 0.025)
        if sl is None:
            continue
        u, v = cv.uv(sl)
        t = (u - cx) * side  # outward positive
        if shape == "straight":
            c = cy - 0.002 - 0.06 * (t - t0) * 0.12
        elif shape == "arched":
            c = cy + 0.005 - 0.014 * (1.0 - ((t - 0.008) * (1 / 0.05)) ** 2)
        else:  # angled: a straight rise to a peak two thirds out, then a steeper fall
            c = cy + 0.004 - 0.014 * (t - t0) / (0.024 - t0) + 0.6 * _pos(t - 0.024) * 1.0
        th = bt * (1.0 - 0.6 * _ss(t0, t1, t)) * (1.0 - 0.3 * _ss(t0 + 0.02, t0, t))
        d = np.maximum(np.abs(v - c) - th * 0.5, np.maximum(t0 - t, t - t1))
        cov = cv.cov(d)
        grain = _noise_sample(tex.fine, u * 2.2 + 0.3 * side, v * 0.6)
        cv.paint(sl, cov * (0.78 + 0.22 * grain), colour * (0.8 + 0.4 * grain)[..., None])
        cv.layer(name, sl, cov)


def _mouth(cv, g, attrs, tex) -> None:
    state = attrs["mouth_state"]
    my, lip = g["my"], g["lip"]
    mw = g["mw"] * (1.1 if state == "smile" else 1.0)
    gu0, gl0, wi = {"closed": (0.0, 0.0, 0.8), "smile": (0.004, 0.008, 0.82),
                    "open": (0.010, 0.032, 0.78)}[state]
    lip_rgb = np.asarray(attrs["lip_color"], F32)
    sl = cv.region(-mw, my - 0.05, mw, my + gl0 + 0.04 * lip)
    if sl is None:
        return
    u, v = cv.uv(sl)
    xn = u * (1.0 / mw)
    x2 = xn * xn
    q = _pos(1.0 - x2)
    if state == "smile":  # corners turned up
        m = my - 0.018 * x2 * x2 + 0.004 * q
    elif state == "closed":
        m = my + 0.004 * x2
    else:
        m = my + 0.002 * x2
    qi = _pos(1.0 - x2 * (1.0 / (wi * wi)))
    gu = gu0 * qi
    gl = gl0 * qi ** 0.8
    hu = 0.021 * lip * q ** 0.55 - 0.005 * np.exp(-((u * (1 / 0.014)) ** 2)) * q  # cupid's bow
    hl = 0.027 * lip * q ** 0.6
    top = m - gu - hu
    bot = m + gl + hl
    side = np.abs(xn) - 1.0
    upper_f = np.maximum(np.maximum(top - v, v - (m - gu)), side)
    lower_f = np.maximum(np.maximum((m + gl) - v, v - bot), side)
    shade_x = 1.0 - 0.25 * x2
    if gu0 > 0:
        inner_f = np.maximum(np.maximum((m - gu) - v, v - (m + gl)), np.abs(xn) - wi)
        ic = cv.cov(inner_f)
        col = np.empty(u.shape + (3,), F32)
        col[:] = (50, 16, 20)
        # Upper teeth hang from the upper lip; a tongue shows in a wide-open mouth.
        tooth_h = gu0 + (0.007 if state == "smile" else 0.011)
        teeth = _ss(0.0, 0.002, (m - gu + tooth_h) - v) * _ss(0.0, 0.15, wi * 0.95 - np.abs(xn))
        gaps = 0.9 + 0.1 * np.abs(np.cos(u * (np.pi / 0.0135)))
        tooth_col = np.array([234, 228, 216], F32) * (gaps * shade_x)[..., None]
        col += teeth[..., None] * (tooth_col - col)
        if state == "open":
            tongue = cv.cov_d(_ellipse_d(u, v, 0.0, m + gl, mw * 0.45, 0.014), soft=0.005)
            col += tongue[..., None] * (np.array([155, 62, 68], F32) - col)
        cv.paint(sl, ic, col)
        cv.layer("mouth", sl, ic)
    # Lips: upper darker than lower, a highlight on the lower lip, fine vertical lines.
    lines = 0.95 + 0.1 * tex.grain[sl]
    uc = cv.cov(upper_f)
    cv.paint(sl, uc, lip_rgb * (0.8 * shade_x * lines)[..., None])
    cv.layer("u_lip", sl, uc)
    lc = cv.cov(lower_f)
    lcol = lip_rgb * (1.0 * shade_x * lines)[..., None]
    hlt = np.exp(-((u * (1 / (mw * 0.35))) ** 2 + ((v - (m + gl + hl * 0.45)) * (1 / 0.007)) ** 2))
    lcol += (0.2 * hlt)[..., None] * (255.0 - lcol)
    cv.paint(sl, lc, lcol)
    cv.layer("l_lip", sl, lc)
    if gu0 == 0:  # the dark line where the lips meet
        ld = np.maximum(np.abs(v - m) - 0.001, np.abs(xn) - 1.0)
        cv.paint(sl, cv.cov_d(ld, soft=0.003) * 0.65 * np.minimum(uc + lc, 1.0), lip_rgb * 0.35)


def _hair_front(cv, g, attrs, tex, light, hair_rgb) -> None:
    style = attrs["hair_style"]
    ha, hb, hcy = g["ha"], g["hb"], g["hcy"]
    bottom = 0.5 if style == "long" else 0.06
    sl = cv.region(-ha - 0.06, hcy - hb, ha + 0.06, bottom)
    if sl is None:
        return
    u, v = cv.uv(sl)
    au = np.abs(u)
    cap = _ellipse_d(u, v, 0.0, hcy, ha, hb)
    jag = 0.007 * (_interp1(tex.edge, (u + 0.5) * 160.0) - 0.5)
    if style == "bangs":  # a fringe down to just above the brows
        line = (-0.118 + 0.03 * (au * (1 / 0.2)) ** 2 + 0.01 * np.sin(u * 80.0 + tex.phase[3])
                + 0.15 * _ss(0.15, 0.24, au) + 2 * jag)
    else:  # a hairline high on the forehead, down to the sideburns at the temples
        line = (-0.225 + 1.3 * (u - 0.3 * g["part"]) ** 2 + 0.2 * _ss(0.17, 0.235, au) + jag)
    d = np.maximum(cap, v - line)
    if style == "long":
        # Locks falling beside the face from under the ears, over the neck edges and shoulders.
        xi = np.maximum(_face_half_width(g, v) - 0.003, 0.108)
        xo = _long_outline(g, v, tex)
        ybot = 0.47 + _hair_wave(tex, u)
        lock = np.maximum(np.maximum(xi - au, au - xo), np.maximum(0.12 - v, v - ybot))
        d = np.minimum(d, lock)
    cov = cv.cov_d(d)
    col = _hair_colour(cv, sl, g, tex, light, hair_rgb, u, v)
    cv.paint(sl, cov, col)
    cv.layer("hair", sl, cov)


def _glasses(cv, g, attrs) -> None:
    frame_rgb = np.asarray(attrs["glasses_frame_color"], F32)
    tint = np.asarray(attrs["lens_tint"], F32)
    ex, ey = g["ex"], g["ey"] - 0.003
    lw, lh, ft = 0.062, 0.043, 0.009
    sl = cv.region(-g["fa"] - 0.02, ey - lh - 0.01, g["fa"] + 0.02, ey + lh + 0.01)
    if sl is None:
        return
    u, v = cv.uv(sl)
    lens_d = np.minimum(_round_box_d(u, v, -ex, ey, lw, lh, 0.022),
                        _round_box_d(u, v, ex, ey, lw, lh, 0.022))
    lens = cv.cov_d(lens_d)
    # Clear lenses: a light tint and a faint reflection; what is behind stays visible.
    streak = np.exp(-(((u - 0.7 * v + 0.3 * ex) % (2 * ex) - 0.5 * ex) * (1 / 0.008)) ** 2)
    cv.paint(sl, lens * 0.15, tint)
    cv.paint(sl, lens * 0.15 * streak, np.array([255, 255, 255], F32))
    cv.layer("eye_g", sl, lens, opaque=False)
    rim = np.abs(lens_d) - ft * 0.5
    bridge = _segment_d(u, v, -(ex - lw) - 0.003, ey - 0.014, ex - lw + 0.003, ey - 0.014)
    arms = np.minimum(
        _segment_d(u, v, -(ex + lw), ey - 0.018, -(g["fa"] + 0.012), ey - 0.008),
        _segment_d(u, v, ex + lw, ey - 0.018, g["fa"] + 0.012, ey - 0.008))
    d = np.minimum(rim, np.minimum(bridge, arms) - ft * 0.45)
    cov = cv.cov_d(d)
    k = 1.0 + 0.3 * np.exp(-((v - (ey - lh)) * (1 / 0.006)) ** 2)
    cv.paint(sl, cov, np.minimum(frame_rgb * k[..., None], 255.0))
    cv.layer("eye_g", sl, cov)
