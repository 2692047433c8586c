"""Fixtures for tests, benchmarks and plugin authors' tests: tiny synthetic data, no downloads.

Library code never imports this module: it exists so that mgpe's own tests, the benchmarks in
``bench/`` and the tests of plugin packages build the same small inputs the same way, without
the library's data modules carrying test helpers. Only numpy is needed (no torch).

- :func:`synthetic_face_labels`: a jittered blocky frontal face as a celebamask-19 id map.
- :func:`make_prepared_folder`: a valid prepared folder (as ``mgpe data prepare`` writes) of
  such faces, with photos painted in the class colours.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .data.prepared import FORMAT, MANIFEST, VERSION, PreparedFolder
from .io import write_bytes, write_image, write_json, write_label_map
from .labels import BUILTIN_SCHEMAS, CELEBAMASK_CLASSES, convert, get_schema


def _ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def synthetic_face_labels(rng: np.random.Generator, size: int) -> np.ndarray:
    """A blocky, randomly jittered frontal face as celebamask-19 ids (size, size) uint8.

    Parts are ellipses (hair, skin, ears, brows, eyes, nose, lips, mouth) over neck and cloth,
    at positions and sizes jittered per face; eyes sit near (0.47, 0.37) and (0.47, 0.63) of the
    image, the mouth near (0.73, 0.5), as in the component table. Sides follow CelebAMask-HQ:
    ``l_eye`` is the subject's left eye, the one at x = 0.63 (the image's right).
    """
    c = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(c, c, indexing="ij")
    dy, dx = rng.uniform(-0.04, 0.04, 2)
    s = rng.uniform(0.9, 1.1)
    out = np.zeros((size, size), dtype=np.uint8)

    def paint(name, cy, cx, ry, rx):
        m = _ellipse(yy, xx, 0.5 + (cy - 0.5) * s + dy, 0.5 + (cx - 0.5) * s + dx,
                     ry * s * rng.uniform(0.85, 1.15), rx * s * rng.uniform(0.85, 1.15))
        out[m] = CELEBAMASK_CLASSES.index(name)

    out[yy > 0.9 + dy] = CELEBAMASK_CLASSES.index("cloth")
    neck = (yy > 0.7 + dy) & (yy <= 0.9 + dy) & (np.abs(xx - 0.5 - dx) < 0.1 * s)
    out[neck] = CELEBAMASK_CLASSES.index("neck")
    if rng.random() < 0.9:
        paint("hair", 0.42, 0.5, 0.36, 0.34)
    paint("r_ear", 0.52, 0.25, 0.06, 0.03)
    paint("l_ear", 0.52, 0.75, 0.06, 0.03)
    paint("skin", 0.53, 0.5, 0.3, 0.24)
    paint("r_brow", 0.40, 0.37, 0.015, 0.06)
    paint("l_brow", 0.40, 0.63, 0.015, 0.06)
    paint("r_eye", 0.47, 0.37, 0.03, 0.05)
    paint("l_eye", 0.47, 0.63, 0.03, 0.05)
    paint("nose", 0.57, 0.5, 0.07, 0.035)
    paint("u_lip", 0.715, 0.5, 0.02, 0.09)
    paint("l_lip", 0.75, 0.5, 0.022, 0.08)
    paint("mouth", 0.73, 0.5, 0.01, 0.07)
    return out


def make_prepared_folder(
    root: str | os.PathLike, count: int = 8, size: int = 64, schema_name: str = "mgpe-11",
    seed: int = 0, image_suffix: str = ".png", n_test: int | None = None,
) -> PreparedFolder:
    """Write a tiny valid prepared folder of synthetic faces (numpy only).

    Label maps are jittered blocky faces (:func:`synthetic_face_labels`) converted to the schema;
    images are the palette colour of each class, tinted per face, plus noise. The split follows
    ``mgpe data prepare`` for small sets (the last ``ceil(count / 15)`` ids are the test split,
    none when ``count < 2``) unless ``n_test`` says otherwise. Returns the folder.
    """
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


def pil_feathered(mask: np.ndarray, radius: int, work_size: int = 1024) -> np.ndarray:
    """``engine.feathered`` as it was before :mod:`mgpe_core.morphology` (PIL's MaxFilter, 6x
    slower on large masks): the reference the tests compare with and the baseline
    ``bench/bench_paste_back.py`` times."""
    from PIL import Image, ImageFilter

    h, w = mask.shape
    scale = min(1.0, work_size / max(h, w))
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                         Image.Resampling.BOX)
        radius = max(1, round(radius * scale))
    if radius > 0:
        img = img.filter(ImageFilter.MaxFilter(2 * radius + 1))
        img = img.filter(ImageFilter.BoxBlur(radius))
    if scale < 1.0:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


# -- the converters' reference fixtures (../shared/reference) ----------------------------------


def reference_dir(*parts: str) -> Path:
    """A folder of the project's shared reference fixtures: ``$MGPE_REFERENCE``, else
    ``reference/`` in the ``shared/`` folder beside the checkout (where CI and every session
    find it). A missing folder is an error naming where it was looked for."""
    root = os.environ.get("MGPE_REFERENCE")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "reference"
    path = base.joinpath(*parts)
    if not path.is_dir():
        raise FileNotFoundError(f"reference fixtures not found: {path} (set MGPE_REFERENCE to "
                                "the shared reference folder)")
    return path


def read_table(path: str | os.PathLike) -> list[list[str]]:
    """The rows of a tab-separated reference table (its header line left out)."""
    return [line.split("\t") for line in Path(path).read_text().splitlines()[1:] if line]


def table_shape(text: str) -> tuple[int, ...]:
    """A key table's shape column: dimensions joined by ``x``, ``scalar`` for a 0-d tensor."""
    return () if text == "scalar" else tuple(int(s) for s in text.split("x"))


