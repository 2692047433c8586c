"""A model's calibrated style match: how a restyled class's colour offset blends what the
generator gets wrong and what the photos say.

The engine removes the generator's colour error from a restyled part
(:func:`~mgpe_core.colour_match.style_offsets`). Measured on mgpe-synth faces, where the true
transfer is known (``mgpe eval``: the target re-rendered with the source's colour attribute),
the style source's error alone is not the edit's error for small parts: a restyled lip keeps
part of the error the generator makes on the *target's* lips (its light and shape), an eye's
lightness is the target's while its hue is the source's. A linear blend per class of four
terms (:data:`~mgpe_core.colour_match.TERMS`), each a mean Lab colour over the class's
interior,

    offset = W_source (source photo - source re-rendered)
           + W_target (target photo - target re-rendered)
           + W_source_photo (source photo - edit) + W_target_photo (target photo - edit) + c

fitted by least squares on pairs of another seed than the held-out set
(:mod:`mgpe_core.style_calibration`), is stored in config.json. A ``W`` is one weight per Lab
axis (the ``diagonal`` form) or a 3x3 map across the axes (the ``affine`` form, which adds the
constant ``c``: an eye's colour mixes a white sclera and the iris, so its lightness says how
much of its hue to move)::

    "style_match": {"classes": {"u_lip": {"source": [L, a, b], "target": [L, a, b],
                                          "source_photo": [...], "target_photo": [...]},
                                "l_eye": {"source": [[LL, La, Lb], [aL, aa, ab], [bL, ba, bb]],
                                          ..., "constant": [L, a, b]}, ...},
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


#: A constant offset beyond this (delta E) is no fit of a colour error either.
MAX_CONSTANT = 30.0

#: The name of the constant in a class's entry (beside the :data:`TERMS`).
CONSTANT = "constant"


def _numbers(value, shapes, limit: float, what: str, where: str, error) -> np.ndarray:
    """``value`` from config.json as a finite array of one of ``shapes``, within ``limit``;
    else ``error`` saying ``where`` must be ``what``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape not in shapes or not np.isfinite(arr).all() \
            or np.abs(arr).max() > limit:
        raise error(f"{where} must be {what}, got {value!r}")
    return arr


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
        if not isinstance(w, dict) or not set(w) - {CONSTANT} \
                or not set(w) <= {*TERMS, CONSTANT}:
            raise error(f"{where}: {FIELD}.classes[{name!r}] must be an object with some of "
                        f"{', '.join(repr(t) for t in TERMS)} (and optionally "
                        f"{CONSTANT!r})")
        if name not in schema.classes:
            continue
        field = f"{where}: {FIELD}.classes[{name!r}]"
        rows = {t: _numbers(v, ((3,), (3, 3)), MAX_WEIGHT, "3 numbers (L, a, b weights) or "
                            f"a 3x3 map, within +-{MAX_WEIGHT:g}", f"{field}.{t}", error)
                for t, v in w.items() if t != CONSTANT}
        const = _numbers(w[CONSTANT], ((3,),), MAX_CONSTANT, "3 numbers (an L, a, b offset "
                         f"within +-{MAX_CONSTANT:g})", f"{field}.{CONSTANT}", error) \
            if CONSTANT in w else None
        out[schema.index(name)] = StyleWeights.of(constant=const, **rows)
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
    rounded to 4 decimals): a diagonal class's terms as 3 numbers, any other's as 3x3 maps
    with its constant."""
    def rounded(a):
        return np.round(np.asarray(a, dtype=np.float64), 4).tolist()

    out = {}
    for c, w in sorted(weights.items()):
        diagonal = w.is_diagonal() and not np.any(w.constant)
        entry = {t: rounded(np.diag(m) if diagonal else m)
                 for t, m in zip(TERMS, w.maps, strict=True)}
        if not diagonal:
            entry[CONSTANT] = rounded(w.constant)
        out[schema.classes[c]] = entry
    return out


def uses_target(weights: dict[int, StyleWeights], classes) -> bool:
    """Whether any of ``classes`` weighs a target term: the target must then be re-rendered
    too."""
    return any(weights.get(c, UNCALIBRATED).uses_target() for c in classes)


#: The fits' pull towards :data:`~mgpe_core.colour_match.UNCALIBRATED`, per form, as a
#: share of the normal matrix's mean diagonal: enough to keep a class with few or collinear
#: samples near the source's error alone, too little to move a well-measured fit. The
#: affine form has 13 weights per axis against 4; fitted on 250 pairs per class of the
#: built-in models, its held-out error was lowest at a tenth of the diagonal's pull.
RIDGE = {"diagonal": 0.01, "affine": 0.001}

#: The forms a fit can take (see the module docstring).
FORMS = tuple(RIDGE)


def _ridge_solve(x: np.ndarray, y: np.ndarray, prior: np.ndarray, ridge: float,
                 free: np.ndarray | None = None) -> np.ndarray:
    """Least squares of ``y ~ x @ w``, shrunk towards ``prior`` by ``ridge`` times the normal
    matrix's mean diagonal, except the columns ``free`` (a bool mask) marks."""
    normal = x.T @ x
    pull = ridge * max(float(np.trace(normal)) / len(normal), 1e-9) * np.ones(len(normal))
    if free is not None:
        pull[free] = 0.0
    return np.linalg.solve(normal + np.diag(pull), x.T @ y + pull[:, None] * prior)


