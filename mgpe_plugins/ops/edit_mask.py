"""``edit-mask``: a whole user-painted mask replaces the photo's; styles stay the photo's."""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import DemoCase, EvalCase, Operation


class EditMask(Operation):
    name = "edit-mask"
    summary = "Render the photo following a new, user-painted mask (same size as the photo)."
    example = "mgpe edit edit-mask photo.png --new-mask painted.mask.png -o out.png"

    def options(self):
        return [click.Option(["--new-mask"], required=True, metavar="NEW",
                             help="The new mask (id PNG naming its schema, or a colour mask "
                                  "in the model's palette), or sample:N's mask.")]

    def prepare(self, ctx, target, new_mask):
        from mgpe_core.engine import EditRequest
        from mgpe_core.errors import LabelError

        mask = ctx.mask_only(new_mask)
        if mask.shape != target.labels.shape:
            raise LabelError(f"--new-mask {new_mask} is {mask.shape[1]}x{mask.shape[0]} but the "
                             f"photo is {target.labels.shape[1]}x{target.labels.shape[0]}")
        return [EditRequest(target, mask=mask)]

    def eval_cases(self):
        # Another test face's whole mask: the whole layout changes, so no locality figure.
        return [EvalCase(self.name, reference="--new-mask", reference_caption="mask source",
                         local=False, benchmark=True, pairing_stream=3)]

    def demo_cases(self):
        return [DemoCase("component_edits", "sample:11", ("--new-mask", "sample:2"),
                         "a whole new mask")]


@hookimpl
def register_operations(register):
    register(EditMask())
