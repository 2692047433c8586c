"""The prepared dataset folder (written by ``mgpe data prepare``): reading and validation.

Layout::

    DIR/manifest.json   {"format": "mgpe-prepared", "version": 1, "schema": <LabelSchema dict>,
                         "size": 256, "count": N, "image_suffix": ".png" | ".jpg",
                         "splits": {"train": n_train, "test": n_test}, "source": {...}}
    DIR/images/<id:05d><image_suffix>   RGB photos, size x size
    DIR/labels/<id:05d>.png             8-bit id PNGs in the manifest's schema
    DIR/splits/train.txt, test.txt      one integer id per line

This module needs numpy only (no torch): the CLI reads folders on its start-up path. Tiny
synthetic folders for tests are written by :func:`mgpe_core.testing.make_prepared_folder`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageReadError, LabelError, UsageError
from ..io import IMAGE_SUFFIXES, read_image, read_label_map
from ..json_files import Fields, read_json_file
from ..labels import LabelSchema, get_schema

FORMAT = "mgpe-prepared"
VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "test")
#: The manifest's fields and their JSON types (checked on read; other keys are kept).
#: ``schema`` is a schema's name or its definition, checked by ``LabelSchema``.
MANIFEST_SHAPE = Fields({
    "format": str, "version": int, "schema": str | dict, "size": int, "count": int,
    "image_suffix": str, "splits": dict[str, int], "split_rule": str, "source": dict,
    "skipped": dict,
})


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
        m = read_json_file(path, "manifest", MANIFEST_SHAPE, DatasetError)
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
            self.schema: LabelSchema = _with_legacy_sides(get_schema(m["schema"]), m)
        except (LabelError, TypeError, ValueError, KeyError, AttributeError) as e:
            raise DatasetError(f"manifest {path}: schema: invalid: {e}") from None
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


def _with_legacy_sides(schema: LabelSchema, manifest: dict) -> LabelSchema:
    """The schema a folder's labels really follow. Manifests written before schemas recorded
    their convention (no ``sides``) and prepared from mgpe-synth faces of that time hold
    image-left labels (synth then drew l_eye on the image's left), whatever their schema's
    name says; a folder prepared from real CelebAMask-HQ was passed through as the dataset
    has it, which its schema's convention already describes."""
    from dataclasses import replace

    if not isinstance(manifest.get("schema"), dict) or "sides" in manifest["schema"]:
        return schema
    source = manifest.get("source")
    if not isinstance(source, dict) or "sides" in source:
        return schema
    synth = source.get("generator") == "mgpe-synth"
    if not synth and isinstance(source.get("path"), str):
        settings = Path(source["path"]) / "synth.json"
        try:
            synth = settings.is_file() and '"mgpe-synth"' in settings.read_text()
        except OSError:
            synth = False
    return replace(schema, sides="image") if synth and schema.sides != "image" else schema

