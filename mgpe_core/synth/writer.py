"""Write synthetic faces in the real CelebAMask-HQ on-disk layout.

::

    OUT/CelebA-HQ-img/<k>.jpg                                   (or .png)
    OUT/CelebAMask-HQ-mask-anno/<k // 2000>/<k:05d>_<part>.png   8-bit, 255 = part, 0 = not
    OUT/attributes.jsonl                                        one JSON object per face, id order
    OUT/synth.json                                              generator, version, settings

Part files follow the real dataset's convention: ``l_eye``, ``l_brow``, ``l_ear`` are the
subject's left, on the image's right (the renderer names parts by image side; the writer renames
them), so synthetic and real folders go through ``mgpe data prepare`` the same way.
``synth.json`` records it as ``"sides": "subject"``; folders written before say nothing and hold
image-left parts (``data prepare`` reads them so).

Face ``k`` depends only on ``(seed, k)`` (:func:`face_rng`), so the same seed gives byte-identical
files whatever the number of workers or chunking, and a folder can be extended with ``start``.
Every file is written atomically (temp file + rename), so an interrupted run never leaves a
half-written picture or mask.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import MgpeError
from ..io import encode_image, write_bytes, write_json
from ..labels import CELEBAMASK_CLASSES, other_side
from .attributes import SYNTH_VERSION, apply_lipstick, sample_attributes
from .render import render_face

IMG_DIR = "CelebA-HQ-img"
ANNO_DIR = "CelebAMask-HQ-mask-anno"
ATTRIBUTES = "attributes.jsonl"
SETTINGS = "synth.json"
GENERATOR = "mgpe-synth"
#: What l_/r_ part files mean in folders written now (the real CelebAMask-HQ convention).
SIDES = "subject"
_FORMATS = ("jpg", "png")


def face_rng(seed: int, k: int) -> np.random.Generator:
    """The only source of face ``k``'s randomness."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(k)]))


def face_attributes(seed: int, k: int, lipstick: float = 0.0) -> dict:
    """Attributes of face ``k`` of a dataset made with ``seed``; with ``lipstick`` > 0 that
    share of faces wears lipstick, drawn from a stream of its own (``SeedSequence([seed, k,
    1])``), so the faces are otherwise the same as without."""
    attrs = sample_attributes(face_rng(seed, k))
    if lipstick > 0:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(k), 1]))
        attrs = apply_lipstick(attrs, rng, lipstick)
    return attrs