def rule_tensor(file: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The reference README's weight rule, which rebuilds the stand-in weights the reference
    arrays were computed with: one generator per tensor, seeded with the CRC-32 of
    ``"<file>:<name>"``, computed in float64, stored float32."""
    import zlib

    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    rng = np.random.default_rng(zlib.crc32(f"{file}:{name}".encode()))
    if name.endswith(".running_mean"):
        a = rng.normal(0, 0.1, shape)
    elif name.endswith(".running_var"):
        a = 1 + 0.2 * rng.random(shape)
    elif name.endswith(".weight") and len(shape) == 1:
        a = 1 + 0.1 * rng.normal(size=shape)
    elif name.endswith(".bias"):
        a = 0.05 * rng.normal(size=shape)
    else:
        a = rng.normal(size=shape) * np.sqrt(1.0 / np.prod(shape[1:]))
    return a.astype(np.float32)


def blocky_face_labels(batch: int, res: int, shift: int = 0):
    """A blocky face in mgpe-11 ids with known component boxes (a torch tensor, scaled from a
    64 px layout; ``shift`` moves it down): for model tests and benches that need a face whose
    components every architecture accepts, without rendering one."""
    import torch

    from .labels import get_schema

    m11 = get_schema("mgpe-11")
    s = res // 64
    lab = torch.zeros(batch, res, res, dtype=torch.long)

    def box(name, y0, y1, x0, x1):
        lab[:, (y0 + shift) * s:(y1 + shift) * s, x0 * s:x1 * s] = m11.index(name)

    box("hair", 4, 20, 12, 52)
    box("skin", 14, 58, 16, 48)
    box("l_brow", 24, 26, 20, 29)
    box("r_brow", 24, 26, 35, 44)
    box("l_eye", 28, 31, 21, 28)
    box("r_eye", 28, 31, 36, 43)
    box("nose", 32, 40, 29, 35)
    box("u_lip", 45, 47, 26, 38)
    box("mouth", 47, 48, 27, 37)
    box("l_lip", 48, 50, 26, 38)
    return lab
