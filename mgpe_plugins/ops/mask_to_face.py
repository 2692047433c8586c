"""``mask-to-face``: many different faces that all follow one mask, one per style source
(files, a folder of photos, or the built-in samples), plus a grid picture."""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import DemoCase, Operation


class MaskToFace(Operation):
    name = "mask-to-face"
    summary = "Generate one face per style source, all following one mask."
    example = "mgpe edit mask-to-face sample:2 --styles samples -o faces/"
    input_kind = "mask"

    def options(self):
        return [
            click.Option(["--styles"], multiple=True, required=True, metavar="SRC",
                         help="Style sources: photos, folders of photos, sample:N, or "
                              "'samples' for every built-in sample. Repeat the option."),
            click.Option(["--background"], metavar="IMAGE",
                         help="Photo whose background (mask label 0) the faces get; default: "
                              "the mask's own photo for sample:N, else a neutral grey."),
        ]

    def prepare(self, ctx, target, styles, background):
        import numpy as np

        from mgpe_core.engine import EditRequest, Portrait

        mask = ctx.mask_only(target)
        own_photo = False  # the mask's own photo under it (a sample's), not a canvas
        if background:
            bg = ctx.portrait(background, need_mask=False)
            image = bg.image
            if image.shape[:2] != mask.shape:
                from PIL import Image

                image = np.asarray(Image.fromarray(image).resize(mask.shape[::-1]))
        elif str(target).startswith("sample:"):
            image, own_photo = ctx.portrait(target).image, True
        else:
            image = np.full((*mask.shape, 3), 128, np.uint8)
        canvas = Portrait(image, mask, f"mask {target}")
        sources = ctx.expand_sources(styles)
        # a grey or another picture under the mask shows no face: style matching must not
        # read the target's parts from it
        return [EditRequest(canvas, mask=mask, canvas=not own_photo,
                            styles={c: ctx.portrait(s) for c in
                                    ("l_eye", "r_eye", "mouth", "skin", "hair")})
                for s in sources]

    def demo_cases(self):
        styles = ("sample:0", "sample:3", "sample:5", "sample:7", "sample:9", "sample:10")
        return [DemoCase("mask_to_face", "sample:2",
                         tuple(a for s in styles for a in ("--styles", s)),
                         "one mask, many faces")]


@hookimpl
def register_operations(register):
    register(MaskToFace())
