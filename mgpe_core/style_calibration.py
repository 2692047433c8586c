"""Fitting a model's style match (:mod:`mgpe_core.style_match`) on mgpe-synth pairs.

Every colour case of the benchmark (``mgpe eval``'s hair, lip, eye and skin transfers, through
the registered operations' own ``prepare``) runs on a set rendered with
:data:`CALIBRATION_SEED`, never the held-out seed ``mgpe eval`` scores on, with the style match
off. Per pair and per class of each restyled component, the four
:func:`~mgpe_core.colour_match.offset_terms` are read (the style source's and the target's
rendering errors, the source's and the target's photo colour minus the edit's), and so is
what the offset should be: the true transfer's mean colour minus the edit's over the class's
interior (mgpe-synth re-renders the target with the source's colour attribute: the answer).

:func:`~mgpe_core.style_match.fit_weights` fits the answer from the terms per class, in
each of its forms (per Lab axis, or a map across the axes with a constant). Half the pairs
(odd target faces) are held out to pick the form and to check it against the source's error
alone; a class whose held-out error does not fall keeps the source's error (it is left out of
the result). The weights stored are fitted on all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .colour_match import (
    UNCALIBRATED,
    class_interior,
    edited_colours,
    offset_terms,
    part_colours,
)
from .components import get_component
from .metrics.image_metrics import mean_lab
from .style_match import FORMS, fit_weights, remaining_error, weights_to_config

#: Seed of the calibration set (the held-out evaluation set is :data:`~mgpe_core.evaluate.
#: SYNTH_SEED`; training sets use small seeds).
CALIBRATION_SEED = 8888

#: A class needs this many pairs to be fitted (half of them to be checked on).
MIN_PAIRS = 40


@dataclass
class _Samples:
    terms: list = field(default_factory=list)  # (len(TERMS), 3) per pair
    residual: list = field(default_factory=list)  # (3,) per pair: true - edit
    face: list = field(default_factory=list)  # the target face's index

    def arrays(self, keep=None):
        pick = np.ones(len(self.face), bool) if keep is None else keep
        return (np.asarray(self.terms, dtype=np.float64)[pick],
                np.asarray(self.residual, dtype=np.float64)[pick])


def collect_samples(faces, jobs, truths, schema) -> dict[int, _Samples]:
    """Class id -> the offset terms and the answer (true - edit) of the colour ``jobs``
    (already run: ``output`` set) that have a true transfer."""
    recon = {j.face: j.output for j in jobs if j.op == "reconstruction"}
    classes = range(len(schema.classes))
    parts = {i: part_colours(f.image, recon[i], f.labels, classes)
             for i, f in enumerate(faces) if i in recon}
    samples: dict[int, _Samples] = {}
    for j in jobs:
        if id(j) not in truths or j.reference is None:
            continue
        src, tgt = parts[j.reference], parts[j.face]
        for comp in j.request.restyled():
            ids = [c for c in schema.ids(get_component(comp).classes) if c in src]
            for c, edited in edited_colours(j.output, j.mask, ids).items():
                s = samples.setdefault(c, _Samples())
                s.terms.append(offset_terms(src[c], tgt.get(c), edited))
                s.residual.append(mean_lab(truths[id(j)], class_interior(j.mask, c)) - edited)
                s.face.append(j.face)
    return samples


def fit_samples(samples: dict[int, _Samples], schema) -> tuple[dict, dict]:
    """(weights by class id that pass the held-out check, the per-class report: pairs, the
    mean delta E left to the truth with no match, with the source's error alone and with
    each of the :data:`~mgpe_core.style_match.FORMS`, these on the held-out odd faces, and
    the form kept). Per class the form with the lower held-out error is fitted again on all
    pairs and kept if it beats the source's error alone."""
    weights, report = {}, {}
    for c, s in sorted(samples.items()):
        name = schema.classes[c]
        n = len(s.face)
        if n < MIN_PAIRS:
            report[name] = {"pairs": n, "kept": False, "why": f"fewer than {MIN_PAIRS} pairs"}
            continue
        odd = np.asarray(s.face) % 2 == 1
        train, test = s.arrays(~odd), s.arrays(odd)
        none = float(np.linalg.norm(test[1], axis=1).mean())
        source_only = remaining_error(UNCALIBRATED, *test)
        held_out = {form: remaining_error(fit_weights(*train, form=form), *test)
                    for form in FORMS}
        form = min(held_out, key=held_out.get)
        kept = held_out[form] < source_only
        report[name] = {"pairs": n, "held_out_pairs": int(odd.sum()),
                        "unmatched": round(none, 3), "source_error": round(source_only, 3),
                        **{f: round(e, 3) for f, e in held_out.items()},
                        "calibrated": round(held_out[form], 3), "form": form,
                        "kept": bool(kept)}
        if kept:
            weights[c] = fit_weights(*s.arrays(), form=form)
    return weights, report


