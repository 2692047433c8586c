"""``edit-mask``: a whole user-painted mask replaces the photo's; styles stay the photo's, except
the regions given another source with ``--region`` (a region the photo lacks, such as hair on
a bald head, has no style of its own to keep: the model draws it from an empty window)."""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import DemoCase, EvalCase, Operation
from mgpe_plugins.ops.regions import component_styles, region_option, region_plan


class EditMask(Operation):
    name = "edit-mask"
    summary = "Render the photo following a new, user-painted mask (the photo's aspect ratio)."
    example = "mgpe edit edit-mask photo.png --new-mask painted.mask.png -o out.png"

    def options(self):
        return [click.Option(["--new-mask"], required=True, metavar="NEW",
                             help="The new mask (id PNG naming its schema, or a colour mask "
                                  "in the model's palette), or sample:N's mask."),
                region_option()]

    def prepare(self, ctx, target, new_mask, per_region=()):
        from mgpe_core.engine import EditRequest
        from mgpe_core.operations import fit_mask

        # a mask of the photo's aspect ratio is scaled to it (nearest); another is refused
        mask = fit_mask(ctx.mask_only(new_mask), target.labels.shape, f"--new-mask {new_mask}")
        styles = component_styles(ctx, region_plan(per_region))
        return [EditRequest(target, mask=mask, styles=styles)]

    def eval_cases(self):
        # Another test face's whole mask: the whole layout changes, so no locality figure.
        return [EvalCase(self.name, reference="--new-mask", reference_caption="mask source",
                         local=False, benchmark=True, pairing_stream=3)]

    def demo_cases(self):
        # sample:11 is bald: the new mask's hair takes its style from the mask's own photo
        return [DemoCase("component_edits", "sample:11",
                         ("--new-mask", "sample:2", "--region", "hair=sample:2"),
                         "a whole new mask")]


@hookimpl
def register_operations(register):
    register(EditMask())
