"""A model's calibrated style match: how much of the style source's and of the target's
rendering errors each restyled class's colour offset takes.

The engine removes the generator's colour error from a restyled part
(:func:`~mgpe_core.colour_match.style_offsets`). Measured on mgpe-synth faces, where the true
transfer is known (``mgpe eval``: the target re-rendered with the source's colour attribute),
the style source's error alone is not the edit's error for small parts: a restyled lip keeps
part of the error the generator makes on the *target's* lips (its light and shape), an eye's
lightness is the target's while its hue is the source's. A linear blend per class and Lab axis,

    offset = w_source * (source photo - source re-rendered) + w_target * (target photo -
             target re-rendered),

fitted by least squares on pairs of another seed than the held-out set
(:mod:`mgpe_core.style_calibration`), is stored in config.json::

    "style_match": {"classes": {"u_lip": {"source": [L, a, b], "target": [L, a, b]}, ...},
                    "fit": {...how it was measured...}}

A class it does not name takes the source's error alone (:data:`~mgpe_core.colour_match.
UNCALIBRATED`): a model without the field edits as before calibration existed.
"""

from __future__ import annotations

import numpy as np

from .colour_match import UNCALIBRATED, StyleWeights

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
        if not isinstance(w, dict) or set(w) != {"source", "target"}:
            raise error(f"{where}: {FIELD}.classes[{name!r}] must be an object with 'source' "
                        "and 'target'")
        if name not in schema.classes:
            continue
        out[schema.index(name)] = StyleWeights(
            _vector(w["source"], f"{where}: {FIELD}.classes[{name!r}].source", error),
            _vector(w["target"], f"{where}: {FIELD}.classes[{name!r}].target", error))
    return out


def model_style_weights(model) -> dict[int, StyleWeights]:
    """A loaded model's calibrated weights by class id (empty when config.json has none);
    ModelError for a malformed field."""
    from .registry import ModelError

    meta = getattr(model, "meta", None) or {}
    return weights_from_config(meta.get(FIELD), model.schema, f"model {model.name}",
                               ModelError)


def weights_to_config(weights: dict[int, StyleWeights], schema) -> dict:
    """The ``classes`` object of config.json for ``weights`` (class names, rounded to 4
    decimals)."""
    return {schema.classes[c]: {"source": [round(float(v), 4) for v in w.source],
                                "target": [round(float(v), 4) for v in w.target]}
            for c, w in sorted(weights.items())}


def uses_target(weights: dict[int, StyleWeights], classes) -> bool:
    """Whether any of ``classes`` takes part of the target's rendering error: the target must
    then be re-rendered too."""
    return any(np.any(weights.get(c, UNCALIBRATED).target != 0) for c in classes)


#: The fit's pull towards :data:`~mgpe_core.colour_match.UNCALIBRATED`, as a share of the
#: normal matrix's mean diagonal: enough to keep a class with few or collinear samples near
#: today's behaviour, too little to move a well-measured fit.
RIDGE = 0.01


def fit_weights(source: np.ndarray, target: np.ndarray, residual: np.ndarray,
                ridge: float = RIDGE) -> StyleWeights:
    """Per Lab axis, the least-squares ``w_source, w_target`` with ``residual ~ w_source *
    source + w_target * target`` (each (n, 3): a class's rendering error on the style source
    and on the target, and the true transfer's mean colour minus the unmatched edit's, per
    pair), shrunk towards (1, 0) by ``ridge``."""
    src, tgt, res = (np.asarray(a, dtype=np.float64).reshape(-1, 3)
                     for a in (source, target, residual))
    prior = np.array([1.0, 0.0])
    ws, wt = np.zeros(3), np.zeros(3)
    for k in range(3):
        x = np.stack([src[:, k], tgt[:, k]], axis=1)
        normal = x.T @ x
        lam = ridge * max(float(np.trace(normal)) / 2, 1e-9)
        ws[k], wt[k] = np.linalg.solve(normal + lam * np.eye(2), x.T @ res[:, k] + lam * prior)
    return StyleWeights(ws, wt)


def remaining_error(weights: StyleWeights, source, target, residual) -> float:
    """Mean delta E 1976 left between the true transfer and the edit once ``weights``' offset
    is added (``residual`` minus the offset, per pair)."""
    left = np.asarray(residual) - weights.source * np.asarray(source) \
        - weights.target * np.asarray(target)
    return float(np.linalg.norm(left, axis=1).mean())