def calibrate(model, n: int = 500, device="cpu", progress=None, data_dir=None) -> dict:
    """The ``style_match`` entry of ``model``'s config.json (a name, a path or a
    :class:`~mgpe_core.registry.LoadedModel`), fitted on ``n`` faces of the calibration set
    (generated and cached at the model's resolution unless ``data_dir`` names a prepared
    mgpe-synth folder): ``{"classes": {...}, "fit": {...}}``."""
    from .data.prepared import PreparedFolder
    from .device import resolve_device
    from .engine import Editor
    from .errors import DatasetError, UsageError
    from .evaluate import (
        _load_faces,
        _plan_jobs,
        _Progress,
        _true_transfers,
        default_data_dir,
        generate_test_set,
        read_attributes,
        select_cases,
    )
    from .registry import LoadedModel, load_model

    if not isinstance(n, int) or isinstance(n, bool) or n < 2 * MIN_PAIRS:
        raise UsageError(f"calibration needs at least {2 * MIN_PAIRS} faces (half of them "
                         f"check the fit), got {n!r}")
    prog = _Progress(progress)
    dev = resolve_device(device)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device=dev)
    schema, resolution = loaded.schema, loaded.resolution
    if data_dir is None:
        cache = default_data_dir(resolution, n, CALIBRATION_SEED)
        if not (cache / "manifest.json").is_file():
            prog.describe("rendering calibration faces")
            prog.add_total(2 * n)
        data_dir = generate_test_set(resolution, n, cache, progress=prog, seed=CALIBRATION_SEED)
    folder = PreparedFolder(data_dir)
    attributes = read_attributes(folder)
    ids = folder.ids("all")[:n]
    if attributes is None or len(ids) < 2 * MIN_PAIRS:
        raise DatasetError(f"{folder.root}: calibration needs at least {2 * MIN_PAIRS} "
                           "mgpe-synth faces with their attributes (the true transfer)")
    faces = _load_faces(folder, ids, schema, resolution, attributes)
    cases = [(op, c) for op, c in select_cases() if c.colour is not None]
    jobs = sorted(_plan_jobs(faces, schema, 0, True, cases).jobs, key=lambda j: j.face)
    for j in jobs:
        j.request.match_style = False
    prog.describe("editing")
    prog.add_total(len(jobs))
    results = Editor(loaded, device=dev, style_weights={}).edit(
        [j.request for j in jobs], batch_size=16, progress=prog)
    for j, res in zip(jobs, results, strict=True):
        j.output, j.blended = res.model_image, res.image
    truths = _true_transfers(jobs, faces, cases)
    weights, per_class = fit_samples(collect_samples(faces, jobs, truths, schema),
                                     schema)
    return {"classes": weights_to_config(weights, schema),
            "fit": {"seed": CALIBRATION_SEED, "faces": len(faces),
                    "pairs_with_truth": len(truths), "weights": loaded.weights,
                    "method": "per class, least squares of (true transfer - edit) on the "
                              "source's and the target's rendering errors and photo colours "
                              "minus the edit's, per Lab axis (diagonal) or across the axes "
                              "with a constant (affine), whichever the odd faces favour after "
                              "fitting on the even ones; kept where it beats the source's "
                              "error alone there, then fitted on all pairs",
                    "classes": per_class}}


def store(folder, entry: dict) -> None:
    """``entry`` as the ``style_match`` of the model folder ``folder`` (config.json and its
    hash in manifest.json; :func:`~mgpe_core.registry.update_model_config`)."""
    from .registry import update_model_config
    from .style_match import FIELD

    update_model_config(folder, {FIELD: entry})
