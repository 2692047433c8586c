"""Torch dataset over a prepared folder, a distributed batch sampler, and unpaired partners.

Training runs two branches per step: *paired* (source == target: reconstruct a face from its own
components) and *unpaired* (component styles from one face, mask and background from another).
The unpaired partner of each sample is another sample of the *same* loaded batch, picked by
:func:`partner_permutation` (a derangement of the batch). This reuses the samples already loaded
and augmented (no second loader, no extra I/O), exactly as the original code permuted the batch to
form unpaired pairs; a derangement additionally guarantees that no "unpaired" sample is silently
paired with itself. Hence :class:`PartnerSampler` yields whole batches (``drop_last`` by default),
so every batch has at least two faces to swap between when ``batch_size > 1``.

Component centres are *not* computed here: augmentation moves the parts, so they are computed on
the device after augmentation with :func:`mgpe_core.components.component_centres`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..errors import DatasetError, UsageError
from ..labels import LabelSchema, convert, get_schema
from .prepared import PreparedFolder


class PortraitDataset(Dataset):
    """Faces of one split of a prepared folder.

    ``schema`` (name or :class:`LabelSchema`) is the model's schema; labels are converted from
    the folder's schema when they differ (default: the folder's own). Items are dicts:

    - ``image``: float32 (3, H, W) in [-1, 1];
    - ``labels``: int64 (H, W) ids of ``schema``;
    - ``index``: the item's index in this dataset; ``id``: the face id in the folder.
    """

    def __init__(self, root: str | os.PathLike | PreparedFolder, split: str = "train",
                 schema: str | LabelSchema | None = None):
        self.folder = root if isinstance(root, PreparedFolder) else PreparedFolder(root)
        self.split = split
        self.ids = self.folder.ids(split)
        self.schema = self.folder.schema if schema is None else get_schema(schema)

    def __len__(self) -> int:
        return len(self.ids)

    def check_files(self) -> None:
        """Refuse, before training starts, a split whose files are not all there: the split
        names faces whose image or label file is missing (deleted, moved, a copy cut short).
        Cheap: one listing of ``images/`` and of ``labels/``, no file opened. A
        :class:`DatasetError` names the first few missing files and their count."""
        folder = self.folder
        present: dict[str, set[str]] = {}
        for sub in ("images", "labels"):
            try:
                present[sub] = {e.name for e in os.scandir(folder.root / sub)}
            except OSError:
                present[sub] = set()
        missing = []
        for face in self.ids:
            for path in (folder.image_path(face), folder.label_path(face)):
                if path.name not in present[path.parent.name]:
                    missing.append(path)
        if missing:
            shown = ", ".join(str(p) for p in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetError(
                f"{folder.root}: {len(missing)} file(s) of the {self.split!r} split are "
                f"missing: {shown}{more} (prepare the folder again with `mgpe data prepare`, "
                "which redoes missing faces)")

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        if not -len(self.ids) <= index < len(self.ids):
            raise IndexError(f"index {index} out of range for {len(self.ids)} faces")
        index %= len(self.ids)
        face = self.ids[index]
        rgb, labels = self.folder.read(face)
        if self.schema != self.folder.schema:
            labels = convert(labels, self.folder.schema, self.schema)
        image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))
        return {
            "image": image.div_(127.5).sub_(1.0),
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "index": index,
            "id": face,
        }


class PartnerSampler(Sampler[list[int]]):
    """Batch sampler: lists of dataset indices for this rank, the same permutation on all ranks.

    Each epoch's order is a permutation drawn from ``(seed, epoch)`` alone (call
    :meth:`set_epoch`), so every rank computes the same one and takes a disjoint shard of it
    (every ``world_size``-th index from ``rank``), as ``DistributedSampler`` does. With
    ``drop_last`` (the default) the order is cut to a multiple of ``world_size`` and incomplete
    batches are dropped, so all ranks run the same number of full batches (the unpaired partner
    of a sample is drawn inside its batch, see :func:`partner_permutation`). Without it, the order
    is padded by repeating its start so every rank has the same count, and a last batch may be
    short.
    """

    def __init__(self, data_source_len: int, batch_size: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True, drop_last: bool = True):
        if data_source_len < 0:
            raise UsageError(f"dataset length must be >= 0, got {data_source_len}")
        if batch_size < 1:
            raise UsageError(f"batch size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise UsageError(f"rank {rank} is not within world size {world_size}")
        self.n = int(data_source_len)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _per_rank(self) -> int:
        if self.drop_last:
            return self.n // self.world_size
        return math.ceil(self.n / self.world_size)

    def __len__(self) -> int:
        per_rank = self._per_rank()
        if self.drop_last:
            return per_rank // self.batch_size
        return math.ceil(per_rank / self.batch_size)

    def order(self) -> list[int]:
        """This epoch's global order (before sharding); identical on every rank."""
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator()
        g.manual_seed((self.seed * 0x9E3779B1 + self.epoch) % (2**63))
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        per_rank = self._per_rank()
        total = per_rank * self.world_size
        if total > len(order) and order:  # pad (drop_last=False): repeat from the start
            order = (order * math.ceil(total / len(order)))[:total]
        shard = order[self.rank:total:self.world_size]
        for start in range(0, len(shard), self.batch_size):
            batch = shard[start:start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                break
            yield batch


def partner_permutation(batch_size: int,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """A random derangement of ``range(batch_size)`` (LongTensor, CPU): sample ``i`` of a batch
    takes its unpaired partner's mask and background from sample ``perm[i]`` != ``i``.

    Uniform over derangements (rejection sampling of permutations; about e tries on average),
    drawn from ``generator`` or torch's global generator. ``batch_size == 1`` gives ``[0]``
    (no other sample exists).
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    ident = torch.arange(batch_size)
    if batch_size == 1:
        return ident
    perm = ident
    for _ in range(100):
        perm = torch.randperm(batch_size, generator=generator)
        if bool((perm != ident).all()):
            return perm
    # Practically unreachable (p ~ 0.63**100): turn the last permutation into one cycle.
    out = torch.empty_like(perm)
    out[perm] = perm.roll(-1)
    return out
