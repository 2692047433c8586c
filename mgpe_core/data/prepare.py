"""Turn a CelebAMask-HQ folder (as distributed) into a prepared training folder.

Input layout (missing part files are normal: a part absent from a face has no file)::

    ROOT/CelebA-HQ-img/<k>.jpg                                  1024 px photos (or .png)
    ROOT/CelebAMask-HQ-mask-anno/<k // 2000>/<k:05d>_<part>.png   512 px binary part masks

Output: see :mod:`mgpe_core.data.prepared` (``manifest.json``, ``images/``, ``labels/``,
``splits/``). Parts are merged in the standard order (later overwrite earlier), images resized
with an antialiasing filter, labels with nearest sampling, labels converted to the chosen schema.

Why it is built this way:

- Resumable: outputs are written atomically and every finished face is appended to
  ``.prepare-log.jsonl`` with the SHA-256 of both outputs; a re-run skips faces whose files still
  match their hashes and redoes the rest. Settings are pinned in ``.prepare-settings.json``.
- Parallel: faces are independent; a process pool does them in chunks.
- Never stopped by bad data: a corrupt or missing photo, an unreadable part or an empty mask is
  recorded in the summary and the face is skipped.
- Fast: JPEG photos are decoded at reduced DCT scale when far larger than the target (PIL's
  ``draft``); part masks are decoded by :mod:`mgpe_core.data.mask_png` (kornia_rs's PNG decoder,
  about 4x PIL's speed on these files) and sampled at the output grid before merging instead of
  merging at 512 px and resizing (the same nearest rule, ``mask_png.nearest_indices``, so the
  same labels); with ``workers > 1`` a forked process pool where that is safe
  (:mod:`mgpe_core.process_pool`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageReadError, MgpeError
from ..io import encode_image, encode_label_map, read_json, write_bytes, write_json
from ..labels import CELEBAMASK_CLASSES, LabelSchema, get_schema
from ..process_pool import process_pool
from .mask_png import read_grey_mask, sample_nearest

IMG_DIR = "CelebA-HQ-img"
ANNO_DIR = "CelebAMask-HQ-mask-anno"
STANDARD_TEST_FROM = 28000  # CelebAMask-HQ's usual split: ids < 28000 train, the rest test
STANDARD_TOTAL = 30000
_PART_FILE = re.compile(r"^(\d+)_([a-z_]+)\.png$")
_LOG = ".prepare-log.jsonl"
_SETTINGS = ".prepare-settings.json"


@dataclass
class SourceItem:
    """One face of the source folder: its photo (may be None) and its part files."""

    id: int
    image: Path | None
    parts: dict[str, Path] = field(default_factory=dict)


def scan_source(root: Path) -> list[SourceItem]:
    """Index a CelebAMask-HQ folder with one directory listing per folder (no per-file stats)."""
    root = Path(root)
    img_dir, anno_dir = root / IMG_DIR, root / ANNO_DIR
    if not img_dir.is_dir() and not anno_dir.is_dir():
        raise DatasetError(
            f"{root} is not a CelebAMask-HQ folder: expected {IMG_DIR}/ and {ANNO_DIR}/ inside"
        )
    items: dict[int, SourceItem] = {}
    if img_dir.is_dir():
        for entry in os.scandir(img_dir):
            stem, dot, suffix = entry.name.rpartition(".")
            if dot and stem.isdigit() and suffix.lower() in ("jpg", "jpeg", "png"):
                k = int(stem)
                items.setdefault(k, SourceItem(k, None)).image = Path(entry.path)
    if anno_dir.is_dir():
        for sub in os.scandir(anno_dir):
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub.path):
                m = _PART_FILE.match(entry.name)
                if m and m.group(2) in CELEBAMASK_CLASSES:
                    k = int(m.group(1))
                    items.setdefault(k, SourceItem(k, None)).parts[m.group(2)] = Path(entry.path)
    return [items[k] for k in sorted(items)]


def split_ids(ids: list[int]) -> dict[str, list[int]]:
    """The standard split, or a proportional one for sets that are not the full CelebAMask-HQ.

    Full set (any id >= 28000 present): ids < 28000 train, the rest test. Smaller sets (ids all
    below 28000, e.g. a subset or mgpe-synth data): the same proportion, 2000/30000 = 1/15 of the
    faces, taken as the highest ids (at least one test face when there are two or more).
    """
    ids = sorted(ids)
    if any(k >= STANDARD_TEST_FROM for k in ids):
        return {
            "train": [k for k in ids if k < STANDARD_TEST_FROM],
            "test": [k for k in ids if k >= STANDARD_TEST_FROM],
        }
    n_test = math.ceil(len(ids) * (STANDARD_TOTAL - STANDARD_TEST_FROM) / STANDARD_TOTAL)
    if len(ids) < 2:
        n_test = 0
    return {"train": ids[: len(ids) - n_test], "test": ids[len(ids) - n_test:]}


def load_photo(path: Path, size: int) -> np.ndarray:
    """Read a photo and resize it to size x size with antialiasing, as RGB uint8."""
    from PIL import UnidentifiedImageError

    from ..io import check_pixels, check_regular_file, pil_image_module, pil_to_rgb

    Image = pil_image_module()
    check_regular_file(path, "photo")  # a FIFO would block the open forever
    try:
        with Image.open(path) as img:
            check_pixels(img.size, path, "photo")  # from the header, before decoding
            if img.format == "JPEG":
                img.draft("RGB", (size * 2, size * 2))  # DCT-domain downscale, >= 2x target
            img.load()
            if img.mode == "RGB" and img.size != (size, size):
                # the same resize as below without the round trip through numpy
                return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS))
            rgb = pil_to_rgb(img)
    except UnidentifiedImageError:
        raise ImageReadError(f"not an image: {path}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"corrupt or truncated image {path}: {e}") from None
    if rgb.shape[:2] != (size, size):
        rgb = np.asarray(
            Image.fromarray(rgb).resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8
        )
    return rgb


def merge_parts_resized(parts: dict[str, Path], size: int) -> np.ndarray:
    """Merge part files into a celebamask-19 label map sampled at size x size (nearest).

    Each mask is sampled at the output grid before merging: the same pixels as merging at mask
    resolution and resizing with ``mask_png.nearest_indices``, without building the full map.
    """
    out = np.zeros((size, size), dtype=np.uint8)
    for k, name in enumerate(CELEBAMASK_CLASSES[1:], start=1):
        path = parts.get(name)
        if path is not None:
            _check_part_size(path)
            out[sample_nearest(read_grey_mask(path), size) > 127] = k
    return out


def _check_part_size(path: Path) -> None:
    """Refuse a part mask over the pixel limit from its header, before it is decoded: a PNG's
    IHDR is read directly (24 bytes), other formats through PIL's header reader."""
    import struct

    from ..io import check_pixels, check_regular_file, image_size

    check_regular_file(path, "part mask")  # a FIFO would block the open forever
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise ImageReadError(f"cannot read part mask {path}: {e.strerror or e}") from None
    if len(head) == 24 and head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        check_pixels((width, height), path, "part mask")
    else:
        try:
            size = image_size(path)
        except ImageReadError:
            return  # not a picture: the decoder reports it in its words
        check_pixels(size, path, "part mask")


