"""Pictures in and out of the server: uploads decoded only after their header passed mgpe's
pixel limit (a few-KB PNG can declare 40000 x 40000), masks sent by the page checked against
the schema and the photo's mask size, PNG answers."""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np

from mgpe_core.errors import ImageReadError, LabelError, UsageError


class TooLarge(UsageError):
    """An upload or picture over a limit (413)."""


def decode_image(data: bytes, what: str = "upload", formats=None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an uploaded picture, upright (EXIF orientation applied), as
    :func:`mgpe_core.io.read_image` reads files: the header is read and the pixel count
    checked (:func:`mgpe_core.io.check_pixels`) before any pixel is decoded. ``formats``:
    the PIL formats allowed (None: any PIL reads)."""
    from PIL import ImageOps, UnidentifiedImageError

    from mgpe_core.io import check_pixels, pil_image_module, pil_to_rgb

    Image = pil_image_module()
    if formats is not None:
        Image.init()  # every decoder registered, so that each allowed format is known
        formats = [f for f in formats if f in Image.OPEN]
    if not data:
        raise ImageReadError(f"{what} is empty")
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        raise ImageReadError(f"{what} is not an image (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{what}: cannot read the image: {e}") from None
    try:
        check_pixels(img.size, what, "picture")
    except ImageReadError as e:
        raise TooLarge(str(e)) from None
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        arr = pil_to_rgb(img)
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{what}: cannot read the image (truncated or corrupt?): {e}"
                             ) from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{what} is empty")
    return np.ascontiguousarray(arr)


def decode_mask(text, schema, size: tuple[int, int]) -> np.ndarray:
    """A mask sent as base64 PNG (a ``data:`` URL prefix is allowed): ids of ``schema`` at
    ``size`` (width, height). An id PNG naming its schema must name this one; a PNG without
    the chunks (a browser canvas cannot write them) is read as ids: its single channel, or
    the red channel of an RGB(A) picture."""
    from PIL import UnidentifiedImageError

    from mgpe_core.io import check_pixels, pil_image_module

    if not isinstance(text, str) or not text:
        raise UsageError("mask must be a base64 PNG string")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("mask is not valid base64") from None
    Image = pil_image_module()
    try:
        img = Image.open(io.BytesIO(data), formats=["PNG"])
        check_pixels(img.size, "mask", "mask")
        img.load()
    except ImageReadError as e:
        raise TooLarge(str(e)) from None
    except UnidentifiedImageError:
        raise ImageReadError("mask is not a PNG image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"mask: cannot read the image: {e}") from None
    declared = img.info.get("mgpe-schema")
    if declared is not None and declared != schema.name:
        raise LabelError(f"mask is in schema {declared!r}, the model's is {schema.name!r}")
    if img.size != tuple(size):
        raise LabelError(f"mask is {img.size[0]}x{img.size[1]}, the photo's masks are "
                         f"{size[0]}x{size[1]}")
    if img.mode in ("L", "P", "I", "I;16"):
        ids = np.asarray(img if img.mode != "P" else img.convert("L")).astype(np.int64)
    else:
        ids = np.asarray(img.convert("RGB"))[..., 0].astype(np.int64)
    return schema.validate(ids, "mask").astype(np.uint8)


def png(rgb: np.ndarray) -> bytes:
    """PNG bytes of a picture, fast (level 1: an answer, not an archive)."""
    from mgpe_core.io import encode_image

    return encode_image(rgb, ".png", png_level=1)


def mask_png(labels: np.ndarray, schema) -> bytes:
    """An id PNG naming its schema, as ``mgpe parse`` writes it."""
    from mgpe_core.io import encode_label_map

    return encode_label_map(labels, schema)
