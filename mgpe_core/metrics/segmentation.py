"""Segmentation scores: confusion matrices, pixel accuracy and IoU of label maps.

Used to score parsers (``mgpe train-parser``) and edited outputs (``mgpe eval``'s mask
fidelity); it lives with the metrics so that evaluation needs nothing from training.
"""

from __future__ import annotations

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    idx = target.flatten().long() * num_classes + pred.flatten().long()
    return torch.bincount(idx, minlength=num_classes ** 2).view(num_classes, num_classes)


def segmentation_scores(conf: torch.Tensor, classes: tuple[str, ...]) -> dict:
    """Pixel accuracy, mean IoU over classes that occur (in target or prediction), per class."""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    present = union > 0
    iou = torch.where(present, tp / union.clamp(min=1), torch.zeros_like(tp))
    return {
        "pixel_accuracy": float(tp.sum() / conf.sum().clamp(min=1)),
        "mean_iou": float(iou[present].mean()) if present.any() else 0.0,
        "iou": {c: round(float(iou[i]), 4) for i, c in enumerate(classes) if present[i]},
    }