def source_sides(root: Path) -> str:
    """What ``l_``/``r_`` part files of a source folder mean: ``"subject"`` (the real
    CelebAMask-HQ convention, and mgpe-synth folders that say so), or ``"image"`` for mgpe-synth
    folders written before synth recorded it (their l_eye lay on the image's left)."""
    import json

    settings = root / "synth.json"
    if not settings.is_file():
        return "subject"
    try:
        data = json.loads(settings.read_text())
    except (OSError, ValueError):
        return "subject"
    if not isinstance(data, dict) or data.get("generator") != "mgpe-synth":
        return "subject"
    sides = data.get("sides", "image")
    return sides if sides in ("subject", "image") else "subject"


@dataclass(frozen=True)
class PrepareSettings:
    size: int
    schema: str
    image_suffix: str
    #: the source's convention (not part of to_dict: it follows from the source folder)
    source_sides: str = "subject"

    def to_dict(self) -> dict:
        return {"size": self.size, "schema": self.schema, "image_suffix": self.image_suffix}


def _names(out: Path, k: int, suffix: str) -> tuple[Path, Path]:
    return out / "images" / f"{k:05d}{suffix}", out / "labels" / f"{k:05d}.png"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PrepareWriteError(MgpeError):
    """An output of ``data prepare`` could not be written (disk full, no permission): the run
    fails; the faces logged so far are kept for a re-run."""

    @classmethod
    def of(cls, error: BaseException) -> PrepareWriteError:
        """From the writer's error; ``atomic_write`` keeps the OSError as the context."""
        cause = error if isinstance(error, OSError) else error.__context__
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return cls(f"the disk is full: {error}")
        return cls(str(error))


