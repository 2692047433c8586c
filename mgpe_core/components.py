"""The five local components of the MGPE generator, as a data table, plus their masks and centres.

Gu et al. encode a face as five components: left eye, right eye, mouth (fixed-size windows around
the part, whose features are placed back on a canvas at the target mask's part centres) and skin,
hair (dense: the whole image times the component mask). Which schema classes make up a component
is data here (class *names*, resolved against any schema), so a new schema needs no code.

"Left" and "right" are image-left and image-right, as in :mod:`mgpe_core.labels`.

Coordinates are (y, x) in pixels with pixel ``k`` covering ``[k, k + 1)``: a part occupying rows
``y0..y1`` (inclusive) has centre ``(y0 + y1 + 1) / 2``, which is what the window crops of
:mod:`mgpe_core.model.crops` expect (a window as large as the part then crops it exactly).

The table and :func:`window_size` need no torch (they are read by config code on the CLI start-up
path); the mask/centre functions import torch when called.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .errors import UsageError
from .labels import LabelSchema, get_schema

#: The resolution the window sizes of the table are given at (the paper's).
BASE_RESOLUTION = 256


@dataclass(frozen=True)
class Component:
    """One local component.

    ``classes``: schema class names that belong to it (names missing from a schema are skipped).
    ``kind``: ``"window"`` (fixed-size crop around the part centre) or ``"dense"`` (whole image
    times the component mask). ``window``: (h, w) at :data:`BASE_RESOLUTION` px, None for dense
    components. ``fallback``: centre as fractions (y, x) of the image height/width, used when the
    part is absent from a mask.
    """

    name: str
    classes: tuple[str, ...]
    kind: str
    window: tuple[int, int] | None
    fallback: tuple[float, float]


COMPONENTS: tuple[Component, ...] = (
    Component("l_eye", ("l_eye",), "window", (32, 48), (0.47, 0.37)),
    Component("r_eye", ("r_eye",), "window", (32, 48), (0.47, 0.63)),
    Component("mouth", ("u_lip", "mouth", "l_lip"), "window", (80, 144), (0.73, 0.5)),
    # the neck, in schemas that have it (mgpe-13, celebamask-19), takes the skin's style: a
    # restyled face never sits on a neck of the photo's tone (mgpe-11 has no neck: background)
    Component("skin", ("skin", "l_brow", "r_brow", "nose", "neck"), "dense", None, (0.5, 0.5)),
    Component("hair", ("hair",), "dense", None, (0.5, 0.5)),
)

COMPONENT_NAMES: tuple[str, ...] = tuple(c.name for c in COMPONENTS)


def get_component(name_or_component: str | Component) -> Component:
    """A component of the table by name (or pass one through)."""
    if isinstance(name_or_component, Component):
        return name_or_component
    for c in COMPONENTS:
        if c.name == name_or_component:
            return c
    raise UsageError(
        f"unknown component {name_or_component!r}; known: {', '.join(COMPONENT_NAMES)}"
    )


def window_size(component: str | Component, resolution: int) -> tuple[int, int]:
    """Window (h, w) of a window component at ``resolution`` px: the table's size scaled
    linearly from :data:`BASE_RESOLUTION`, rounded to the nearest even integer, at least 2.

    At 256 px: eyes (32, 48), mouth (80, 144); at 128 px: (16, 24), (40, 72).
    """
    comp = get_component(component)
    if comp.window is None:
        raise UsageError(f"component {comp.name!r} is dense: it has no window")
    if resolution < 1:
        raise UsageError(f"resolution must be positive, got {resolution}")

    def scale(v: int) -> int:
        return max(2, 2 * math.floor(v * resolution / (2 * BASE_RESOLUTION) + 0.5))

    return scale(comp.window[0]), scale(comp.window[1])


def component_ids(schema: str | LabelSchema) -> list[list[int]]:
    """Schema ids of each component's classes, in table order (missing names skipped)."""
    schema = get_schema(schema)
    return [schema.ids(c.classes) for c in COMPONENTS]


