"""``flip-mask``: render a photo following its horizontally mirrored mask.

The layout is mirrored (``l_`` and ``r_`` classes swap, see ``LabelSchema.flip``); the background
and, by default, every region's style stay the photo's own. ``--mirror-styles`` also takes the
styles from the mirrored photo, so each eye keeps its look on its new side.

``eval_cases`` and ``demo_cases`` declare how ``mgpe eval`` scores it and what ``mgpe demo``
shows of it, exactly as the built-in operations do.

Only light imports here (click, mgpe_core): numpy and the engine are imported in ``prepare``.
"""

from __future__ import annotations

import click
from mgpe_core import hookimpl
from mgpe_core.operations import DemoCase, EvalCase, Operation


class FlipMask(Operation):
    name = "flip-mask"
    summary = "Render the photo following its horizontally mirrored mask."
    example = "mgpe edit flip-mask sample:0 -o flipped.png"

    def options(self):
        return [
            click.Option(["--mirror-styles"], is_flag=True,
                         help="Also take every region's style from the mirrored photo."),
        ]

    def prepare(self, ctx, target, mirror_styles):
        from mgpe_core.components import COMPONENT_NAMES
        from mgpe_core.engine import EditRequest, Portrait

        flipped = ctx.schema.flip(target.labels)
        styles = {}
        if mirror_styles:
            mirrored = Portrait(target.image[:, ::-1].copy(), flipped, target.name + " (mirrored)")
            styles = {comp: mirrored for comp in COMPONENT_NAMES}
        return [EditRequest(target, mask=flipped, styles=styles)]

    def eval_cases(self):
        # `mgpe eval --ops flip-mask`: does the output follow the mirrored mask (mask fidelity),
        # and how much changes outside the mirrored parts (locality)? Options are written as on
        # the command line. Not part of the default benchmark (benchmark=False), so installing
        # this plugin never changes `mgpe eval`'s default figures.
        return [EvalCase(self.name),
                EvalCase("flip-mask-mirror-styles", ("--mirror-styles",))]

    def demo_cases(self):
        # `mgpe demo`: a row of the component-edits figure, beside the built-in operations.
        return [DemoCase("component_edits", "sample:3", (), "mirrored mask")]


@hookimpl
def register_operations(register):
    register(FlipMask())
