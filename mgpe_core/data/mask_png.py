"""Read CelebAMask-HQ part masks (512 px PNGs) as grey-level arrays, fast.

Reading the ~13 part masks of a face is most of `mgpe data prepare`'s work. These PNGs are a
few hundred compressed bytes that inflate to 256 KiB of long runs, where zlib's inflate (used by
PIL) copies byte by byte: PIL takes about 1 ms per mask on the project's CPU machine. The PNG
decoder of ``kornia_rs`` (kornia's own Rust core, installed with kornia) decodes the same file to
the same pixels in about 0.26 ms (``bench/bench_prepare.py``).

The fast path takes only what it is sure of: 8-bit greyscale, non-interlaced PNGs (the format of
CelebAMask-HQ and of mgpe-synth's masks), identified from the file's header. Every other file
(RGB, palette, 1-bit or 16-bit masks, interlaced files), and any file the fast decoder rejects
(corrupt, truncated), goes through PIL, whose ``convert("L")`` defines the grey levels and
whose errors name what is wrong.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

from ..errors import ImageReadError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY, _EIGHT_BITS, _NOT_INTERLACED = 0, 8, 0


def _fast_decoder():
    try:
        from kornia_rs.io import decode_image_png_u8
    except ImportError:  # kornia without its Rust core: PIL does all of it
        return None
    return decode_image_png_u8


def _grey8_shape(data: bytes) -> tuple[int, int] | None:
    """(height, width) when ``data`` starts like an 8-bit greyscale non-interlaced PNG."""
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if (depth, colour, interlace) != (_EIGHT_BITS, _GREY, _NOT_INTERLACED):
        return None
    return height, width


def _decode_with_pil(data: bytes, path: Path) -> np.ndarray:
    from PIL import UnidentifiedImageError

    from ..io import check_pixels, pil_image_module

    Image = pil_image_module()
    try:
        with Image.open(io.BytesIO(data)) as img:
            check_pixels(img.size, path, "part mask")  # from the header, before decoding
            img.load()
            if img.mode != "L":  # RGB, palette, 16-bit, 1-bit ("1" becomes 0 / 255)
                img = img.convert("L")
            return np.asarray(img)
    except UnidentifiedImageError:
        raise ImageReadError(f"corrupt part mask {path}: not an image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"corrupt part mask {path}: {e}") from None


def read_grey_mask(path: Path) -> np.ndarray:
    """The mask's grey levels as an (H, W) uint8 array (PIL's ``convert("L")`` levels)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImageReadError(f"cannot read part mask {path}: {e.strerror or e}") from None
    shape = _grey8_shape(data)
    if shape is not None:  # a decompression bomb is refused before any decoder runs
        from ..io import check_pixels

        check_pixels((shape[1], shape[0]), path, "part mask")
    decode = _fast_decoder() if shape is not None else None
    if decode is not None:
        try:
            return decode(data, shape, "mono")[..., 0]
        except Exception:  # noqa: BLE001 - corrupt or unexpected: PIL decides and explains
            pass
    return _decode_with_pil(data, path)


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source pixel index sampled for each output pixel under nearest resizing (pixel centres)."""
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64), src - 1)


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A slice picking the same elements when ``idx`` is evenly spaced (a view, no gather)."""
    if len(idx) > 1:
        step = int(idx[1] - idx[0])
        if step > 0 and np.array_equal(idx, idx[0] + step * np.arange(len(idx))):
            return slice(int(idx[0]), int(idx[-1]) + 1, step)
    return idx


def sample_nearest(arr: np.ndarray, size: int) -> np.ndarray:
    """``arr`` (H, W) sampled at size x size by :func:`nearest_indices` along both axes."""
    h, w = arr.shape
    if (h, w) == (size, size):
        return arr
    rows, cols = _as_slice(nearest_indices(h, size)), _as_slice(nearest_indices(w, size))
    if isinstance(rows, slice) and isinstance(cols, slice):
        return arr[rows, cols]
    return arr[rows][:, cols]