def component_groups(schema: str | LabelSchema):
    """Per class id (a numpy array), the index of the component it belongs to; a class in none
    is a group of its own (``len(COMPONENTS) + id``): what
    :func:`mgpe_core.metrics.artifacts.component_seam_score` compares across a border."""
    import numpy as np

    schema = get_schema(schema)
    groups = np.arange(schema.num_classes) + len(COMPONENTS)
    for index, ids in enumerate(component_ids(schema)):
        groups[ids] = index
    return groups


#: Per component, the classes whose colour its style carries (``loss.region_colour``): the
#: lips without the teeth and mouth interior that share the mouth window, the skin without the
#: brows; the same regions ``mgpe eval`` measures colour transfer in.
COLOUR_CLASSES: tuple[tuple[str, ...], ...] = (
    ("l_eye",), ("r_eye",), ("u_lip", "l_lip"), ("skin", "nose", "neck"), ("hair",),
)


@functools.lru_cache(maxsize=64)
def _lookup(schema: LabelSchema, device, colour: bool = False):
    """(num_classes, 5) bool table: class id -> membership in each component (``colour``: in
    each component's :data:`COLOUR_CLASSES`), cached per schema and device, so a training step
    does no host-to-device copy for it."""
    import torch

    groups = [schema.ids(c) for c in COLOUR_CLASSES] if colour else component_ids(schema)
    table = torch.zeros(schema.num_classes, len(COMPONENTS), dtype=torch.bool)
    for k, ids in enumerate(groups):
        table[ids, k] = True
    return table.to(device)


@functools.lru_cache(maxsize=16)
def _fallback_fractions(device):
    """(5, 2) float32 fallback centres as fractions of (H, W), cached per device."""
    import torch

    return torch.tensor([c.fallback for c in COMPONENTS], dtype=torch.float32).to(device)


def _membership(labels, schema: LabelSchema, colour: bool = False):
    """(B, 5, H, W) bool masks; labels must be ids of ``schema``."""
    if labels.ndim != 3:
        raise UsageError(f"labels must be (B, H, W) ids, got shape {tuple(labels.shape)}")
    table = _lookup(schema, labels.device, colour)
    return table[labels.long()].permute(0, 3, 1, 2)


def colour_masks(labels, schema: str | LabelSchema):
    """Binary mask per component of the classes whose colour it carries
    (:data:`COLOUR_CLASSES`): LongTensor (B, H, W) ids -> FloatTensor (B, 5, H, W)."""
    return _membership(labels, get_schema(schema), colour=True).float().contiguous()


def component_masks(labels, schema: str | LabelSchema):
    """Binary mask per component: LongTensor (B, H, W) ids -> FloatTensor (B, 5, H, W)."""
    schema = get_schema(schema)
    return _membership(labels, schema).float().contiguous()


def component_centres(labels, schema: str | LabelSchema):
    """Bounding-box centre (y, x) of each component's pixels: (B, H, W) ids -> (B, 5, 2) float32.

    Batched over samples and components (no Python loop). A component absent from a mask gets
    its table fallback centre, ``fallback * (H, W)``. For the eyes the box is that of the eye
    class alone; for the mouth, of the lips and mouth together; dense components use all their
    classes.
    """
    import torch

    schema = get_schema(schema)
    masks = _membership(labels, schema)  # (B, 5, H, W) bool
    _, _, h, w = masks.shape
    dev = labels.device
    rows, cols = masks.any(3), masks.any(2)  # (B, 5, H), (B, 5, W)
    ys = torch.arange(h, device=dev, dtype=torch.float32)
    xs = torch.arange(w, device=dev, dtype=torch.float32)
    inf = float("inf")
    y0 = torch.where(rows, ys, inf).amin(2)
    y1 = torch.where(rows, ys + 1, -inf).amax(2)
    x0 = torch.where(cols, xs, inf).amin(2)
    x1 = torch.where(cols, xs + 1, -inf).amax(2)
    present = rows.any(2)  # (B, 5)
    frac = _fallback_fractions(dev)
    fallback = torch.stack([frac[:, 0] * h, frac[:, 1] * w], dim=1)  # (5, 2) pixels
    found = torch.stack([(y0 + y1) / 2, (x0 + x1) / 2], dim=2)  # (B, 5, 2); inf/nan if absent
    return torch.where(present[..., None], found, fallback.expand_as(found))