def prepare_one(item: SourceItem, out: Path, settings: PrepareSettings) -> dict:
    """Process one face; never raises for bad data: returns a record with ``error`` instead.
    Raises :class:`PrepareWriteError` when its outputs cannot be written."""
    from ..labels import convert

    base = {"id": item.id}
    try:
        if item.image is None:
            return {**base, "error": "missing photo"}
        if not item.parts:
            return {**base, "error": "no mask files"}
        rgb = load_photo(item.image, settings.size)
        labels19 = merge_parts_resized(item.parts, settings.size)
        if not labels19.any():
            return {**base, "error": "empty mask (no labelled part)"}
        schema = get_schema(settings.schema)
        c19 = get_schema("celebamask-19")
        if settings.source_sides != c19.sides:
            c19 = replace(c19, sides=settings.source_sides)
        labels = convert(labels19, c19, schema)
        # zlib level 1: a training cache is written once; encoding at the default level 6 was
        # the largest single cost of preparing a face (bench/bench_prepare.py), for 13% fewer
        # bytes. The pixels are the same.
        img_bytes = encode_image(rgb, settings.image_suffix, png_level=1)
        lbl_bytes = encode_label_map(labels, schema)
    except MgpeError as e:
        return {**base, "error": str(e)}
    # Writing is not the face's fault: a full disk or a refused write stops the run (a
    # PrepareWriteError), it is never recorded as a skipped face.
    img_path, lbl_path = _names(out, item.id, settings.image_suffix)
    _write(write_bytes, img_path, img_bytes)
    _write(write_bytes, lbl_path, lbl_bytes)
    return {**base, "image": _sha(img_bytes), "labels": _sha(lbl_bytes)}


def _prepare_chunk(args) -> list[dict]:
    items, out, settings = args
    results = []
    for item in items:
        try:
            results.append(prepare_one(item, out, settings))
        except PrepareWriteError as e:  # the faces done before it are still logged
            results.append({"id": item.id, "write_error": str(e)})
            break
    return results


def _load_log(out: Path) -> dict[int, dict]:
    done: dict[int, dict] = {}
    log = out / _LOG
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                rec = json.loads(line)
                done[int(rec["id"])] = rec
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash: that face is simply redone
    return done


def _verified(out: Path, rec: dict, suffix: str) -> bool:
    img_path, lbl_path = _names(out, rec["id"], suffix)
    try:
        return (
            _sha(img_path.read_bytes()) == rec["image"]
            and _sha(lbl_path.read_bytes()) == rec["labels"]
        )
    except (OSError, KeyError):
        return False


