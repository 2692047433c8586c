"""Region names users type (``hair``, ``lips``, ``beard``...) and the model components they
stand for, shared by the operations that take a region's style from another photo (``style``,
``edit-mask``): one parser for ``--regions`` and ``--region REGION=SRC``, one error text."""

from __future__ import annotations

import click

#: User-facing region names -> model components.
REGIONS = {
    "hair": ("hair",),
    "mouth": ("mouth",),
    "lips": ("mouth",),
    "eyes": ("l_eye", "r_eye"),
    "skin": ("skin",),
    "beard": ("skin",),
}


def region_names(text: str) -> list[str]:
    """``hair,lips`` -> ``["hair", "lips"]``; an unknown or empty list is a usage error."""
    names = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in names if r not in REGIONS]
    if bad or not names:
        raise click.BadParameter(f"unknown region(s) {bad or text!r}; "
                                 f"choose from {', '.join(REGIONS)}")
    return names


def region_option() -> click.Option:
    """``--region REGION=SRC`` (repeatable), as every operation that takes one spells it."""
    return click.Option(["--region", "per_region"], multiple=True, metavar="REGION=SRC",
                        help="Take REGION's style from SRC, e.g. --region hair=a.png "
                             f"--region eyes=b.png (regions: {', '.join(REGIONS)}).")


def region_plan(per_region, plan: dict[str, str] | None = None) -> dict[str, str]:
    """``("hair=a.png", ...)`` -> ``{"hair": "a.png", ...}``, added to ``plan`` (later wins)."""
    from mgpe_core.errors import UsageError

    plan = dict(plan or {})
    for item in per_region:
        region, sep, src = item.partition("=")
        if not sep or not src:
            raise UsageError(f"--region expects REGION=SRC, got {item!r}")
        region_names(region)
        plan[region.strip()] = src
    return plan


def component_styles(ctx, plan: dict[str, str]) -> dict:
    """Region -> source plan to the engine's component -> portrait styles."""
    styles = {}
    for region, src in plan.items():
        portrait = ctx.portrait(src)
        for comp in REGIONS[region]:
            styles[comp] = portrait
    return styles
