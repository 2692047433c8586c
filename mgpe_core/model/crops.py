"""Batched crops of component windows and placement of component features on the canvas.

Both are one ``grid_sample`` call over the whole batch (no Python loop over samples):

- a *fixed* window of size (h, w) whose top-left corner is ``round(centre - size / 2)`` is an
  exact pixel copy (nearest sampling at pixel centres), zero outside the image;
- a *box* crop (the eye-mask variant) samples an arbitrary box bilinearly into (h, w);
- placement is the inverse of a fixed window: canvas pixels inside the window take the feature
  pixel they cover, the rest are zero. Gradients flow to the features.

Coordinates are (y, x) in pixels of the tensor being cropped from / placed into.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def window_origin(centres: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Integer top-left corners (B, 2) of windows of ``size`` centred at ``centres`` (B, 2)."""
    half = torch.tensor([size[0] / 2, size[1] / 2], device=centres.device, dtype=centres.dtype)
    return torch.floor(centres - half + 0.5)


def _pixel_grid(origin: torch.Tensor, size: tuple[int, int], src_hw: tuple[int, int],
                step: torch.Tensor | None = None) -> torch.Tensor:
    """Sampling grid (B, h, w, 2) in grid_sample's normalised (x, y) coordinates for output
    pixel (i, j) -> source point origin + (i + 0.5, j + 0.5) * step (step 1: pixel copy)."""
    b = origin.shape[0]
    dev, dt = origin.device, torch.float32
    i = torch.arange(size[0], device=dev, dtype=dt) + 0.5
    j = torch.arange(size[1], device=dev, dtype=dt) + 0.5
    if step is None:
        step = torch.ones(b, 2, device=dev, dtype=dt)
    ys = origin[:, 0:1].to(dt) + i[None] * step[:, 0:1]  # (B, h)
    xs = origin[:, 1:2].to(dt) + j[None] * step[:, 1:2]  # (B, w)
    gy = ys / src_hw[0] * 2 - 1
    gx = xs / src_hw[1] * 2 - 1
    return torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)


def crop_windows(images: torch.Tensor, centres: torch.Tensor,
                 size: tuple[int, int]) -> torch.Tensor:
    """Exact fixed-size windows (B, C, h, w) around ``centres``; zero outside the image."""
    grid = _pixel_grid(window_origin(centres, size), size, images.shape[-2:])
    return F.grid_sample(images, grid.to(images.dtype), mode="nearest", padding_mode="zeros",
                         align_corners=False)


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample boxes (B, 4) = (y0, x0, y1, x1) in pixels into (B, C, h, w), bilinear."""
    step = (boxes[:, 2:] - boxes[:, :2]) / torch.tensor(size, device=boxes.device,
                                                        dtype=boxes.dtype)
    grid = _pixel_grid(boxes[:, :2], size, images.shape[-2:], step)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def place_windows(features: torch.Tensor, centres: torch.Tensor,
                  canvas_hw: tuple[int, int]) -> torch.Tensor:
    """Paste features (B, C, h, w) onto zero canvases (B, C, H, W) centred at ``centres``."""
    h, w = features.shape[-2:]
    origin = window_origin(centres, (h, w))
    # Canvas pixel (i, j) reads feature pixel (i - oy, j - ox): a grid over the canvas.
    grid = _pixel_grid(-origin, canvas_hw, (h, w))
    return F.grid_sample(features, grid.to(features.dtype), mode="nearest",
                         padding_mode="zeros", align_corners=False)


def mask_boxes(masks: torch.Tensor, fallback_centres: torch.Tensor, aspect: float,
               margin: float = 0.25, min_size: float = 4.0) -> torch.Tensor:
    """Boxes (B, 4) around each mask's pixels for the eye-mask variant.

    The box keeps the window's aspect ratio (h / w = ``aspect``), grows by ``margin`` around the
    bounding box, and is at least ``min_size`` pixels high. An empty mask gives a ``min_size``
    box at the fallback centre.
    """
    b, hgt, wid = masks.shape
    present = masks.flatten(1).any(1)
    ys = torch.arange(hgt, device=masks.device, dtype=torch.float32)
    xs = torch.arange(wid, device=masks.device, dtype=torch.float32)
    rows, cols = masks.any(2), masks.any(1)
    big = 1e9
    y0 = torch.where(rows, ys, big).amin(1)
    y1 = torch.where(rows, ys + 1, -big).amax(1)
    x0 = torch.where(cols, xs, big).amin(1)
    x1 = torch.where(cols, xs + 1, -big).amax(1)
    cy = torch.where(present, (y0 + y1) / 2, fallback_centres[:, 0])
    cx = torch.where(present, (x0 + x1) / 2, fallback_centres[:, 1])
    bh = torch.where(present, (y1 - y0) * (1 + margin), torch.zeros_like(cy))
    bw = torch.where(present, (x1 - x0) * (1 + margin), torch.zeros_like(cx))
    box_h = torch.maximum(torch.maximum(bh, bw * aspect), torch.full_like(bh, min_size))
    box_w = box_h / aspect
    return torch.stack([cy - box_h / 2, cx - box_w / 2, cy + box_h / 2, cx + box_w / 2], 1)
