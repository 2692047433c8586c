"""Picture helpers shared by commands: grids of images with optional captions.

Numpy + Pillow only (no torch), so any command can make a contact sheet cheaply.
"""

from __future__ import annotations

import numpy as np


def make_grid(
    images: list[np.ndarray],
    ncol: int,
    pad: int = 2,
    background: tuple[int, int, int] = (255, 255, 255),
    captions: list[str] | None = None,
) -> np.ndarray:
    """Tile (H, W, 3) uint8 pictures of one size into rows of ``ncol``; optional captions under
    each tile (Pillow's default bitmap font)."""
    if not images:
        raise ValueError("make_grid needs at least one picture")
    h, w = images[0].shape[:2]
    if any(im.shape[:2] != (h, w) for im in images):
        raise ValueError("make_grid: all pictures must have the same size")
    cap_h = 12 if captions else 0
    nrow = (len(images) + ncol - 1) // ncol
    grid = np.empty((nrow * (h + cap_h + pad) + pad, ncol * (w + pad) + pad, 3), np.uint8)
    grid[:] = background
    for i, im in enumerate(images):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + cap_h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = im[..., :3] if im.ndim == 3 else im[..., None]
    if captions:
        from PIL import Image, ImageDraw

        pil = Image.fromarray(grid)
        draw = ImageDraw.Draw(pil)
        for i, text in enumerate(captions):
            r, c = divmod(i, ncol)
            y, x = pad + r * (h + cap_h + pad) + h, pad + c * (w + pad)
            draw.text((x + 1, y), text[: max(1, w // 6)], fill=(0, 0, 0))
        grid = np.asarray(pil)
    return grid


def fit_square(img: np.ndarray, size: int) -> np.ndarray:
    """``img`` as a size x size grid tile (or itself when it already is one): resized (Lanczos)
    to fit, its aspect ratio kept, centred on white (a portrait photo is not stretched)."""
    if img.shape[:2] == (size, size):
        return img
    from PIL import Image

    h, w = img.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray(img).resize((nw, nh), Image.Resampling.LANCZOS))
    if (nh, nw) == (size, size):
        return small
    tile = np.full((size, size, *img.shape[2:]), 255, dtype=img.dtype)
    top, left = (size - nh) // 2, (size - nw) // 2
    tile[top:top + nh, left:left + nw] = small
    return tile
