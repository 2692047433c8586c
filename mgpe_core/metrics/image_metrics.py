"""Image-quality and colour metrics for ``mgpe eval``, in numpy (no scipy / scikit-image).

- :func:`psnr`: peak signal-to-noise ratio in dB on [0, 255] values, over all pixels and
  channels; ``inf`` for identical images (:func:`mean_psnr` caps each image at
  :data:`PSNR_CAP` dB so averages and JSON stay finite).
- :func:`ssim`: the structural similarity of Wang et al. (2004) as in their reference code:
  an 11x11 Gaussian window (sigma 1.5), ``K1 = 0.01``, ``K2 = 0.03``, dynamic range 255,
  local statistics over the window (population variances), the SSIM map over the *valid*
  window positions (no padding) averaged, computed on each RGB channel separately and averaged
  over the three channels.
- :func:`rgb_to_lab`: sRGB (D65) -> CIE L*a*b*, :func:`lab_to_rgb` its inverse;
  :func:`delta_e76`: Euclidean distance in Lab.
- :func:`dilate` / :func:`erode`: square (8-neighbour) structuring element, ``radius`` px, on
  bool masks (:mod:`mgpe_core.morphology` does the work).
- :func:`outside_change`: mean absolute change (in /255 units) of the pixels outside a region.
"""

from __future__ import annotations

import math

import numpy as np

from .. import morphology
from ..errors import UsageError

#: Per-image PSNR cap (dB) used by :func:`mean_psnr`: identical images score this, not inf.
PSNR_CAP = 100.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: Linear sRGB -> CIE XYZ (D65), IEC 61966-2-1.
RGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
#: The D65 reference white as the matrix maps it (the row sums), so sRGB white is exactly
#: neutral (a* = b* = 0); equals (0.95047, 1.0, 1.08883) to 5 decimals.
WHITE_D65 = RGB_TO_XYZ.sum(axis=1)


