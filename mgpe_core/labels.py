"""Label schemas: named, ordered class lists with an explicit mapping from CelebAMask-HQ.

Repositories disagree on the order of face-parsing classes, so mgpe never relies on an implied
order: every schema is a value carrying its class names, every label-map file and model config
names its schema. Conversions go through CelebAMask-HQ's 19 classes (the source of all schemas)
by class *name*, so a new schema is data, not code.

**Left and right.** Datasets disagree on what "left" means, so every schema records its
convention (:attr:`LabelSchema.sides`): ``"subject"`` when ``l_eye`` is the subject's own left
eye, which appears on the image's *right* (CelebAMask-HQ, measured on its real masks, and every
parser trained on it), ``"image"`` when ``l_eye`` lies on the image's left (the original MGPE
code's Helen labels, and mgpe's ``mgpe-11``). Converting between schemas of different
conventions swaps every ``l_``/``r_`` pair (eyes, brows, ears); ``l_lip`` is the lower lip, not
a side, and never moves.

This module only needs numpy: it is imported on the CLI's start-up path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import LabelError, did_you_mean

#: The two meanings of "left" (see the module docstring).
SIDES: tuple[str, ...] = ("subject", "image")

#: CelebAMask-HQ's 19 classes in the usual merge order (later parts overwrite earlier ones).
#: The id of a class is its index. Part files on disk are named ``<k:05d>_<name>.png``.
CELEBAMASK_CLASSES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
    "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)

#: A fixed colour per class *name*, so pictures look alike whatever the schema.
PALETTE: dict[str, tuple[int, int, int]] = {
    "background": (0, 0, 0),
    "skin": (204, 0, 0),
    "nose": (76, 153, 0),
    "eye_g": (204, 204, 0),
    "l_eye": (51, 51, 255),
    "r_eye": (204, 0, 204),
    "l_brow": (0, 255, 255),
    "r_brow": (255, 204, 204),
    "l_ear": (102, 51, 0),
    "r_ear": (255, 0, 0),
    "mouth": (102, 204, 0),
    "u_lip": (255, 255, 0),
    "l_lip": (0, 0, 153),
    "hair": (0, 0, 204),
    "hat": (255, 51, 153),
    "ear_r": (0, 204, 204),
    "neck_l": (0, 51, 0),
    "neck": (255, 153, 51),
    "cloth": (0, 204, 0),
}


@dataclass(frozen=True)
class LabelSchema:
    """A named list of classes plus where each CelebAMask-HQ class goes.

    ``source_map[k]`` is this schema's id for CelebAMask-HQ class ``k`` (length 19), by class
    name: a side's class maps to the class of the same name, whatever the conventions; the
    conversion does the swapping. Every class of the schema must be the target of at least one
    source class. ``sides``: what ``l_``/``r_`` mean (``"subject"`` or ``"image"``).
    """

    name: str
    classes: tuple[str, ...]
    source_map: tuple[int, ...] = field(repr=False)
    sides: str = "image"

    def __post_init__(self) -> None:
        if self.sides not in SIDES:
            raise LabelError(f"schema {self.name!r}: sides must be one of {', '.join(SIDES)}, "
                             f"got {self.sides!r}")
        if len(self.source_map) != len(CELEBAMASK_CLASSES):
            raise LabelError(
                f"schema {self.name!r}: source_map needs {len(CELEBAMASK_CLASSES)} entries, "
                f"got {len(self.source_map)}"
            )
        if len(set(self.classes)) != len(self.classes):
            raise LabelError(f"schema {self.name!r}: class names must be unique")
        if len(self.classes) > 255:
            raise LabelError(f"schema {self.name!r}: at most 255 classes fit an 8-bit label map")
        bad = [i for i in self.source_map if not 0 <= i < len(self.classes)]
        if bad:
            raise LabelError(f"schema {self.name!r}: source_map points outside the classes: {bad}")
        unused = set(range(len(self.classes))) - set(self.source_map)
        if unused:
            names = [self.classes[i] for i in sorted(unused)]
            raise LabelError(f"schema {self.name!r}: classes no source class maps to: {names}")
        if self.classes[0] != "background":
            raise LabelError(f"schema {self.name!r}: class 0 must be 'background'")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, class_name: str) -> int:
        """Id of a class by name, with a clear error naming the schema."""
        try:
            return self.classes.index(class_name)
        except ValueError:
            raise LabelError(
                f"schema {self.name!r} has no class {class_name!r} "
                f"(classes: {', '.join(self.classes)})"
            ) from None

    def ids(self, class_names) -> list[int]:
        """Ids of the given names that exist in this schema (missing names are skipped)."""
        return [self.classes.index(n) for n in class_names if n in self.classes]

    @cached_property
    def canonical_source(self) -> tuple[int, ...]:
        """For each class, the CelebAMask-HQ class that stands for it when converting back.

        The source class of the same name if there is one, else the first that maps to it.
        """
        out = []
        for i, name in enumerate(self.classes):
            if name in CELEBAMASK_CLASSES and self.source_map[CELEBAMASK_CLASSES.index(name)] == i:
                out.append(CELEBAMASK_CLASSES.index(name))
            else:
                out.append(self.source_map.index(i))
        return tuple(out)

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """Id permutation for a horizontal flip: every ``l_X`` swaps with ``r_X``.

        Mirroring moves every side to the other whatever the convention. ``l_lip`` (lower lip)
        has no ``r_lip`` and so stays put, as does every class without a partner. Also the
        permutation that converts between the two conventions."""
        perm = np.arange(self.num_classes, dtype=np.int64)
        for i, name in enumerate(self.classes):
            for a, b in (("l_", "r_"), ("r_", "l_")):
                if name.startswith(a) and b + name[2:] in self.classes:
                    perm[i] = self.classes.index(b + name[2:])
        return perm

    @cached_property
    def palette(self) -> np.ndarray:
        """(num_classes, 3) uint8 colours; classes without a fixed colour get a derived one."""
        colours = []
        for name in self.classes:
            if name in PALETTE:
                colours.append(PALETTE[name])
            else:  # deterministic, distinct-ish colour from the name
                h = sum((j + 1) * ord(c) for j, c in enumerate(name))
                colours.append(((h * 67) % 256, (h * 131) % 256, (h * 29) % 256))
        return np.asarray(colours, dtype=np.uint8)

    # -- operations on label maps ------------------------------------------------------------

    def validate(self, labels: np.ndarray, what: str = "label map") -> np.ndarray:
        """Check ids are within the schema; return the map as uint8."""
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise LabelError(f"{what}: expected a 2-D label map, got shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            found = sorted(int(v) for v in np.unique(labels) if not 0 <= v < self.num_classes)
            raise LabelError(
                f"{what}: ids {found[:10]} are outside schema {self.name!r} "
                f"(valid: 0..{self.num_classes - 1})"
            )
        return labels.astype(np.uint8, copy=False)

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) ids -> (C, H, W) float32 one-hot (numpy; torch code has its own)."""
        labels = self.validate(labels)
        return (labels[None] == np.arange(self.num_classes)[:, None, None]).astype(np.float32)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) ids -> (H, W, 3) uint8 picture in the fixed palette."""
        return self.palette[self.validate(labels)]

    def decolorize(self, rgb: np.ndarray, tolerance: float = 40.0) -> np.ndarray:
        """Read a colour-coded mask back to ids: nearest palette colour, within ``tolerance``.

        The tolerance absorbs mild compression; a pixel far from every colour is an error, since
        guessing would silently corrupt the mask.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise LabelError(f"colour mask: expected an RGB picture, got shape {rgb.shape}")
        flat = rgb[..., :3].reshape(-1, 3).astype(np.int32)
        colours, inverse = np.unique(flat, axis=0, return_inverse=True)
        d = ((colours[:, None, :] - self.palette[None].astype(np.int32)) ** 2).sum(-1)
        nearest = d.argmin(1)
        far = np.sqrt(d[np.arange(len(colours)), nearest]) > tolerance
        if far.any():
            bad = [tuple(int(x) for x in c) for c in colours[far][:5]]
            raise LabelError(
                f"colour mask: colours {bad} are not in schema {self.name!r}'s palette"
            )
        return nearest[inverse.reshape(-1)].reshape(rgb.shape[:2]).astype(np.uint8)

    def flip(self, labels: np.ndarray) -> np.ndarray:
        """Mirror a label map horizontally and swap left/right classes."""
        return self.flip_permutation.astype(np.uint8)[self.validate(labels)[:, ::-1]]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "source_map": dict(zip(CELEBAMASK_CLASSES, self.source_map, strict=True)),
            "sides": self.sides,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LabelSchema:
        """Inverse of :meth:`to_dict`; ``source_map`` may be a list or a name->id dict.

        A dict without ``sides`` (written before schemas recorded it) takes the convention of the
        built-in schema of the same name and classes, else ``"image"`` (what mgpe assumed then)."""
        try:
            name, classes, smap = data["name"], tuple(data["classes"]), data["source_map"]
        except (KeyError, TypeError) as e:
            raise LabelError(f"label schema: missing field {e}") from None
        if not isinstance(name, str) or not name:
            raise LabelError(f"label schema: name: expected a non-empty string, got {name!r}")
        bad = [c for c in classes if not isinstance(c, str) or not c]
        if bad:
            raise LabelError(f"schema {name!r}: classes: expected names (strings), got "
                             f"{bad[0]!r}")
        values = list(smap.values()) if isinstance(smap, dict) else smap
        if not isinstance(smap, dict | list | tuple) or any(
                isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise LabelError(f"schema {name!r}: source_map: expected class ids (integers) by "
                             f"source class, got {smap!r}"[:200])
        sides = data.get("sides")
        if sides is None:
            builtin = BUILTIN_SCHEMAS.get(name)
            sides = builtin.sides if builtin is not None and builtin.classes == classes \
                else "image"
        if isinstance(smap, dict):
            unknown = set(smap) - set(CELEBAMASK_CLASSES)
            if unknown:
                raise LabelError(f"schema {name!r}: unknown source classes {sorted(unknown)}")
            missing = [c for c in CELEBAMASK_CLASSES if c not in smap]
            if missing:
                raise LabelError(f"schema {name!r}: source_map lacks {missing}")
            smap = [smap[c] for c in CELEBAMASK_CLASSES]
        return cls(name, classes, tuple(int(v) for v in smap), sides)


def other_side(name: str) -> str:
    """``l_X`` <-> ``r_X`` for the sided CelebAMask-HQ classes (eyes, brows, ears); any other
    name (``l_lip`` is the lower lip) unchanged: the name a part gets in the other convention."""
    for a, b in (("l_", "r_"), ("r_", "l_")):
        if name.startswith(a) and name != "l_lip" and b + name[2:] in CELEBAMASK_CLASSES:
            return b + name[2:]
    return name


def conversion_table(src: LabelSchema, dst: LabelSchema) -> np.ndarray:
    """Lookup table (len(src.classes),) uint8: src id -> dst id, via CelebAMask-HQ names; when
    the schemas' conventions differ, every ``l_``/``r_`` pair is swapped (a subject's left eye
    is the image's right eye)."""
    table = np.asarray([dst.source_map[k] for k in src.canonical_source], dtype=np.int64)
    if src.sides != dst.sides:
        table = dst.flip_permutation[table]
    return table.astype(np.uint8)


def convert(labels: np.ndarray, src: LabelSchema, dst: LabelSchema) -> np.ndarray:
    """Convert a label map between schemas (exact when ``dst`` keeps every class of ``src``)."""
    if src == dst:
        return src.validate(labels)
    return conversion_table(src, dst)[src.validate(labels)]


def _schema_from_names(name: str, classes: tuple[str, ...], extra: dict[str, str],
                       sides: str = "image") -> LabelSchema:
    """Build a schema: source classes of the same name map to themselves, ``extra`` maps the
    rest by name, anything unnamed goes to background."""
    smap = []
    for src in CELEBAMASK_CLASSES:
        target = src if src in classes else extra.get(src, "background")
        smap.append(classes.index(target))
    return LabelSchema(name, classes, tuple(smap), sides)


#: The paper's 11 classes in the original code's Helen-style order.
MGPE_11_CLASSES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip", "mouth",
    "l_lip", "hair",
)

