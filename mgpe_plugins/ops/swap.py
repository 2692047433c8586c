"""Component shape edits: ``swap-mouth``, ``swap-eyes``, ``swap-brows``, ``swap-nose``.

The component's shape from a reference mask is transplanted into the photo's mask, aligned at
the component's centre; every style stays the photo's own (open a mouth, change the eyes).
"""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import Operation

PARTS = {
    "mouth": ("swap_mouth", "the mouth (lips and inner mouth)", "sample:4"),
    "eyes": ("swap_eyes", "both eyes (each at its own centre)", "sample:7"),
    "brows": ("swap_brows", "both eyebrows", "sample:3"),
    "nose": ("swap_nose", "the nose", "sample:5"),
}


class SwapOperation(Operation):
    def __init__(self, part: str):
        self.part = part
        self.function_name, what, ref = PARTS[part]
        self.name = f"swap-{part}"
        self.summary = f"Give the photo the shape of {what} from a reference mask."
        self.example = f"mgpe edit {self.name} sample:0 --reference {ref} -o out.png"

    def options(self):
        return [click.Option(["--reference", "-r"], required=True, metavar="REF",
                             help="Photo (with its mask) or mask file whose shape is used.")]

    def prepare(self, ctx, target, reference):
        from mgpe_core import mask_edit
        from mgpe_core.engine import EditRequest

        ref_labels = ctx.reference_mask(reference)
        edited = getattr(mask_edit, self.function_name)(target.labels, ref_labels, ctx.schema)
        return [EditRequest(target, mask=edited)]


@hookimpl
def register_operations(register):
    for part in PARTS:
        register(SwapOperation(part))