def fit_weights(terms: np.ndarray, residual: np.ndarray, form: str = "diagonal",
                ridge: float | None = None) -> StyleWeights:
    """The least-squares weights with ``residual ~ offset(terms)`` (``terms``: (n,
    len(TERMS), 3), each pair's :func:`~mgpe_core.colour_match.offset_terms`; ``residual``:
    (n, 3), the true transfer's mean colour minus the unmatched edit's), shrunk towards
    :data:`~mgpe_core.colour_match.UNCALIBRATED` by ``ridge`` (default :data:`RIDGE` of the
    form). ``form``: ``diagonal``, a weight per term and Lab axis fitted per axis, or
    ``affine``, a 3x3 map per term and a constant (not shrunk) fitted jointly."""
    if form not in FORMS:
        raise ValueError(f"unknown style-match form {form!r}; known: {', '.join(FORMS)}")
    ridge = RIDGE[form] if ridge is None else ridge
    x_all = np.asarray(terms, dtype=np.float64).reshape(-1, len(TERMS), 3)
    res = np.asarray(residual, dtype=np.float64).reshape(-1, 3)
    prior = UNCALIBRATED.maps
    if form == "diagonal":
        out = np.zeros((len(TERMS), 3))
        for k in range(3):
            out[:, k] = _ridge_solve(x_all[:, :, k], res[:, k:k + 1],
                                     prior[:, k, k][:, None], ridge)[:, 0]
        return StyleWeights.of(**{t: out[i] for i, t in enumerate(TERMS)})
    # affine: columns term-major (term i's axis j at 3i + j), then the constant
    n = len(x_all)
    x = np.concatenate([x_all.reshape(n, -1), np.ones((n, 1))], axis=1)
    free = np.zeros(x.shape[1], bool)
    free[-1] = True
    flat_prior = np.concatenate([prior.transpose(0, 2, 1).reshape(-1, 3), np.zeros((1, 3))])
    w = _ridge_solve(x, res, flat_prior, ridge, free)
    maps = w[:-1].reshape(len(TERMS), 3, 3).transpose(0, 2, 1)
    return StyleWeights(maps, w[-1].copy())


def remaining_error(weights: StyleWeights, terms, residual) -> float:
    """Mean delta E 1976 left between the true transfer and the edit once ``weights``' offset
    is added (``residual`` minus the offset, per pair)."""
    return float(np.linalg.norm(np.asarray(residual) - weights.offset(terms), axis=1).mean())
