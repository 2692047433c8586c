"""Training the U-Net face parser (``mgpe train-parser``) and measuring it.

The parser is trained with class-weighted cross-entropy on the prepared folder's training split
(with the same device augmentations as the generator), then scored on the test split: pixel
accuracy and mean IoU over the classes present. Its weights and a description go to
``RUN/parser.safetensors`` and ``RUN/parser.json`` (see :mod:`parser_io`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MgpeError
from ..labels import LabelSchema
from ..metrics.segmentation import confusion_matrix, segmentation_scores
from ..model.config import LossConfig, ParserConfig
from ..model.losses import class_weights
from ..model.parser import UNetParser
from .distributed import precision_context
from .parser_io import save_parser
from .runs import portable_name

__all__ = ["confusion_matrix", "segmentation_scores", "train_parser", "evaluate_parser"]


@torch.no_grad()
def evaluate_parser(parser: UNetParser, dataset, device, batch: int = 16) -> dict:
    from torch.utils.data import DataLoader

    parser.eval()
    k = dataset.schema.num_classes
    conf = torch.zeros(k, k, dtype=torch.long)
    for b in DataLoader(dataset, batch_size=batch):
        pred = parser.parse(b["image"].to(device)).cpu()
        conf += confusion_matrix(pred, b["labels"], k)
    return segmentation_scores(conf, dataset.schema.classes)


def _init_weights(init_from: str | Path, schema: LabelSchema) -> tuple[dict, ParserConfig]:
    """State dict and architecture of the parser to continue from (checked to predict
    ``schema``)."""
    from .parser_io import load_parser

    parser, meta = load_parser(init_from)
    theirs = meta["schema_obj"]
    if theirs.classes != schema.classes:
        raise MgpeError(f"--init-from {init_from}: that parser predicts schema {theirs.name!r} "
                        f"({theirs.num_classes} classes), not {schema.name!r}")
    return {k: v.detach().clone() for k, v in parser.state_dict().items()}, parser.cfg


def train_parser(
    data_dir: str | Path, run_dir: str | Path, schema: LabelSchema, steps: int = 2000,
    batch: int = 8, lr: float = 1e-3, cfg: ParserConfig | None = None, seed: int = 0,
    device: torch.device | str = "cpu", precision: str = "fp32", augment: bool = True,
    on_step: Callable[[int, float], None] | None = None, init_from: str | Path | None = None,
) -> dict:
    """Train (or, with ``init_from``, a parser folder or a model, continue training: its
    architecture and weights, fresh optimizer) and score on the test split. The class weights
    of the loss are recorded in the saved config (``trained_class_weights``)."""
    from torch.utils.data import DataLoader

    from ..data.augment import PortraitAugment
    from ..data.dataset import PortraitDataset

    device = torch.device(device)
    torch.manual_seed(seed)
    np.random.seed(seed)
    train_set = PortraitDataset(data_dir, split="train", schema=schema)
    if len(train_set) == 0:
        raise MgpeError(f"{data_dir}: the training split is empty")
    train_set.check_files()  # a missing file fails now, not when training reaches it
    resolution = train_set.folder.size
    weights = class_weights(LossConfig(), schema)
    init_state = None
    if init_from is not None:
        init_state, cfg = _init_weights(init_from, schema)
    cfg = replace(cfg or ParserConfig(), trained_class_weights=tuple(weights.tolist()))
    parser = UNetParser(schema, cfg)
    if init_state is not None:
        parser.load_state_dict(init_state)
    parser.to(device)
    weights = weights.to(device)
    opt = torch.optim.Adam(parser.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1),
                                                pct_start=0.1)
    aug = PortraitAugment(schema).to(device) if augment else None
    loader = DataLoader(train_set, batch_size=min(batch, len(train_set)), shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    step, t0 = 0, time.perf_counter()
    parser.train()
    while step < steps:
        for b in loader:
            img, lab = b["image"].to(device), b["labels"].to(device)
            if aug is not None:
                img, lab = aug(img, lab)
            with precision_context(precision, device):
                loss = F.cross_entropy(parser(img).float(), lab, weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if on_step:
                on_step(step, float(loss.detach()))
            if step >= steps:
                break
    seconds = time.perf_counter() - t0
    try:
        test_set = PortraitDataset(data_dir, split="test", schema=schema)
    except MgpeError:
        test_set = None
    scores = evaluate_parser(parser, test_set if test_set is not None and len(test_set) else
                             train_set, device)
    scores["split"] = "test" if test_set is not None and len(test_set) else "train"
    save_parser(run_dir, parser, cfg, schema, resolution, metrics=scores,
                extra={"recipe": {"data": portable_name(data_dir), "steps": steps,
                                  "batch": batch, "lr": lr, "seed": seed,
                                  "seconds": round(seconds, 1),
                                  **({"init_from": portable_name(init_from)} if init_from
                                     else {})}})
    return {"run": str(run_dir), "steps": steps, "seconds": round(seconds, 2), **scores}