BUILTIN_SCHEMAS: dict[str, LabelSchema] = {
    s.name: s
    for s in (
        # CelebAMask-HQ's own labels: l_ is the subject's left (on the image's right).
        LabelSchema("celebamask-19", CELEBAMASK_CLASSES, tuple(range(len(CELEBAMASK_CLASSES))),
                    "subject"),
        # The original MGPE code's Helen-style labels: l_ is the image's left.
        # Glasses cannot be expressed in 11 classes: their pixels lie on the face, so skin.
        _schema_from_names("mgpe-11", MGPE_11_CLASSES, {"eye_g": "skin"}),
        _schema_from_names("mgpe-12-glasses", MGPE_11_CLASSES + ("eye_g",), {}),
        # + the neck, which the skin component holds (mgpe_core.components): its tone follows
        # the face's; glasses are their own class in no component: a face wears them only
        # where its mask has them, never because a skin style came from a face with glasses
        _schema_from_names("mgpe-13", MGPE_11_CLASSES + ("eye_g", "neck"), {}),
    )
}

DEFAULT_SCHEMA = "mgpe-11"


def get_schema(name_or_schema: str | LabelSchema | dict) -> LabelSchema:
    """Look a schema up by name (or pass one through); unknown names suggest close matches."""
    if isinstance(name_or_schema, LabelSchema):
        return name_or_schema
    if isinstance(name_or_schema, dict):
        return LabelSchema.from_dict(name_or_schema)
    try:
        return BUILTIN_SCHEMAS[name_or_schema]
    except KeyError:
        hint = did_you_mean(name_or_schema, BUILTIN_SCHEMAS, cutoff=0.4)
        raise LabelError(
            f"unknown label schema {name_or_schema!r}; known: {', '.join(BUILTIN_SCHEMAS)}.{hint}"
        ) from None


def merge_parts(parts: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Merge binary CelebAMask-HQ part masks into one celebamask-19 label map.

    Parts are applied in the standard order, later ones overwriting earlier ones; missing parts
    are simply absent. Each mask must already have ``shape``.
    """
    out = np.zeros(shape, dtype=np.uint8)
    for k, name in enumerate(CELEBAMASK_CLASSES[1:], start=1):
        m = parts.get(name)
        if m is not None:
            out[np.asarray(m, dtype=bool)] = k
    return out
