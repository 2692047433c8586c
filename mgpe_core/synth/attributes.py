"""Random attributes of a synthetic portrait: one JSON-serialisable dict per face.

Everything a face looks like is decided here, from one ``numpy.random.Generator``; the renderer
is a pure function of the dict (its texture noise comes from the dict's ``texture_seed``). The
draws happen in a fixed order whatever the outcome (an absent beard still draws its density), so
adding a feature never shifts the others' random streams within a version.

Floats are rounded to 4 decimals *before* rendering, so a face re-rendered from the JSON line
saved in ``attributes.jsonl`` is pixel-identical to the saved photo.
"""

from __future__ import annotations

import numpy as np

#: Bumped whenever the same (seed, id) would give a different picture.
SYNTH_VERSION = 1

HAIR_STYLES = ("short", "long", "bangs", "bald")
HAIR_STYLE_P = (0.35, 0.35, 0.22, 0.08)

HAIR_COLORS: dict[str, tuple[int, int, int]] = {
    "black": (30, 24, 22),
    "brown": (96, 62, 40),
    "blond": (204, 168, 108),
    "red": (156, 70, 38),
    "gray": (168, 165, 160),
}
HAIR_COLOR_P = (0.30, 0.35, 0.15, 0.08, 0.12)

IRIS_COLORS: dict[str, tuple[int, int, int]] = {
    "brown": (100, 62, 34),
    "blue": (82, 128, 178),
    "green": (88, 128, 78),
    "gray": (128, 134, 140),
}
IRIS_COLOR_P = (0.5, 0.2, 0.15, 0.15)

BROW_SHAPES = ("straight", "arched", "angled")
MOUTH_STATES = ("closed", "smile", "open")

#: Skin tones from light to dark; a face takes a point on this ramp plus a little jitter.
SKIN_RAMP = np.array(
    [(255, 228, 206), (240, 196, 168), (224, 172, 138), (198, 136, 98), (160, 104, 72),
     (112, 72, 50)],
    dtype=np.float64,
)

#: Lipstick shades (``mgpe data synth --lipstick P``): colours drawn independently of the skin
#: tone, so a model trained on them must read a face's lip colour from its lips.
LIPSTICK_SHADES: dict[str, tuple[int, int, int]] = {
    "red": (190, 20, 40),
    "crimson": (140, 10, 35),
    "pink": (225, 105, 150),
    "coral": (240, 110, 90),
    "plum": (105, 35, 75),
    "berry": (150, 40, 95),
    "nude": (200, 140, 120),
    "brown": (120, 60, 45),
    "violet": (120, 60, 150),
}

PROBABILITIES = {
    "beard": 0.25,
    "glasses": 0.20,
    "earrings": 0.20,
    "gradient_background": 0.5,
}


def _rgb(values) -> list[int]:
    return [int(v) for v in np.clip(np.round(values), 0, 255)]


def _r(x: float) -> float:
    return round(float(x), 4)


def _choice(rng: np.random.Generator, names, p) -> str:
    return str(names[int(rng.choice(len(names), p=np.asarray(p) / np.sum(p)))])


