"""``style``: per-region style transfer. The embedding of each named region comes from another
photo (hair colour, lip colour, iris colour, beard via the skin style); layout and every other
region stay the photo's own."""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import ColourCheck, DemoCase, EvalCase, Operation
from mgpe_plugins.ops.regions import (
    REGIONS,
    component_styles,
    region_names,
    region_option,
    region_plan,
)

#: How `mgpe eval` scores style transfer: per region, the classes whose colour is measured and
#: the mgpe-synth attributes that hold it (style sources are picked to differ in them).
SCORED = {
    "hair": ColourCheck("hair", ("hair",), "hair_color", "hair_color_name"),
    "lips": ColourCheck("lips", ("u_lip", "l_lip"), "lip_color"),
    "eyes": ColourCheck("eyes", ("l_eye", "r_eye"), "iris_color", "iris_color_name"),
    "skin": ColourCheck("skin", ("skin",), "skin_tone"),
}


class Style(Operation):
    name = "style"
    summary = "Take the style of some regions (hair, mouth, eyes, skin) from other photos."
    example = "mgpe edit style sample:1 --from sample:5 --regions hair,mouth -o out.png"

    def options(self):
        return [
            click.Option(["--from", "source"], metavar="SRC",
                         help="Style source for every region in --regions."),
            click.Option(["--regions"], default="hair", show_default=True,
                         help=f"Comma-separated: {', '.join(REGIONS)}."),
            region_option(),
        ]

    def prepare(self, ctx, target, source, regions, per_region):
        from mgpe_core.engine import EditRequest
        from mgpe_core.errors import UsageError

        plan = {region: source for region in region_names(regions)} if source else {}
        plan = region_plan(per_region, plan)
        if not plan:
            raise UsageError("style needs --from SRC (with --regions) or --region REGION=SRC")
        styles = component_styles(ctx, plan)
        return [EditRequest(target, styles=styles)]

    def eval_cases(self):
        return [EvalCase(f"style-{region}", ("--regions", region), reference="--from",
                         reference_caption="style source", colour=colour, benchmark=True,
                         pairing_stream=10 + k)
                for k, (region, colour) in enumerate(SCORED.items())]

    def demo_cases(self):
        rows = [("sample:2", "sample:5", "hair", "hair colour"),
                ("sample:7", "sample:4", "lips", "lip colour"),
                ("sample:2", "sample:6", "eyes", "iris colour"),
                ("sample:5", "sample:0", "beard", "grow a beard")]
        return [DemoCase("style_transfer", target, ("--from", src, "--regions", region), label)
                for target, src, region, label in rows]


@hookimpl
def register_operations(register):
    register(Style())
