"""A style for a component the donor photo does not have.

Each component's style is encoded from the donor photo's pixels of that component. A bald photo
has no hair pixels: when an edited mask gives it hair, the hair encoder sees an empty window, a
case the model never met in training (a bald training face has no hair to draw), and it draws
multicoloured speckles. A model may name, per component, a built-in sample whose style stands in
then (config.json ``"default_styles": {"hair": "sample:2", ...}``; :func:`pick_default_styles`
chooses them); the engine applies the rule in :func:`with_default_styles`, so every operation
gets it and a request that names a donor which has the component is never changed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .components import COMPONENT_NAMES, get_component

#: config.json's field naming each component's stand-in donor.
FIELD = "default_styles"

#: A donor with fewer of a component's pixels than this share of its picture has none of it
#: (a parser's stray pixels on a bald head are no hair to take a style from).
MIN_SHARE = 0.0005

def lacks(labels: np.ndarray, component: str, schema) -> bool:
    """True when ``labels`` hold (almost) none of ``component``'s classes (:data:`MIN_SHARE`)."""
    ids = schema.ids(get_component(component).classes)
    return np.isin(labels, ids).sum() < max(1.0, MIN_SHARE * labels.size)


def model_default_styles(model) -> dict:
    """{component: Portrait} of a loaded model's ``default_styles`` (empty when it names none);
    ModelError for an unknown component or a reference that is not an existing ``sample:N``."""
    from .registry import ModelError
    from .samples import SAMPLE_SPEC, sample_count, sample_portrait

    named = (getattr(model, "meta", None) or {}).get(FIELD) or {}
    out = {}
    for comp, ref in named.items():
        if comp not in COMPONENT_NAMES:
            raise ModelError(f"model {model.name}: {FIELD} names unknown component {comp!r} "
                             f"(components: {', '.join(COMPONENT_NAMES)})")
        m = SAMPLE_SPEC.match(ref)
        if not m or int(m.group(1)) >= sample_count():
            raise ModelError(f"model {model.name}: {FIELD}[{comp!r}] = {ref!r} is not a "
                             f"built-in sample (sample:0 to sample:{sample_count() - 1})")
        portrait = sample_portrait(int(m.group(1)), model.schema)
        if lacks(portrait.labels, comp, model.schema):
            raise ModelError(f"model {model.name}: {FIELD}[{comp!r}] = {ref!r} has no {comp}")
        out[comp] = portrait
    return out


def with_default_styles(request, defaults: dict, schema):
    """``request`` with every component that its donor lacks but its (edited) mask has taking
    its style from ``defaults`` (the request itself when nothing changes)."""
    if not defaults:
        return request
    mask = request.mask if request.mask is not None else request.target.labels
    taken = {comp: portrait for comp, portrait in defaults.items()
             if lacks(request.styles.get(comp, request.target).labels, comp, schema)
             and not lacks(mask, comp, schema)}
    return replace(request, styles={**request.styles, **taken}) if taken else request


def pick_default_styles(model, device="cpu") -> dict[str, str]:
    """Per component, the built-in sample whose latent mean (the model's encoders, its default
    weights) is nearest to the mean over every sample that has the component: the most typical
    style the model knows among the samples (a real style, not an average of styles, which a
    decoder never saw). {component: "sample:N"}."""
    import torch

    from .engine import Editor
    from .samples import sample_count, sample_portrait
    from .tensors import images_to_tensor, labels_to_tensor

    editor = Editor(model, device=device, fast=False)
    portraits = [sample_portrait(i, model.schema) for i in range(sample_count())]
    squared = [editor._prepare(p, None) for p in portraits]
    with torch.inference_mode():
        enc = editor.generator.encode(images_to_tensor([s[0] for s in squared], device),
                                      labels_to_tensor([s[1] for s in squared], device))
    picks = {}
    for comp in COMPONENT_NAMES:
        have = [i for i, p in enumerate(portraits) if not lacks(p.labels, comp, model.schema)]
        mus = enc.mu[comp][have].float().flatten(1)
        nearest = int(torch.linalg.vector_norm(mus - mus.mean(0), dim=1).argmin())
        picks[comp] = f"sample:{have[nearest]}"
    return picks
