"""Read a photo upright: the EXIF orientation applied.

Why: cameras and phones store pictures as the sensor saw them and record the rotation in an
EXIF tag (274, ``Orientation``); every viewer applies it, so that is what the user sees. A face
detector given the stored pixels sees a face lying on its side and finds nothing.
``mgpe_core.io.read_image`` returns the stored pixels; :func:`read_photo` returns what the user
sees (PIL's ``ImageOps.exif_transpose``), with read_image's conversions and error messages.
"""

from __future__ import annotations

import os

import numpy as np

ORIENTATION_TAG = 0x0112


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB, turned upright according to the file's EXIF orientation
    (:func:`mgpe_core.io.read_image`, which every reader of photos uses)."""
    from ..io import read_image

    return read_image(path)


def exif_orientation(path: str | os.PathLike) -> int:
    """The file's EXIF orientation (1 = upright, 2-8 = mirrored / rotated), 1 when absent."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            value = img.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # unreadable headers are read_photo's to report
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1
