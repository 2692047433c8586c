"""Validate a prepared folder and gather its statistics (``mgpe data check``).

Reads every pair once: checks the files exist and decode, sizes match the manifest, label ids lie
within the schema, splits reference existing faces and do not overlap; counts pixels per class.
Problems are collected (the first few per kind are kept with their files), never raised one by
one, so a user sees the whole state of a folder in one run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import MgpeError
from ..io import image_size, read_label_map
from .prepared import PreparedFolder

MAX_EXAMPLES = 5


def check_prepared(
    root: str | Path, progress: Callable[[int], None] | None = None
) -> dict:
    """Return a report dict: ``ok``, ``problems`` (kind -> count and examples), statistics."""
    folder = PreparedFolder(root)
    schema, size = folder.schema, folder.size
    problems: dict[str, dict] = {}

    def problem(kind: str, example: str) -> None:
        entry = problems.setdefault(kind, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < MAX_EXAMPLES:
            entry["examples"].append(example)

    train, test = set(folder.ids("train")), set(folder.ids("test"))
    for k in sorted(train & test):
        problem("id in both splits", str(k))
    counts = np.zeros(schema.num_classes, dtype=np.int64)
    faces_with_class = np.zeros(schema.num_classes, dtype=np.int64)
    checked = 0
    for k in sorted(train | test):
        img_path, lbl_path = folder.image_path(k), folder.label_path(k)
        ok = True
        if not img_path.exists():
            problem("missing image", str(img_path))
            ok = False
        else:
            try:
                w, h = image_size(img_path)
                if (h, w) != (size, size):
                    problem("image of wrong size", f"{img_path} is {w}x{h}, expected {size}")
            except MgpeError as e:
                problem("unreadable image", str(e))
        if not lbl_path.exists():
            problem("missing label map", str(lbl_path))
            ok = False
        else:
            try:
                labels, _ = read_label_map(lbl_path, schema)
                if labels.shape != (size, size):
                    problem("label map of wrong size", f"{lbl_path} is {labels.shape}")
                hist = np.bincount(labels.ravel(), minlength=schema.num_classes)
                counts += hist
                faces_with_class += hist > 0
                if hist[1:].sum() == 0:
                    problem("empty mask (background only)", str(lbl_path))
            except MgpeError as e:
                problem("invalid label map", str(e))
                ok = False
        checked += ok
        if progress:
            progress(1)
    total = max(int(counts.sum()), 1)
    return {
        "root": str(Path(root)),
        "ok": not problems,
        "schema": schema.name,
        "size": size,
        "faces": {"train": len(train), "test": len(test), "checked": checked},
        "problems": problems,
        "classes": [
            {
                "id": i,
                "name": name,
                "pixel_fraction": round(float(counts[i]) / total, 6),
                "faces": int(faces_with_class[i]),
            }
            for i, name in enumerate(schema.classes)
        ],
    }
