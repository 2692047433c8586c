"""Fréchet Inception Distance: statistics of Inception features and the distance between them.

FID between two sets of images is the Fréchet (2-Wasserstein) distance between the Gaussians
fitted to their Inception pool3 features (means ``mu``, covariances ``sigma``)::

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( sqrt( S1^1/2 S2 S1^1/2 ) )

The last trace equals ``tr(sqrt(S1 S2))`` (the form most implementations compute with
``scipy.linalg.sqrtm``, which works on a non-symmetric product and can return complex noise);
here it is computed on the symmetric PSD matrix ``S1^1/2 S2 S1^1/2`` with two symmetric
eigendecompositions (``numpy.linalg.eigh``), which is stable and needs no scipy. Eigenvalues
below rounding level (``n * eps * largest``), including tiny negative ones, count as 0, and
only the nonzero eigen-directions of ``S1`` are kept (exact; faster when ``S1`` has low rank,
as with fewer images than feature dimensions).

Statistics files are ``.npz`` archives read with ``allow_pickle=False``: ``mu``, ``sigma`` and
metadata (``count``, ``preprocessing``, ``weights``, ``format``). Files holding only ``mu`` and
``sigma`` (as other FID tools write them) load too, with unknown metadata.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MgpeError, UsageError
from ..io import IMAGE_SUFFIXES, read_image, write_bytes

STATS_FORMAT = "mgpe-fid-stats-1"


class StatsError(MgpeError):
    """A statistics file is missing, unreadable or inconsistent."""


# -- the distance --------------------------------------------------------------------------------


def _clip_noise(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric PSD matrix with rounding noise (|w| <= n eps max) set to 0."""
    tol = max(float(w.max(initial=0.0)), 0.0) * len(w) * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def _check_gaussian(mu, sigma, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UsageError(f"{which}: expected mu of shape (D,) and sigma of shape (D, D), got "
                         f"{mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UsageError(f"{which}: mu or sigma holds NaN or infinite values")
    return mu, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64 (see the module
    docstring for the formula). Covariances must be symmetric positive semi-definite; the
    result is clamped at 0 (a negative value can only be rounding)."""
    mu1, sigma1 = _check_gaussian(mu1, sigma1, "first statistics")
    mu2, sigma2 = _check_gaussian(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise UsageError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    # S1 = V W V^T, so S1^1/2 S2 S1^1/2 = V (W^1/2 V^T S2 V W^1/2) V^T: same eigenvalues as
    # U^T S2 U with U = V W^1/2, restricted to S1's nonzero eigenvalues (r x r, r = rank S1).
    w1, v1 = np.linalg.eigh((sigma1 + sigma1.T) / 2.0)
    w1 = _clip_noise(w1)
    keep = w1 > 0
    u = v1[:, keep] * np.sqrt(w1[keep])
    inner = u.T @ sigma2 @ u
    w = _clip_noise(np.linalg.eigvalsh((inner + inner.T) / 2.0))
    tr_covmean = float(np.sqrt(w).sum())
    diff = mu1 - mu2
    value = float(diff @ diff) + float(np.trace(sigma1)) + float(np.trace(sigma2)) \
        - 2.0 * tr_covmean
    return max(value, 0.0)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> (mu (D,), sigma (D, D)) in float64; sigma with ddof=1 (N >= 2)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise UsageError(f"expected features of shape (N, D), got {features.shape}")
    if features.shape[0] < 2:
        raise UsageError(f"FID statistics need at least 2 images, got {features.shape[0]}")
    if not np.isfinite(features).all():
        raise MgpeError("features hold NaN or infinite values (bad weights or inputs?)")
    return features.mean(axis=0), np.cov(features, rowvar=False, ddof=1)


# -- statistics files ----------------------------------------------------------------------------


@dataclass
class Stats:
    """Feature statistics of one image set, with where they came from."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int | None = None
    preprocessing: str | None = None
    weights: str | None = None


def save_stats(path: str | os.PathLike, stats: Stats) -> None:
    """Write an ``.npz`` statistics file atomically (no pickled objects inside)."""
    buf = io.BytesIO()
    np.savez(buf, mu=np.asarray(stats.mu, np.float64), sigma=np.asarray(stats.sigma, np.float64),
             count=np.int64(-1 if stats.count is None else stats.count),
             preprocessing=np.str_(stats.preprocessing or ""),
             weights=np.str_(stats.weights or ""), format=np.str_(STATS_FORMAT))
    write_bytes(path, buf.getvalue())


def load_stats(path: str | os.PathLike) -> Stats:
    """Read an ``.npz`` statistics file with ``allow_pickle=False``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise StatsError(f"statistics file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise StatsError(f"{path} is not a readable .npz statistics file: {e}") from None
    if "mu" not in arrays or "sigma" not in arrays:
        raise StatsError(f"{path} is not a FID statistics file: it has no 'mu' and 'sigma' "
                         f"arrays (found: {', '.join(sorted(arrays)) or 'nothing'})")
    try:
        mu, sigma = _check_gaussian(arrays["mu"], arrays["sigma"], str(path))
    except UsageError as e:
        raise StatsError(str(e)) from None

    def text(key: str) -> str | None:
        value = arrays.get(key)
        if value is None or value.ndim != 0:
            return None
        return str(value[()]) or None

    count = arrays.get("count")
    count = int(count) if count is not None and count.ndim == 0 and int(count) >= 0 else None
    return Stats(mu, sigma, count, text("preprocessing"), text("weights"))


# -- features of image folders -------------------------------------------------------------------


def is_mask_file(path: Path) -> bool:
    """Label maps and their colour pictures beside the photos (``*.mask.png``,
    ``*.mask.color.png``) are not photos."""
    name = path.name.lower()
    return name.endswith(".mask.png") or name.endswith(".mask.color.png")


def list_images(folder_or_files: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """The photos of a folder (not recursive, sorted, masks and hidden files skipped) or the
    given files; errors on a missing or empty folder."""
    if isinstance(folder_or_files, str | os.PathLike):
        folder = Path(folder_or_files)
        if not folder.exists():
            raise MgpeError(f"folder not found: {folder}")
        if not folder.is_dir():
            raise MgpeError(f"expected a folder of images (or an .npz statistics file): {folder}")
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                       and not is_mask_file(p) and p.is_file())
        if not files:
            raise MgpeError(f"no images in {folder} (looked for "
                            f"{', '.join(IMAGE_SUFFIXES)}; *.mask.png files are skipped)")
        return files
    files = [Path(p) for p in folder_or_files]
    if not files:
        raise MgpeError("no images given")
    return files


def folder_features(folder_or_files, model, batch: int = 32, device=None,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Inception features (N, 2048) float32 of every photo in a folder (or a list of files).

    Each image is read as RGB, scaled to [0, 1] and resized to 299x299 on its own (so sizes may
    differ), then batches of ``batch`` go through ``model.features``. ``progress(n)`` is called
    after each batch with the number of images done in it.
    """
    import torch

    from ..tensors import images_to_tensor
    from .inception import resize_input

    if batch < 1:
        raise UsageError(f"batch size must be >= 1, got {batch}")
    files = list_images(folder_or_files)
    if device is None:
        device = next(model.parameters()).device
    out = []
    for start in range(0, len(files), batch):
        chunk = []
        for path in files[start:start + batch]:
            x = images_to_tensor(read_image(path), device=device, value_range="unit")
            chunk.append(resize_input(x))
        feats = model.features(torch.cat(chunk))
        out.append(feats.cpu().numpy())
        if progress is not None:
            progress(len(chunk))
    return np.concatenate(out).astype(np.float32, copy=False)
