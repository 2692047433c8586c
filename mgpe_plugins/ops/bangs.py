"""``bangs``: add hair over the forehead (from a reference mask, else a drawn fringe) or remove
it (replaced by skin). The photo's own hair and skin styles render the new layout."""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import Operation


class Bangs(Operation):
    name = "bangs"
    summary = "Add bangs (from a reference or a drawn fringe) or remove them."
    example = "mgpe edit bangs sample:1 --mode add -o bangs.png"

    def options(self):
        return [
            click.Option(["--mode"], type=click.Choice(["add", "remove"]), required=True),
            click.Option(["--reference", "-r"], metavar="REF",
                         help="add: copy the fringe of this photo's / mask's hair."),
            click.Option(["--depth"], type=click.FloatRange(0.1, 1.0), default=0.6,
                         show_default=True,
                         help="add without reference: how far down to the brows the fringe "
                              "reaches."),
        ]

    def prepare(self, ctx, target, mode, reference, depth):
        from mgpe_core import mask_edit
        from mgpe_core.engine import EditRequest
        from mgpe_core.errors import UsageError

        if mode == "remove":
            if reference:
                raise UsageError("--reference goes with --mode add")
            edited = mask_edit.remove_bangs(target.labels, ctx.schema)
        else:
            ref = ctx.reference_mask(reference) if reference else None
            edited = mask_edit.add_bangs(target.labels, ctx.schema, reference=ref, depth=depth)
        return [EditRequest(target, mask=edited)]


@hookimpl
def register_operations(register):
    register(Bangs())