def prepare_dataset(
    root: str | Path,
    out: str | Path,
    size: int = 256,
    schema: str | LabelSchema = "celebamask-19",
    workers: int = 1,
    image_suffix: str = ".png",
    chunk: int = 16,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict:
    """Prepare ``root`` into ``out``; returns a summary (counts, skipped faces with reasons)."""
    t0 = time.perf_counter()
    root, out = Path(root), Path(out)
    if not 8 <= size <= 2048:
        raise MgpeError(f"--size must be between 8 and 2048, got {size}")
    if image_suffix not in (".png", ".jpg"):
        raise MgpeError(f"image format must be png or jpg, got {image_suffix!r}")
    schema_obj = get_schema(schema)
    settings = PrepareSettings(size, schema_obj.name, image_suffix, source_sides(root))
    items = scan_source(root)
    if not items:
        raise DatasetError(f"no faces found in {root} ({IMG_DIR}/ and {ANNO_DIR}/ are empty)")

    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    (out / "splits").mkdir(exist_ok=True)
    settings_path = out / _SETTINGS
    if settings_path.exists():
        old = read_json(settings_path, "prepare settings")
        if old != settings.to_dict():
            raise MgpeError(
                f"{out} was prepared with {old}, not {settings.to_dict()}; "
                "use a new output folder"
            )
    else:
        write_json(settings_path, settings.to_dict())

    done = {k: r for k, r in _load_log(out).items() if "error" not in r}
    todo, records = [], {}
    for item in items:
        rec = done.get(item.id)
        if rec is not None and _verified(out, rec, image_suffix):
            records[item.id] = rec
        else:
            todo.append(item)
    if on_total:
        on_total(len(items))
    if progress and records:
        progress(len(records))

    chunks = [(todo[i:i + chunk], out, settings) for i in range(0, len(todo), chunk)]
    try:
        _run_chunks(chunks, workers, out, records, progress)
        _write_results(root, out, items, records, settings, schema_obj)
    except (PrepareWriteError, OSError) as e:
        what = str(PrepareWriteError.of(e)) if isinstance(e, OSError) else str(e)
        kept = sum(1 for r in records.values() if "error" not in r)
        raise PrepareWriteError(
            f"data prepare stopped: {what}; no manifest was written ({kept} of {len(items)} "
            f"faces are prepared and kept: free space and run it again to continue)") from None
    return _summary(out, items, todo, records, t0)


def _run_chunks(chunks, workers, out, records, progress) -> None:
    with open(out / _LOG, "a") as log:
        def consume(results: list[dict]) -> None:
            failed = None
            for rec in results:
                if "write_error" in rec:
                    failed = rec["write_error"]
                    continue
                records[rec["id"]] = rec
                if "error" not in rec:
                    log.write(json.dumps(rec) + "\n")
            log.flush()
            if failed:
                raise PrepareWriteError(failed)
            if progress:
                progress(len(results))

        if workers > 1 and len(chunks) > 1:
            with process_pool(workers) as pool:
                for results in pool.imap_unordered(_prepare_chunk, chunks):
                    consume(results)
        else:
            for c in chunks:
                consume(_prepare_chunk(c))


def _write_results(root, out, items, records, settings, schema_obj) -> None:
    """Splits, then the manifest (last: it claims the work done)."""
    size, image_suffix = settings.size, settings.image_suffix
    good = sorted(k for k, r in records.items() if "error" not in r)
    skipped = {k: r["error"] for k, r in sorted(records.items()) if "error" in r}
    splits = split_ids(good)
    manifest = {
        "format": "mgpe-prepared",
        "version": 1,
        "schema": schema_obj.to_dict(),
        "size": size,
        "count": len(good),
        "image_suffix": image_suffix,
        "splits": {name: len(ids) for name, ids in splits.items()},
        "split_rule": (
            "ids < 28000 train, the rest test"
            if any(k >= STANDARD_TEST_FROM for k in good)
            else "highest ceil(n/15) ids test (CelebAMask-HQ's 2000/30000 proportion)"
        ),
        "source": {"path": str(root.resolve()), "layout": "CelebAMask-HQ", "faces": len(items),
                   "sides": settings.source_sides},
        "skipped": {str(k): v for k, v in skipped.items()},
    }
    for name, ids in splits.items():
        _write(write_bytes, out / "splits" / f"{name}.txt",
               "".join(f"{k}\n" for k in ids).encode())
    _write(write_json, out / "manifest.json", manifest)


def _write(writer, path: Path, data) -> None:
    try:
        writer(path, data)
    except MgpeError as e:
        raise PrepareWriteError.of(e) from None


def _summary(out, items, todo, records, t0) -> dict:
    good = sorted(k for k, r in records.items() if "error" not in r)
    skipped = {k: r["error"] for k, r in sorted(records.items()) if "error" in r}
    elapsed = time.perf_counter() - t0
    return {
        "out": str(out),
        "faces": len(items),
        "prepared": len(good),
        "reused": len(items) - len(todo),
        "skipped": skipped,
        "splits": {name: len(ids) for name, ids in split_ids(good).items()},
        "seconds": round(elapsed, 3),
        "faces_per_second": round(len(todo) / elapsed, 2) if elapsed > 0 else None,
    }