def _pair(a, b, what: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise UsageError(f"{what}: shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise UsageError(f"{what}: expected (H, W) or (H, W, C) images, got shape {a.shape}")
    return a, b


# -- PSNR ------------------------------------------------------------------------------------------


def psnr(a, b, data_range: float = 255.0) -> float:
    """``10 log10(data_range^2 / MSE)`` over every pixel and channel; ``inf`` if identical."""
    a, b = _pair(a, b, "psnr")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range ** 2 / mse)


def mean_psnr(pairs, cap: float = PSNR_CAP, masks=None) -> float:
    """Mean over (a, b) pairs of ``min(psnr(a, b), cap)``; with ``masks`` (one bool (H, W)
    per pair), each PSNR over the pixels its mask selects (pairs with an empty mask are left
    out)."""
    if masks is None:
        values = [min(psnr(a, b), cap) for a, b in pairs]
    else:
        values = [min(psnr(np.asarray(a)[m], np.asarray(b)[m]), cap)
                  for (a, b), m in zip(pairs, masks, strict=True) if m.any()]
    if not values:
        raise UsageError("mean_psnr: no image pairs")
    return float(np.mean(values))


# -- SSIM ------------------------------------------------------------------------------------------


def gaussian_kernel(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps (the 2-D window is its outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return k / k.sum()


def _filter_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of (H, W) with the outer product of ``k`` with itself."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, len(k), axis=0) @ k  # (H - n + 1, W)
    return sliding_window_view(x, len(k), axis=1) @ k  # (H - n + 1, W - n + 1)


def ssim_map(a, b, data_range: float = 255.0, window: int = SSIM_WINDOW,
             sigma: float = SSIM_SIGMA) -> np.ndarray:
    """SSIM map of two single-channel (H, W) images over the valid window positions."""
    a, b = _pair(a, b, "ssim")
    if a.ndim != 2:
        raise UsageError(f"ssim_map: expected single-channel (H, W) images, got {a.shape}")
    if min(a.shape) < window:
        raise UsageError(f"ssim: images of {a.shape[1]}x{a.shape[0]} px are smaller than the "
                         f"{window}x{window} window")
    k = gaussian_kernel(window, sigma)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, k), _filter_valid(b, k)
    var_a = _filter_valid(a * a, k) - mu_a ** 2
    var_b = _filter_valid(b * b, k) - mu_b ** 2
    cov = _filter_valid(a * b, k) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return num / den


def ssim(a, b, data_range: float = 255.0) -> float:
    """Mean SSIM; for (H, W, C) images the mean over channels of each channel's mean SSIM."""
    a, b = _pair(a, b, "ssim")
    if a.ndim == 2:
        return float(ssim_map(a, b, data_range).mean())
    return float(np.mean([ssim_map(a[..., c], b[..., c], data_range).mean()
                          for c in range(a.shape[2])]))


# -- colour ----------------------------------------------------------------------------------------


def srgb_to_linear(rgb) -> np.ndarray:
    """sRGB values in [0, 255] -> linear light in [0, 1] (the IEC 61966-2-1 curve)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB (..., 3) in [0, 255] (any dtype) -> CIE L*a*b* (..., 3) float64, D65 white.

    White -> (100, 0, 0); black -> (0, 0, 0); pure red (255, 0, 0) -> (53.24, 80.09, 67.20).
    """
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise UsageError(f"rgb_to_lab: expected (..., 3) colours, got shape {rgb.shape}")
    xyz = srgb_to_linear(rgb) @ RGB_TO_XYZ.T / WHITE_D65
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def linear_to_srgb(linear) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB values in [0, 255] (float; the inverse of
    :func:`srgb_to_linear`, not clipped)."""
    c = np.asarray(linear, dtype=np.float64)
    curve = 1.055 * np.maximum(c, 0.0) ** (1 / 2.4) - 0.055
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, curve)


def lab_to_rgb(lab) -> np.ndarray:
    """CIE L*a*b* (..., 3), D65 white -> sRGB (..., 3) float64 in [0, 255]: the inverse of
    :func:`rgb_to_lab` (to 1e-6 of a level) for colours inside the sRGB gamut; colours outside
    it are clipped to the gamut's box per channel in linear light."""
    lab = np.asarray(lab, dtype=np.float64)
    if lab.shape[-1:] != (3,):
        raise UsageError(f"lab_to_rgb: expected (..., 3) colours, got shape {lab.shape}")
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    delta = 6.0 / 29.0
    xyz = np.where(f > delta, f ** 3, 3.0 * delta ** 2 * (f - 4.0 / 29.0)) * WHITE_D65
    linear = np.clip(xyz @ np.linalg.inv(RGB_TO_XYZ).T, 0.0, 1.0)
    return linear_to_srgb(linear)


def delta_e76(lab1, lab2) -> np.ndarray | float:
    """CIE 1976 colour difference: Euclidean distance between Lab colours (last axis)."""
    d = np.linalg.norm(np.asarray(lab1, np.float64) - np.asarray(lab2, np.float64), axis=-1)
    return float(d) if np.ndim(d) == 0 else d


def mean_lab(image: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """Mean Lab colour of the pixels of ``image`` (H, W, 3) where ``region`` is True (each
    pixel converted to Lab, then averaged); None for an empty region."""
    region = np.asarray(region, dtype=bool)
    if not region.any():
        return None
    return rgb_to_lab(np.asarray(image)[region]).mean(axis=0)


# -- regions ---------------------------------------------------------------------------------------


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a (2r+1) x (2r+1) square; pixels beyond the border repeat the edge.

    :func:`mgpe_core.morphology.dilate` on the mask cast to bool: callers here pass 0/1 or
    bool regions and use ``~`` on the result, which needs bool."""
    return morphology.dilate(np.asarray(mask, dtype=bool), radius)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion by a (2r+1) x (2r+1) square (the dual of :func:`dilate`): a pixel stays
    when its whole square neighbourhood is in the mask; the border repeats the edge pixels."""
    return morphology.erode(np.asarray(mask, dtype=bool), radius)


def outside_change(output: np.ndarray, reference: np.ndarray, region: np.ndarray) -> float | None:
    """Mean absolute difference, in /255 units averaged over RGB, of the pixels *outside*
    ``region`` (a bool mask); None when every pixel is inside."""
    output, reference = _pair(output, reference, "outside_change")
    keep = ~np.asarray(region, dtype=bool)
    if keep.shape != output.shape[:2]:
        raise UsageError(f"outside_change: region {keep.shape} does not match the images "
                         f"{output.shape[:2]}")
    if not keep.any():
        return None
    return float(np.abs(output[keep] - reference[keep]).mean() / 255.0)