def _write_face(out: Path, k: int, seed: int, size: int, suffix: str,
                lipstick: float = 0.0) -> dict:
    attrs = face_attributes(seed, k, lipstick)
    image, image_sided = render_face(attrs, size)
    # the renderer names sides as seen in the image; the dataset's l_eye is the subject's left
    parts = {other_side(name): m for name, m in image_sided.items()}
    img_path = out / IMG_DIR / f"{k}{suffix}"
    write_bytes(img_path, encode_image(image, suffix))
    other = img_path.with_suffix(".png" if suffix == ".jpg" else ".jpg")
    other.unlink(missing_ok=True)  # a stale photo from a run in the other format
    sub = out / ANNO_DIR / str(k // 2000)
    for name in CELEBAMASK_CLASSES[1:]:
        path = sub / f"{k:05d}_{name}.png"
        m = parts.get(name)
        if m is None:
            path.unlink(missing_ok=True)  # a part this face lacks must not survive from before
        else:
            write_bytes(path, encode_image(m.astype(np.uint8) * np.uint8(255), ".png"))
    return {"id": k, "seed": {"seed": int(seed), "index": k, "rule": "SeedSequence([seed, id])"},
            "parts": list(parts), **attrs}


def _write_chunk(args) -> list[dict]:
    out, ids, seed, size, suffix, lipstick = args
    return [_write_face(Path(out), k, seed, size, suffix, lipstick) for k in ids]


def _read_existing(path: Path) -> dict[int, dict]:
    if not path.exists():
        return {}
    records = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            records[int(rec["id"])] = rec
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise MgpeError(f"{path}:{n}: not a valid attributes line; use a new folder") from None
    return records


def write_dataset(
    out: str | Path,
    count: int,
    size: int,
    seed: int,
    workers: int = 1,
    image_format: str = "jpg",
    start: int = 0,
    progress: Callable[[int], None] | None = None,
    chunk: int | None = None,
    lipstick: float = 0.0,
) -> dict:
    """Render faces ``start .. start + count - 1`` into ``out``; returns a summary.

    ``progress(n)`` is called with the number of faces just finished (an increment), as they
    finish. ``workers > 1`` renders in a process pool (:mod:`mgpe_core.process_pool`), in
    chunks of ``chunk`` faces (default: about four chunks per worker, at most 16 faces each).
    Re-running over an existing folder extends it: attributes of other ids are kept, those of
    re-rendered ids are replaced, and stale part files of re-rendered ids are removed.
    ``lipstick``: the share of faces wearing lipstick (0, the default, draws nothing: the faces
    of earlier versions).
    """
    t0 = time.perf_counter()
    out = Path(out)
    if image_format not in _FORMATS:
        raise MgpeError(f"image format must be one of {', '.join(_FORMATS)}, got {image_format!r}")
    if not 8 <= int(size) <= 4096:
        raise MgpeError(f"size must be between 8 and 4096 pixels, got {size}")
    if count < 0 or start < 0:
        raise MgpeError(f"count and start must not be negative (got {count}, {start})")
    if not 0.0 <= float(lipstick) <= 1.0:
        raise MgpeError(f"lipstick is a share of faces, between 0 and 1, got {lipstick}")
    size, count, start, seed = int(size), int(count), int(start), int(seed)
    lipstick = float(lipstick)
    workers = max(1, int(workers))
    suffix = "." + image_format

    settings_path = out / SETTINGS
    previous = None
    if settings_path.exists():
        previous = json.loads(settings_path.read_text())
        if previous.get("size") != size:
            raise MgpeError(f"{out} holds {previous.get('size')} px faces, not {size} px; "
                            "use a new folder")
        if previous.get("sides", "image") != SIDES:
            raise MgpeError(f"{out} was written by an older mgpe, with image-left part files "
                            "(l_eye on the image's left); new faces follow the real dataset "
                            "(l_eye = the subject's left): use a new folder")
        if float(previous.get("lipstick", 0.0)) != lipstick:
            raise MgpeError(f"{out} was made with lipstick {previous.get('lipstick', 0.0)}, "
                            f"not {lipstick}; use a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / IMG_DIR).mkdir(exist_ok=True)
    ids = list(range(start, start + count))
    for sub in sorted({k // 2000 for k in ids}):
        (out / ANNO_DIR / str(sub)).mkdir(parents=True, exist_ok=True)

    records = _read_existing(out / ATTRIBUTES)
    if chunk is None:
        chunk = max(1, min(16, math.ceil(count / (workers * 4)))) if count else 1
    chunks = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
    if workers > 1 and len(chunks) > 1:
        from ..process_pool import process_pool

        jobs = [(str(out), c, seed, size, suffix, lipstick) for c in chunks]
        with process_pool(min(workers, len(chunks))) as pool:
            for recs in pool.imap_unordered(_write_chunk, jobs):
                for rec in recs:
                    records[rec["id"]] = rec
                if progress:
                    progress(len(recs))
    else:
        for k in ids:
            rec = _write_face(out, k, seed, size, suffix, lipstick)
            records[k] = rec
            if progress:
                progress(1)

    lines = "".join(json.dumps(records[k], separators=(",", ":")) + "\n" for k in sorted(records))
    write_bytes(out / ATTRIBUTES, lines.encode())
    from .. import __version__

    runs = list(previous.get("runs", [])) if previous else []
    runs.append({"start": start, "count": count, "seed": seed, "image_format": image_format})
    write_json(settings_path, {
        "generator": GENERATOR,
        "version": SYNTH_VERSION,
        "mgpe_version": __version__,
        "count": len(records),
        "size": size,
        "seed": seed,
        "image_format": image_format,
        "seed_rule": "face k uses numpy.random.SeedSequence([seed, k])"
                     + (", its lipstick SeedSequence([seed, k, 1])" if lipstick else ""),
        "lipstick": lipstick,
        "sides": SIDES,
        "runs": runs,
    })
    elapsed = time.perf_counter() - t0
    part_counts = {name: 0 for name in CELEBAMASK_CLASSES[1:]}
    for k in ids:
        for name in records[k]["parts"]:
            part_counts[name] += 1
    return {
        "out": str(out),
        "count": count,
        "start": start,
        "size": size,
        "seed": seed,
        "image_format": image_format,
        "workers": workers,
        "seconds": round(elapsed, 3),
        "faces_per_second": round(count / elapsed, 2) if elapsed > 0 else None,
        "part_counts": {k: v for k, v in part_counts.items() if v},
    }
