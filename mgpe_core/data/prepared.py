"""The prepared dataset folder (written by ``mgpe data prepare``): reading and validation.

Layout::

    DIR/manifest.json   {"format": "mgpe-prepared", "version": 1, "schema": <LabelSchema dict>,
                         "size": 256, "count": N, "image_suffix": ".png" | ".jpg",
                         "splits": {"train": n_train, "test": n_test}, "source": {...}}
    DIR/images/<id:05d><image_suffix>   RGB photos, size x size
    DIR/labels/<id:05d>.png             8-bit id PNGs in the manifest's schema
    DIR/splits/train.txt, test.txt      one integer id per line

This module needs numpy only (no torch): the CLI reads folders on its start-up path. It also holds
:func:`make_prepared_folder`, which writes a tiny valid folder of synthetic faces for tests.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageReadError, LabelError, MgpeError, UsageError
from ..io import (
    IMAGE_SUFFIXES,
    read_image,
    read_json,
    read_label_map,
    write_bytes,
    write_image,
    write_json,
    write_label_map,
)
from ..labels import LabelSchema, convert, get_schema

FORMAT = "mgpe-prepared"
VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "test")


class PreparedFolder:
    """A prepared folder: manifest checked on construction, files read on demand.

    Every problem raises :class:`~mgpe_core.errors.DatasetError` naming the folder or file and
    what is wrong.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DatasetError(f"prepared folder {self.root} {what}")
        path = self.root / MANIFEST
        if not path.is_file():
            raise DatasetError(
                f"{self.root} is not a prepared mgpe folder: {path} is missing "
                "(create one with `mgpe data prepare`)"
            )
        try:
            m = read_json(path, "manifest")
        except MgpeError as e:
            raise DatasetError(str(e)) from None
        if not isinstance(m, dict):
            raise DatasetError(f"manifest {path}: expected a JSON object")
        if m.get("format") != FORMAT:
            raise DatasetError(
                f"manifest {path}: format is {m.get('format')!r}, expected {FORMAT!r}"
            )
        version = m.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise DatasetError(f"manifest {path}: invalid version {version!r}")
        if version > VERSION:
            raise DatasetError(
                f"manifest {path}: format version {version} is newer than this mgpe reads "
                f"({VERSION}); upgrade mgpe"
            )
        for key in ("schema", "size", "image_suffix"):
            if key not in m:
                raise DatasetError(f"manifest {path} lacks the field {key!r}")
        try:
            self.schema: LabelSchema = get_schema(m["schema"])
        except LabelError as e:
            raise DatasetError(f"manifest {path}: invalid schema: {e}") from None
        size = m["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise DatasetError(f"manifest {path}: size must be a positive integer, got {size!r}")
        self.size: int = size
        suffix = m["image_suffix"]
        if not isinstance(suffix, str) or suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(
                f"manifest {path}: image_suffix {suffix!r} is not one of "
                f"{', '.join(IMAGE_SUFFIXES)}"
            )
        self.image_suffix: str = suffix
        splits = m.get("splits", {})
        if not isinstance(splits, dict):
            raise DatasetError(f"manifest {path}: splits must be an object of counts")
        for sub in ("images", "labels"):
            if not (self.root / sub).is_dir():
                raise DatasetError(f"prepared folder {self.root}: the folder {sub}/ is missing")
        self.manifest: dict = m
        self._ids: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return f"PreparedFolder({str(self.root)!r}, schema={self.schema.name!r}, size={self.size})"

    @property
    def count(self) -> int:
        """Number of faces the manifest announces (train + test when it does not say)."""
        n = self.manifest.get("count")
        return int(n) if isinstance(n, int) else len(self.ids("all"))

    def split_path(self, split: str) -> Path:
        return self.root / "splits" / f"{split}.txt"

    def ids(self, split: str = "train") -> list[int]:
        """Face ids of a split (``train``, ``test`` or ``all``: both, sorted, without repeats)."""
        if split == "all":
            return sorted(set(self.ids("train")) | set(self.ids("test")))
        if split not in SPLITS:
            raise UsageError(f"unknown split {split!r}; use train, test or all")
        if split not in self._ids:
            self._ids[split] = self._read_split(split)
        return list(self._ids[split])

    def _read_split(self, split: str) -> list[int]:
        path = self.split_path(split)
        if not path.is_file():
            if self.manifest.get("splits", {}).get(split) == 0:
                return []  # an empty split may be left out
            raise DatasetError(f"prepared folder {self.root}: split file {path} is missing")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise DatasetError(f"cannot read split file {path}: {e}") from None
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            try:
                k = int(line)
            except ValueError:
                raise DatasetError(f"{path}, line {n}: {line!r} is not a face id") from None
            if k < 0:
                raise DatasetError(f"{path}, line {n}: negative face id {k}")
            out.append(k)
        return out

    def image_path(self, id: int) -> Path:
        return self.root / "images" / f"{int(id):05d}{self.image_suffix}"

    def label_path(self, id: int) -> Path:
        return self.root / "labels" / f"{int(id):05d}.png"

    def read(self, id: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb uint8 (size, size, 3), labels uint8 (size, size)) of one face, checked."""
        img_path, lbl_path = self.image_path(id), self.label_path(id)
        if not img_path.is_file():
            raise DatasetError(f"prepared folder {self.root}: image of face {id} is missing: "
                               f"{img_path}")
        if not lbl_path.is_file():
            raise DatasetError(f"prepared folder {self.root}: label map of face {id} is missing: "
                               f"{lbl_path}")
        try:
            rgb = read_image(img_path)
        except ImageReadError as e:
            raise DatasetError(str(e)) from None
        try:
            labels, _ = read_label_map(lbl_path, self.schema)
        except (LabelError, ImageReadError) as e:
            raise DatasetError(str(e)) from None
        want = (self.size, self.size)
        if rgb.shape[:2] != want:
            raise DatasetError(f"image {img_path} is {rgb.shape[1]}x{rgb.shape[0]}, the manifest "
                               f"says {self.size}x{self.size}")
        if labels.shape != want:
            raise DatasetError(f"label map {lbl_path} is {labels.shape[1]}x{labels.shape[0]}, "
                               f"the manifest says {self.size}x{self.size}")
        return rgb, labels


# -- synthetic folders for tests ------------------------------------------------------------


def _ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def synthetic_face_labels(rng: np.random.Generator, size: int) -> np.ndarray:
    """A blocky, randomly jittered frontal face as celebamask-19 ids (size, size) uint8.

    Parts are ellipses (hair, skin, ears, brows, eyes, nose, lips, mouth) over neck and cloth,
    at positions and sizes jittered per face; eyes sit near (0.47, 0.37) and (0.47, 0.63) of the
    image, the mouth near (0.73, 0.5), as in the component table.
    """
    c = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(c, c, indexing="ij")
    dy, dx = rng.uniform(-0.04, 0.04, 2)
    s = rng.uniform(0.9, 1.1)
    out = np.zeros((size, size), dtype=np.uint8)
    from ..labels import CELEBAMASK_CLASSES as names

    def paint(name, cy, cx, ry, rx):
        m = _ellipse(yy, xx, 0.5 + (cy - 0.5) * s + dy, 0.5 + (cx - 0.5) * s + dx,
                     ry * s * rng.uniform(0.85, 1.15), rx * s * rng.uniform(0.85, 1.15))
        out[m] = names.index(name)

    out[yy > 0.9 + dy] = names.index("cloth")
    neck = (yy > 0.7 + dy) & (yy <= 0.9 + dy) & (np.abs(xx - 0.5 - dx) < 0.1 * s)
    out[neck] = names.index("neck")
    if rng.random() < 0.9:
        paint("hair", 0.42, 0.5, 0.36, 0.34)
    paint("l_ear", 0.52, 0.25, 0.06, 0.03)
    paint("r_ear", 0.52, 0.75, 0.06, 0.03)
    paint("skin", 0.53, 0.5, 0.3, 0.24)
    paint("l_brow", 0.40, 0.37, 0.015, 0.06)
    paint("r_brow", 0.40, 0.63, 0.015, 0.06)
    paint("l_eye", 0.47, 0.37, 0.03, 0.05)
    paint("r_eye", 0.47, 0.63, 0.03, 0.05)
    paint("nose", 0.57, 0.5, 0.07, 0.035)
    paint("u_lip", 0.715, 0.5, 0.02, 0.09)
    paint("l_lip", 0.75, 0.5, 0.022, 0.08)
    paint("mouth", 0.73, 0.5, 0.01, 0.07)
    return out


def make_prepared_folder(
    root: str | os.PathLike, count: int = 8, size: int = 64, schema_name: str = "mgpe-11",
    seed: int = 0, image_suffix: str = ".png", n_test: int | None = None,
) -> PreparedFolder:
    """Write a tiny valid prepared folder of synthetic faces (numpy only; for tests).

    Label maps are jittered blocky faces (:func:`synthetic_face_labels`) converted to the schema;
    images are the palette colour of each class, tinted per face, plus noise. The split follows
    ``mgpe data prepare`` for small sets (the last ``ceil(count / 15)`` ids are the test split,
    none when ``count < 2``) unless ``n_test`` says otherwise. Returns the folder.
    """
    from ..labels import BUILTIN_SCHEMAS

    root = Path(root)
    schema = get_schema(schema_name)
    src = BUILTIN_SCHEMAS["celebamask-19"]
    rng = np.random.default_rng(seed)
    for sub in ("images", "labels", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for k in range(count):
        raw = synthetic_face_labels(rng, size)
        tint = rng.uniform(-40, 40, 3)
        rgb = src.palette[raw].astype(np.float64) + tint + rng.normal(0, 8, (size, size, 3))
        rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
        write_image(root / "images" / f"{k:05d}{image_suffix}", rgb)
        write_label_map(root / "labels" / f"{k:05d}.png", convert(raw, src, schema), schema)
    if n_test is None:
        n_test = math.ceil(count / 15) if count >= 2 else 0
    n_test = max(0, min(n_test, count))
    ids = list(range(count))
    splits = {"train": ids[: count - n_test], "test": ids[count - n_test:]}
    for name, part in splits.items():
        write_bytes(root / "splits" / f"{name}.txt", "".join(f"{k}\n" for k in part).encode())
    write_json(root / MANIFEST, {
        "format": FORMAT,
        "version": VERSION,
        "schema": schema.to_dict(),
        "size": size,
        "count": count,
        "image_suffix": image_suffix,
        "splits": {name: len(part) for name, part in splits.items()},
        "source": {"kind": "synthetic", "generator": "make_prepared_folder", "seed": seed},
    })
    return PreparedFolder(root)