def sample_attributes(rng: np.random.Generator) -> dict:
    """Draw one face's attributes (a plain dict of JSON types)."""
    # Skin: a point on the tone ramp (uniform over it), jittered.
    t = rng.uniform(0, len(SKIN_RAMP) - 1)
    i = min(int(t), len(SKIN_RAMP) - 2)
    skin = SKIN_RAMP[i] + (SKIN_RAMP[i + 1] - SKIN_RAMP[i]) * (t - i) + rng.normal(0, 5, 3)

    hair_name = _choice(rng, tuple(HAIR_COLORS), HAIR_COLOR_P)
    hair = np.asarray(HAIR_COLORS[hair_name], float) * rng.uniform(0.88, 1.12) + rng.normal(0, 6, 3)
    hair_style = _choice(rng, HAIR_STYLES, HAIR_STYLE_P)

    iris_name = _choice(rng, tuple(IRIS_COLORS), IRIS_COLOR_P)
    iris = np.asarray(IRIS_COLORS[iris_name], float) + rng.normal(0, 8, 3)

    brow_shape = _choice(rng, BROW_SHAPES, (1, 1, 1))
    # Lips: the skin tone pulled towards a rosy red, darker for dark skin.
    lip_mix = rng.uniform(0.3, 0.55)
    lip = skin * (1 - lip_mix) * 0.85 + np.array([178, 62, 72]) * lip_mix + rng.normal(0, 6, 3)
    mouth_state = _choice(rng, MOUTH_STATES, (1, 1, 1))

    beard = bool(rng.random() < PROBABILITIES["beard"])
    beard_density = rng.uniform(0.35, 0.9)
    glasses = bool(rng.random() < PROBABILITIES["glasses"])
    frame = np.array([(25, 22, 22), (70, 45, 30), (150, 150, 155), (30, 30, 60)][rng.integers(4)],
                     float) + rng.normal(0, 5, 3)
    lens_tint = np.array([(150, 170, 200), (180, 180, 180), (190, 160, 120)][rng.integers(3)],
                         float) + rng.normal(0, 5, 3)
    earrings = bool(rng.random() < PROBABILITIES["earrings"])
    earring_metal = "gold" if rng.random() < 0.5 else "silver"

    cloth = rng.uniform(20, 235, 3)
    neckline = "round" if rng.random() < 0.6 else "v"

    gradient = bool(rng.random() < PROBABILITIES["gradient_background"])
    bg0 = rng.uniform(30, 240, 3)
    bg1 = np.clip(bg0 + rng.normal(0, 55, 3), 0, 255)
    bg_angle = rng.uniform(0, 360)

    pose = {
        "shift_x": _r(rng.uniform(-0.04, 0.04)),
        "shift_y": _r(rng.uniform(-0.04, 0.04)),
        "scale": _r(rng.uniform(0.9, 1.1)),
        "rotation": _r(np.clip(rng.normal(0, 4.0), -8, 8)),
    }
    lighting = {"angle": _r(rng.uniform(0, 360)), "strength": _r(rng.uniform(0.15, 0.6))}
    shape = {
        "face_width": _r(rng.uniform(0.93, 1.07)),
        "jaw": _r(rng.uniform(0.05, 0.2)),
        "eye_spacing": _r(rng.uniform(0.95, 1.05)),
        "eye_size": _r(rng.uniform(0.9, 1.1)),
        "gaze_x": _r(rng.uniform(-0.4, 0.4)),
        "gaze_y": _r(rng.uniform(-0.2, 0.2)),
        "nose_width": _r(rng.uniform(0.88, 1.12)),
        "nose_length": _r(rng.uniform(0.93, 1.07)),
        "mouth_width": _r(rng.uniform(0.9, 1.1)),
        "lip_thickness": _r(rng.uniform(0.8, 1.2)),
        "brow_thickness": _r(rng.uniform(0.8, 1.25)),
        "brow_height": _r(rng.uniform(-0.004, 0.004)),
        "hair_volume": _r(rng.uniform(0.01, 0.05)),
        "hair_part": _r(rng.uniform(-0.06, 0.06)),
        "blush": _r(rng.uniform(0.0, 0.12)),
    }
    texture_seed = int(rng.integers(0, 2**31 - 1))

    return {
        "skin_tone": _rgb(skin),
        "hair_color": _rgb(hair),
        "hair_color_name": hair_name,
        "hair_style": hair_style,
        "iris_color": _rgb(iris),
        "iris_color_name": iris_name,
        "brow_shape": brow_shape,
        "lip_color": _rgb(lip),
        "mouth_state": mouth_state,
        "beard": beard,
        "beard_density": _r(beard_density),
        "glasses": glasses,
        "glasses_frame_color": _rgb(frame),
        "lens_tint": _rgb(lens_tint),
        "earrings": earrings,
        "earring_metal": earring_metal,
        "cloth_color": _rgb(cloth),
        "neckline": neckline,
        "background": {
            "kind": "gradient" if gradient else "solid",
            "colors": [_rgb(bg0), _rgb(bg1)] if gradient else [_rgb(bg0)],
            "angle": _r(bg_angle),
        },
        "pose": pose,
        "lighting": lighting,
        "shape": shape,
        "texture_seed": texture_seed,
    }


def apply_lipstick(attrs: dict, rng: np.random.Generator, probability: float) -> dict:
    """With ``probability``, paint the face's lips with a lipstick shade (a new dict).

    The shade, its opacity and jitter are drawn whatever the outcome, from ``rng`` alone (the
    writer gives it a stream of its own), so every other attribute of the face is the same with
    and without lipstick. Records ``lipstick``: the shade's name, or None.
    """
    wears = bool(rng.random() < probability)
    names = tuple(LIPSTICK_SHADES)
    name = names[int(rng.integers(len(names)))]
    opacity = rng.uniform(0.6, 0.95)
    jitter = rng.normal(0, 8, 3)
    out = {**attrs, "lipstick": name if wears else None}
    if wears:
        natural = np.asarray(attrs["lip_color"], float)
        shade = np.asarray(LIPSTICK_SHADES[name], float)
        out["lip_color"] = _rgb(natural * (1 - opacity) + shade * opacity + jitter)
    return out
