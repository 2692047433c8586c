"""Component shape edits: ``swap-mouth``, ``swap-eyes``, ``swap-brows``, ``swap-nose``.

The component's shape from a reference mask is transplanted into the photo's mask, aligned at
the component's centre; every style stays the photo's own (open a mouth, change the eyes).

The geometry is here, built on the core's generic primitive
(:func:`mgpe_core.mask_edit.transplant`): the mouth moves as one piece (lips and inner mouth at
their joint centre), eyes and brows each at their own centre, eyes may cover glasses. numpy and
the core's mask primitives are imported inside the functions, so loading this plugin (as
``mgpe --help`` does) stays cheap.
"""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.operations import DemoCase, EvalCase, Operation

MOUTH_CLASSES: tuple[str, ...] = ("u_lip", "mouth", "l_lip")
BROW_CLASSES: tuple[str, ...] = ("l_brow", "r_brow")
EYE_CLASSES: tuple[str, ...] = ("l_eye", "r_eye")


# -- the geometry ------------------------------------------------------------------------------


def swap_mouth(labels, reference, schema, *, scale: float | None = None,
               match_size: bool = False):
    """The reference's mouth (upper lip, inner mouth, lower lip together, at their joint
    centre) replaces the photo's. The inner mouth may be absent from either (closed mouth);
    a schema without a ``mouth`` class swaps the lips alone."""
    from mgpe_core.mask_edit import require_classes, transplant

    require_classes(schema, ("u_lip", "l_lip"), "swap_mouth")
    names = [n for n in MOUTH_CLASSES if n in schema.classes]
    return transplant(labels, reference, names, schema, scale=scale, match_size=match_size)


def _swap_pair(labels, reference, schema, names, purpose, extra_overwrite=(), **kw):
    """Each class of ``names`` transplanted at its own centre (left and right parts)."""
    from mgpe_core.mask_edit import reference_like, require_classes, require_present, transplant

    require_classes(schema, names, purpose)
    photo = schema.validate(labels, "photo mask")
    require_present(reference_like(reference, photo.shape, schema), schema, names)
    extra = [n for n in extra_overwrite if n in schema.classes]
    out = photo
    for name in names:
        out = transplant(out, reference, [name], schema, overwrite=("skin", name, *extra), **kw)
    return out


def swap_eyes(labels, reference, schema, *, scale: float | None = None,
              match_size: bool = False):
    """Each eye of the reference replaces the photo's, aligned at its own centre. Eyes may
    also be pasted over glasses (``eye_g``) where the schema has them."""
    return _swap_pair(labels, reference, schema, EYE_CLASSES, "swap_eyes", ("eye_g",),
                      scale=scale, match_size=match_size)


def swap_brows(labels, reference, schema, *, scale: float | None = None,
               match_size: bool = False):
    """Each eyebrow of the reference replaces the photo's, aligned at its own centre."""
    return _swap_pair(labels, reference, schema, BROW_CLASSES, "swap_brows",
                      scale=scale, match_size=match_size)


def swap_nose(labels, reference, schema, *, scale: float | None = None,
              match_size: bool = False):
    """The reference's nose replaces the photo's, aligned at its centre."""
    from mgpe_core.mask_edit import transplant

    return transplant(labels, reference, ["nose"], schema, scale=scale, match_size=match_size)


#: part -> (geometry, what it swaps, a reference for the example)
PARTS = {
    "mouth": (swap_mouth, "the mouth (lips and inner mouth)", "sample:4"),
    "eyes": (swap_eyes, "both eyes (each at its own centre)", "sample:7"),
    "brows": (swap_brows, "both eyebrows", "sample:3"),
    "nose": (swap_nose, "the nose", "sample:5"),
}

#: How `mgpe eval` scores each swap. Mouth and eyes are in the default benchmark (their pairing
#: streams 1 and 2 keep the recorded figures comparable); brows and nose run with --ops.
EVAL = {
    "mouth": EvalCase("swap-mouth", reference="--reference", differ=("mouth_state",),
                      benchmark=True, pairing_stream=1),
    "eyes": EvalCase("swap-eyes", reference="--reference", benchmark=True, pairing_stream=2),
    "brows": EvalCase("swap-brows", reference="--reference"),
    "nose": EvalCase("swap-nose", reference="--reference"),
}

DEMO = {
    "mouth": [DemoCase("component_edits", "sample:5", ("--reference", "sample:6"),
                       "open the mouth"),
              DemoCase("component_edits", "sample:10", ("--reference", "sample:7"),
                       "close the mouth")],
    "eyes": [DemoCase("component_edits", "sample:2", ("--reference", "sample:7"),
                      "other eyes")],
}


class SwapOperation(Operation):
    def __init__(self, part: str):
        self.part = part
        self.geometry, what, ref = PARTS[part]
        self.name = f"swap-{part}"
        self.summary = f"Give the photo the shape of {what} from a reference mask."
        self.example = f"mgpe edit {self.name} sample:0 --reference {ref} -o out.png"

    def options(self):
        return [click.Option(["--reference", "-r"], required=True, metavar="REF",
                             help="Photo (with its mask) or mask file whose shape is used.")]

    def prepare(self, ctx, target, reference):
        from mgpe_core.engine import EditRequest

        ref_labels = ctx.reference_mask(reference)
        edited = self.geometry(target.labels, ref_labels, ctx.schema)
        return [EditRequest(target, mask=edited)]

    def eval_cases(self):
        return [EVAL[self.part]]

    def demo_cases(self):
        return DEMO.get(self.part, [])


@hookimpl
def register_operations(register):
    for part in PARTS:
        register(SwapOperation(part))
