"""A model's calibrated style match: how a restyled class's colour offset blends what the
generator gets wrong and what the photos say.

The engine removes the generator's colour error from a restyled part
(:func:`~mgpe_core.colour_match.style_offsets`). Measured on mgpe-synth faces, where the true
transfer is known (``mgpe eval``: the target re-rendered with the source's colour attribute),
the style source's error alone is not the edit's error for small parts: a restyled lip keeps
part of the error the generator makes on the *target's* lips (its light and shape), an eye's
lightness is the target's while its hue is the source's. A linear blend per class and Lab
axis of four terms (:data:`~mgpe_core.colour_match.TERMS`),

    offset = w_source * (source photo - source re-rendered)
           + w_target * (target photo - target re-rendered)
           + w_source_photo * (source photo - edit) + w_target_photo * (target photo - edit)

(each a mean Lab colour over the class's interior), fitted by least squares on pairs of
another seed than the held-out set (:mod:`mgpe_core.style_calibration`), is stored in
config.json::

    "style_match": {"classes": {"u_lip": {"source": [L, a, b], "target": [L, a, b],
                                          "source_photo": [...], "target_photo": [...]}, ...},
                    "fit": {...how it was measured...}}

A term a class does not name weighs 0; a class it does not name takes the source's error
alone (:data:`~mgpe_core.colour_match.UNCALIBRATED`): a model without the field edits as
before calibration existed.
"""

from __future__ import annotations

import numpy as np

from .colour_match import TERMS, UNCALIBRATED, StyleWeights

#: config.json's field holding the fitted weights.
FIELD = "style_match"

#: A weight beyond this is no fit of a colour error (the fit's are within about 1.5): a
#: hand-edited or corrupt config.json, refused rather than used to paint faces.
MAX_WEIGHT = 4.0


def _vector(value, where: str, error) -> np.ndarray:
    try:
        vec = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        vec = None
    if vec is None or vec.shape != (3,) or not np.isfinite(vec).all() \
            or np.abs(vec).max() > MAX_WEIGHT:
        raise error(f"{where} must be 3 numbers (L, a, b weights within +-{MAX_WEIGHT:g}), "
                    f"got {value!r}")
    return vec


def weights_from_config(entry, schema, where: str, error) -> dict[int, StyleWeights]:
    """Class id -> :class:`~mgpe_core.colour_match.StyleWeights` of a config.json
    ``style_match`` value (None: empty). Classes the schema lacks are skipped (a variant of
    another schema shares its config's intent, not its ids); a malformed entry is ``error``
    (an exception class) naming ``where`` and the field."""
    if entry is None:
        return {}
    classes = entry.get("classes") if isinstance(entry, dict) else None
    if not isinstance(classes, dict):
        raise error(f"{where}: {FIELD} must be an object with a 'classes' object")
    out = {}
    for name, w in classes.items():
        if not isinstance(w, dict) or not w or not set(w) <= set(TERMS):
            raise error(f"{where}: {FIELD}.classes[{name!r}] must be an object with some of "
                        f"{', '.join(repr(t) for t in TERMS)}")
        if name not in schema.classes:
            continue
        out[schema.index(name)] = StyleWeights.of(**{
            t: _vector(v, f"{where}: {FIELD}.classes[{name!r}].{t}", error)
            for t, v in w.items()})
    return out


def model_style_weights(model) -> dict[int, StyleWeights]:
    """A loaded model's calibrated weights by class id (empty when config.json has none);
    ModelError for a malformed field."""
    from .registry import ModelError

    meta = getattr(model, "meta", None) or {}
    return weights_from_config(meta.get(FIELD), model.schema, f"model {model.name}",
                               ModelError)


def weights_to_config(weights: dict[int, StyleWeights], schema) -> dict:
    """The ``classes`` object of config.json for ``weights`` (class names, every term,
    rounded to 4 decimals)."""
    return {schema.classes[c]: {t: [round(float(v), 4) for v in row]
                                for t, row in zip(TERMS, w.terms, strict=True)}
            for c, w in sorted(weights.items())}


def uses_target(weights: dict[int, StyleWeights], classes) -> bool:
    """Whether any of ``classes`` weighs a target term: the target must then be re-rendered
    too."""
    return any(weights.get(c, UNCALIBRATED).uses_target() for c in classes)


#: The fit's pull towards :data:`~mgpe_core.colour_match.UNCALIBRATED`, as a share of the
#: normal matrix's mean diagonal: enough to keep a class with few or collinear samples near
#: the source's error alone, too little to move a well-measured fit.
RIDGE = 0.01


def fit_weights(terms: np.ndarray, residual: np.ndarray, ridge: float = RIDGE) -> StyleWeights:
    """Per Lab axis, the least-squares weights with ``residual ~ sum_k w_k * terms[:, k]``
    (``terms``: (n, len(TERMS), 3), each pair's :func:`~mgpe_core.colour_match.offset_terms`;
    ``residual``: (n, 3), the true transfer's mean colour minus the unmatched edit's), shrunk
    towards :data:`~mgpe_core.colour_match.UNCALIBRATED` by ``ridge``."""
    x_all = np.asarray(terms, dtype=np.float64).reshape(-1, len(TERMS), 3)
    res = np.asarray(residual, dtype=np.float64).reshape(-1, 3)
    out = np.zeros((len(TERMS), 3))
    for k in range(3):
        x = x_all[:, :, k]
        normal = x.T @ x
        lam = ridge * max(float(np.trace(normal)) / len(TERMS), 1e-9)
        prior = UNCALIBRATED.terms[:, k]
        out[:, k] = np.linalg.solve(normal + lam * np.eye(len(TERMS)),
                                    x.T @ res[:, k] + lam * prior)
    return StyleWeights(out)


def remaining_error(weights: StyleWeights, terms, residual) -> float:
    """Mean delta E 1976 left between the true transfer and the edit once ``weights``' offset
    is added (``residual`` minus the offset, per pair)."""
    offset = (np.asarray(terms) * weights.terms).sum(axis=1)
    return float(np.linalg.norm(np.asarray(residual) - offset, axis=1).mean())
