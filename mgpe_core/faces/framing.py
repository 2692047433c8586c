"""A model's *framing*: where the two eye centres and the mouth centre sit in its square.

Why data and not code: a model only edits faces placed the way its training faces were, and
that placement differs between training sets (mgpe-synth, CelebA-HQ, a user's own crops). The
framing is three points as fractions of the square's side, ``x`` to the right and ``y`` down,
measured on continuous coordinates (pixel ``i`` spans ``[i, i + 1)``)::

    {"eyes": [[x, y], [x, y]], "mouth": [x, y]}     # eyes: image-left eye first

Built-in framings:

- ``mgpe-synth`` (the built-in models' training data): measured on the 12 built-in samples'
  exact masks (:func:`measure_sample_framing`). Eye centre: the centroid of an eye class. Mouth
  centre: the midpoint of the mouth corners (the leftmost and rightmost pixels of upper lip +
  lower lip + inner mouth), because that is what the detector measures (mesh points 61 and 291,
  within 1.3 % of the eye distance of the mask's corners on every sample). The centroid of those
  classes, which the first design used, lies up to 9.8 % of the eye distance lower on open and
  smiling mouths (0.7363 on average instead of 0.7277) and would stretch every closed-mouth face.
  The raw average is eyes (0.3767, 0.4773), (0.6104, 0.4740), mouth (0.4966, 0.7277); the
  renderer's pose jitter (shift, scale, roll) is zero-mean, so the stored framing is that
  average made mirror-symmetric: eyes (0.3831, 0.4757), (0.6169, 0.4757), mouth (0.5, 0.7277).
  It agrees with the renderer's design (eyes at +-0.118 of the side from the centre, 0.025
  above it).
- ``celeba-hq``: CelebA-HQ's 1024 px faces (Karras et al. 2018, appendix C; FFHQ uses the same
  recipe). The crop is centred at the eye midpoint moved 10 % of the way toward the mouth
  midpoint, its side is ``2 * max(2 * d_ee, 1.8 * d_em)`` (d_ee: eye-to-eye distance, d_em:
  eye-midpoint-to-mouth distance). For a face whose ratio ``d_em / d_ee`` is 1 / 0.9 = 1.111 the
  two terms agree and the side is ``4 d_ee = 3.6 d_em``: eyes at ``0.5 -+ 1/8`` across and
  ``0.5 - 0.1/3.6`` down, the mouth at ``0.5 + 0.9/3.6``, i.e. eyes (0.375, 0.4722),
  (0.625, 0.4722), mouth (0.5, 0.75). Faces with a longer mid-face (ratio above 1.111) keep
  those heights and have their eyes closer together; shorter ones keep the eye x and move the
  heights; the template is the point where both hold, and typical frontal faces lie close to it
  (ArcFace's 5-point template gives ratio 1.15: eyes at 0.380 / 0.620).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import MgpeError


@dataclass(frozen=True)
class Framing:
    """Eye and mouth centres in a model's square, as fractions of its side (x right, y down).

    ``eyes[0]`` is the image-left eye (the subject's right on an upright, unmirrored photo)."""

    eyes: tuple[tuple[float, float], tuple[float, float]]
    mouth: tuple[float, float]
    name: str = "custom"

    def __post_init__(self) -> None:
        pts = [*self.eyes, self.mouth]
        if len(self.eyes) != 2 or any(len(p) != 2 for p in pts):
            raise MgpeError(f"framing {self.name!r}: needs two eyes and a mouth, each [x, y]")
        if not all(math.isfinite(v) and -0.5 <= v <= 1.5 for p in pts for v in p):
            raise MgpeError(f"framing {self.name!r}: points must be finite fractions of the "
                            f"side (about 0..1), got {self.to_dict()}")
        (lx, ly), (rx, ry) = self.eyes
        if rx <= lx:
            raise MgpeError(f"framing {self.name!r}: eyes[0] must be the image-left eye "
                            f"(smaller x), got {self.eyes}")
        mid = ((lx + rx) / 2, (ly + ry) / 2)
        if self.mouth[1] <= mid[1]:
            raise MgpeError(f"framing {self.name!r}: the mouth must lie below the eyes")

    def points(self, size: int | float) -> list[tuple[float, float]]:
        """The three points (image-left eye, image-right eye, mouth) in pixels of a square of
        ``size`` px."""
        return [(x * size, y * size) for x, y in (*self.eyes, self.mouth)]

    def to_dict(self) -> dict[str, Any]:
        return {"eyes": [list(self.eyes[0]), list(self.eyes[1])], "mouth": list(self.mouth)}

    @classmethod
    def from_dict(cls, data: Any, name: str = "custom") -> Framing:
        """Inverse of :meth:`to_dict`, with a clear error for a malformed entry."""
        try:
            eyes = tuple(tuple(float(v) for v in e) for e in data["eyes"])
            mouth = tuple(float(v) for v in data["mouth"])
        except (KeyError, TypeError, ValueError) as e:
            raise MgpeError(f"framing {name!r}: expected {{\"eyes\": [[x, y], [x, y]], "
                            f"\"mouth\": [x, y]}}, got {data!r} ({e})") from None
        return cls(eyes, mouth, name)  # type: ignore[arg-type]


#: The built-in models' training data (see the module docstring for how it was measured).
MGPE_SYNTH = Framing(((0.3831, 0.4757), (0.6169, 0.4757)), (0.5, 0.7277), "mgpe-synth")

#: CelebA-HQ / FFHQ aligned faces (derived from the published alignment; module docstring).
CELEBA_HQ = Framing(((0.375, 0.4722), (0.625, 0.4722)), (0.5, 0.75), "celeba-hq")

FRAMINGS: dict[str, Framing] = {f.name: f for f in (MGPE_SYNTH, CELEBA_HQ)}

#: Models without a ``framing`` entry were trained on mgpe-synth.
DEFAULT_FRAMING = MGPE_SYNTH.name


def get_framing(spec: str | dict | Framing) -> Framing:
    """A framing by name (``mgpe-synth``, ``celeba-hq``), from a dict, or passed through."""
    from ..errors import UsageError, did_you_mean

    if isinstance(spec, Framing):
        return spec
    if isinstance(spec, dict):
        return Framing.from_dict(spec)
    if isinstance(spec, str):
        if spec in FRAMINGS:
            return FRAMINGS[spec]
        raise UsageError(f"unknown framing {spec!r}; known: {', '.join(FRAMINGS)}."
                         f"{did_you_mean(spec, FRAMINGS)}")
    raise MgpeError(f"framing: expected a name or {{\"eyes\": ..., \"mouth\": ...}}, "
                    f"got {spec!r}")


def framing_for(model_config: Any = None) -> Framing:
    """The framing a model expects: its config's ``framing`` entry (a name or a dict), else
    mgpe-synth's (every model trained on mgpe-synth, the default, has that framing).

    ``model_config`` may be a model folder's whole ``config.json`` dict, its ``config`` or
    ``config["model"]`` part, or an object with a ``framing`` attribute (a typed model config);
    the key is looked up in all of them, in that order, so the field can live in
    ``config.model.framing`` or at the top of ``config.json``."""
    for where in _places(model_config):
        value = where.get("framing") if isinstance(where, dict) else \
            getattr(where, "framing", None)
        if value:
            return get_framing(value)
    return FRAMINGS[DEFAULT_FRAMING]


def _places(cfg: Any) -> list[Any]:
    if cfg is None:
        return []
    places = [cfg]
    if isinstance(cfg, dict):
        inner = cfg.get("config")
        if isinstance(inner, dict):
            places.append(inner)
            cfg = inner
        model = cfg.get("model")
        if isinstance(model, dict):
            places.append(model)
    else:
        model = getattr(cfg, "model", None)
        if model is not None:
            places.append(model)
    return places


def measure_sample_framing(symmetric: bool = True, mouth: str = "corners") -> Framing:
    """Measure mgpe-synth's framing on the built-in samples' exact masks (numpy; ~50 ms).

    Eye centre: the centroid of each eye class, sorted by x (image-left first); mouth: the
    midpoint of the corners of upper lip + lower lip + inner mouth (``mouth="corners"``, what
    the detector measures) or their centroid (``"centroid"``); averaged over the samples.
    ``symmetric`` mirrors the average about the vertical centre line (the renderer's pose is
    zero-mean)."""
    import numpy as np

    from ..samples import load_sample, sample_count

    eyes, mouths = [], []
    for i in range(sample_count()):
        _, labels = load_sample(i)
        side = labels.shape[0]
        points = mask_points(labels, mouth)
        eyes.append(points[:2] / side)
        mouths.append(points[2] / side)
    e, m = np.mean(eyes, axis=0), np.mean(mouths, axis=0)
    if symmetric:
        half = (e[1, 0] - e[0, 0]) / 2
        y = (e[0, 1] + e[1, 1]) / 2
        e = np.array([[0.5 - half, y], [0.5 + half, y]])
        m = np.array([0.5, m[1]])
    r = [[round(float(v), 4) for v in p] for p in (*e, m)]
    return Framing((tuple(r[0]), tuple(r[1])), tuple(r[2]), "mgpe-synth (measured)")


def mask_points(labels, mouth: str = "corners"):
    """(3, 2) pixels (image-left eye, image-right eye, mouth centre) of a celebamask-19 label
    map, defined as the detector's points are: eye-class centroids, mouth-corner midpoint (or
    the lips' ``"centroid"``). The ground truth of the alignment tests and benchmark."""
    import numpy as np

    from ..labels import CELEBAMASK_CLASSES as names

    def where(classes):
        yy, xx = np.nonzero(np.isin(labels, [names.index(c) for c in classes]))
        if yy.size == 0:
            raise MgpeError(f"label map has no {'/'.join(classes)} pixels")
        return yy, xx

    def centroid(classes):
        yy, xx = where(classes)
        return np.array([xx.mean() + 0.5, yy.mean() + 0.5])

    eyes = sorted([centroid(["l_eye"]), centroid(["r_eye"])], key=lambda p: p[0])
    lips = ["u_lip", "l_lip", "mouth"]
    if mouth == "centroid":
        m = centroid(lips)
    elif mouth == "corners":
        yy, xx = where(lips)
        left, right = xx.min(), xx.max()
        m = np.array([(left + right + 1) / 2,
                      (yy[xx == left].mean() + yy[xx == right].mean()) / 2 + 0.5])
    else:
        raise MgpeError(f"mouth must be 'corners' or 'centroid', got {mouth!r}")
    return np.vstack([*eyes, m])
