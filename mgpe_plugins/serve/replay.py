"""The replay record of a served edit (``edit.json``): what ``mgpe edit --replay EDIT.json
-o out.png`` needs to give the same picture, with the pictures it names as files beside it
(docs/serve-api.md). The server keeps the pictures of each result in memory and serves them
one by one (``files/NAME``) or all together (``replay.zip``)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

#: Version of the record's format (``"mgpe_edit"``).
FORMAT = 1


def build(studio, photo, photos: dict, op_name: str | None, params: dict,
          styles: dict | None = None, input_kind: str = "image") -> tuple[dict, dict]:
    """(record, files) for an edit of ``photo`` (``op_name`` None: a render, the photo's
    current mask and ``styles`` only). ``files``: file name -> (kind, pixels), kind ``image``
    or ``mask``. Session photos that an option value names (``params`` holding their id) go
    in ``portraits``: crop, own labels and current mask, so the replay loads exactly what the
    server's operation saw."""
    files: dict[str, tuple[str, np.ndarray]] = {}
    record: dict = {"mgpe_edit": FORMAT, "model": studio.model_name, "variant": studio.variant,
                    "op": op_name, "options": _jsonable(params)}
    text = json.dumps(record["options"]) + json.dumps(styles or {})
    named = [pid for pid in photos if pid in text]
    if input_kind == "mask":  # the operation reads the photo's current mask by its id
        record.update(input=photo.pid, align="whole")
        named = list(dict.fromkeys([photo.pid, *named]))
    elif photo.sample is not None:
        record.update(input=f"sample:{photo.sample}", align="whole")
    else:
        files["photo.png"] = ("image", photo.photo)
        record.update(input="photo.png", align="face" if photo.framed else "whole")
        if photo.framed:
            record["face"] = photo.face
    if input_kind != "mask" and not np.array_equal(photo.mask, photo.portrait.labels):
        files["start.mask.png"] = ("mask", photo.mask.copy())
        record["start_mask"] = "start.mask.png"
    if named:
        record["portraits"] = {}
        for pid in named:
            p = photos[pid]
            entry = {"image": f"{pid}.png", "labels": f"{pid}.labels.png",
                     "mask": f"{pid}.mask.png"}
            files[entry["image"]] = ("image", p.portrait.image)
            files[entry["labels"]] = ("mask", p.portrait.labels)
            files[entry["mask"]] = ("mask", p.mask.copy())
            record["portraits"][pid] = entry
    if styles:
        record["styles"] = dict(styles)
    return record, files


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def encode_file(kind: str, pixels: np.ndarray, schema) -> bytes:
    from .pictures import mask_png, png

    return mask_png(pixels, schema) if kind == "mask" else png(pixels)


def zip_bytes(record: dict, files: dict, schema) -> bytes:
    """``edit.json`` and its files in one zip (stored: PNGs are compressed already)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("edit.json", json.dumps(record, indent=2) + "\n")
        for name, (kind, pixels) in files.items():
            z.writestr(name, encode_file(kind, pixels, schema))
    return buf.getvalue()
