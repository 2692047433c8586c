"""The quality benchmark (``mgpe eval``): a model on held-out faces with known labels.

The benchmark knows no operation by name. Each registered operation declares how it is scored
(:meth:`~mgpe_core.operations.Operation.eval_cases`: options, which option receives another
test face as reference, attributes the pairing must respect, whether a colour is measured), and
every edit goes through that operation's own ``prepare``, as ``mgpe edit`` runs it. The default
benchmark is the cases marked ``benchmark`` (the built-in operations'); ``ops=`` names others,
such as a plugin's.

:func:`evaluate` runs every edit through the engine (one batched :meth:`Editor.edit` call),
parses the outputs with the model's parser in batches and returns a JSON-ready report:

- ``reconstruction``: the engine edit with target = source and nothing changed; PSNR (dB on
  [0, 255], each image capped at :data:`~mgpe_core.metrics.image_metrics.PSNR_CAP`) and SSIM
  (11x11 Gaussian window, sigma 1.5, per RGB channel, averaged) against the input photo.
- ``mask_fidelity``: mean IoU (and pixel accuracy) between the parser's labels of each edited
  output and the edited mask it was asked to follow, per mask-editing case, and pooled; beside
  it the parser's own mIoU on the real photos vs their true labels and on the reconstructions.
  Needs the parser: skipped with a note for models without one.
- ``style_transfer``: per case with a colour check (a region such as hair or lips), the
  engine edit with that region's style from another face. Colour distance (CIE delta E 1976)
  between the mean Lab colour of the region in the engine's result (the target mask's pixels
  of the region's classes, eroded by 1 px; un-eroded when that would leave nothing, as thin
  lips at 64 px) and the mean Lab colour of the same region in the style source photo,
  against the same distance before the transfer (the target photo's own region); ``removed =
  1 - after / before`` (of the means). ``generator_after`` / ``generator_removed``: the same
  for the raw generator output, before the engine removes the generator's colour error
  measured on the style source (:func:`~mgpe_core.colour_match.part_colours`; blended
  with the target's for a calibrated model, :mod:`mgpe_core.style_match`, fitted on another
  seed's faces than these).
  On mgpe-synth faces also against the true transfer, the target re-rendered with the style
  source's colour attribute and nothing else (:func:`_true_transfers`): ``true_before`` /
  ``true_after`` / ``true_removed`` / ``generator_true_removed``, and
  ``true_transfer_removed``, what the true transfer scores on the photo-mean measure above
  (its ceiling for a faithful edit: a part's mean colour also follows the target's lighting
  and the part's shape, which a colour transfer keeps).
- ``locality``: mean absolute change (a fraction of 255) of the pixels outside the edited
  region (:func:`~mgpe_core.engine.edit_region`: the changed mask pixels, reshaped window
  components and restyled components, dilated by
  :func:`locality_radius` px) between the output and the input photo, per local case; the
  total pools the local mask edits (component edits).
  ``outside_change`` of the engine's result (which keeps unedited pixels, blending the
  generated ones in within 2 x :func:`~mgpe_core.engine.blend_radius`), ``generator_change``
  of the raw generator output, and ``reconstruction_change``, the unedited re-rendering's
  change of the same pixels (what re-rendering costs without any edit). Every other metric
  scores the raw generator output.
- ``fid``: FID of the reconstructions and of all unpaired edits vs the real test photos, only
  with Inception weights (``fid_weights``); otherwise an entry saying it was skipped.

Data: a prepared folder (its test split, or every face if that is empty; the first ``n``),
images resized to the model's resolution with the engine's own :func:`~mgpe_core.engine.
to_square` (Lanczos for photos, nearest for labels) when the folder's size differs, labels
converted to the model's schema by class name. ``data_dir=None`` renders a held-out mgpe-synth
set (seed :data:`SYNTH_SEED`, never used for training) into a cache folder and reuses it. When
the folder came from mgpe-synth its ``attributes.jsonl`` steers the pairings (see
:func:`evaluate`).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DatasetError, MgpeError, UsageError

#: Seed of the generated held-out mgpe-synth test set (training sets use small seeds).
SYNTH_SEED = 9999
DEFAULT_N = 200
BATCH = 16

#: Style pairs chosen with attributes differ by at least this delta E in the region's colour.
ATTRIBUTE_MIN_DELTA_E = 10.0


def locality_radius(resolution: int) -> int:
    """Dilation (px) of the changed region before measuring locality: 1/32 of the size, >= 2
    (2 px at 64, 4 at 128, 8 at 256), so the edit's own anti-aliased border is not counted."""
    return max(2, resolution // 32)


# -- progress ------------------------------------------------------------------------------------


class _Progress:
    """Adapts an optional ``progress(n)`` callback (with optional ``set_total`` and
    ``describe``, as :func:`mgpe_core.console.progress_bar` gives) to a growing total."""

    def __init__(self, callback):
        self.callback = callback
        self.total = 0

    def add_total(self, n: int) -> None:
        self.total += n
        if self.callback is not None and hasattr(self.callback, "set_total"):
            self.callback.set_total(self.total)

    def describe(self, text: str) -> None:
        if self.callback is not None and hasattr(self.callback, "describe"):
            self.callback.describe(text)

    def __call__(self, n: int = 1) -> None:
        if self.callback is not None:
            self.callback(n)


# -- data ----------------------------------------------------------------------------------------


def default_data_dir(resolution: int, n: int, seed: int = SYNTH_SEED) -> Path:
    from .registry import mgpe_home

    # "-v2": sets cached before schemas recorded left/right hold image-left celebamask-19 labels
    return mgpe_home() / "eval" / f"synth-{resolution}-seed{seed}-n{n}-v2"


def generate_test_set(resolution: int, n: int, dest: Path | None = None,
                      progress: Callable[[int], None] | None = None,
                      seed: int = SYNTH_SEED) -> Path:
    """The held-out mgpe-synth test set (seed :data:`SYNTH_SEED`, ``n`` faces at
    ``resolution`` px, celebamask-19 labels), built once into ``dest`` (default
    :func:`default_data_dir`) and reused. Another ``seed`` gives another set of the same kind
    (the style match's calibration set, :mod:`mgpe_core.style_calibration`). Built in a
    temporary folder renamed into place, so an interrupted run leaves no half-made cache.
    ``dest/source/`` keeps ``attributes.jsonl``.
    """
    from .data.prepare import prepare_dataset
    from .io import read_json, write_json
    from .synth import write_dataset

    dest = Path(dest) if dest is not None else default_data_dir(resolution, n, seed)
    if (dest / "manifest.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        source = tmp / "source"
        write_dataset(source, count=n, size=resolution, seed=seed, image_format="png",
                      progress=progress)
        prepare_dataset(source, tmp, size=resolution, schema="celebamask-19",
                        image_suffix=".png", progress=progress)
        # The prepared images are all that is read; keep only the attributes and settings.
        for sub in ("CelebA-HQ-img", "CelebAMask-HQ-mask-anno"):
            shutil.rmtree(source / sub, ignore_errors=True)
        manifest = read_json(tmp / "manifest.json")
        manifest["source"] = {**manifest.get("source", {}), "path": str(dest / "source"),
                              "generator": "mgpe-synth", "seed": seed,
                              "held_out": seed == SYNTH_SEED}
        write_json(tmp / "manifest.json", manifest)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / "manifest.json").is_file():  # not a concurrent build: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def read_attributes(folder) -> dict[int, dict] | None:
    """mgpe-synth attributes of a prepared folder's faces (by id), or None when the folder
    did not come from mgpe-synth (no ``attributes.jsonl`` at its recorded source)."""
    import json

    candidates = []
    src = folder.manifest.get("source", {})
    if isinstance(src, dict) and isinstance(src.get("path"), str):
        candidates.append(Path(src["path"]))
    candidates.append(folder.root / "source")
    for root in candidates:
        path = root / "attributes.jsonl"
        if not path.is_file():
            continue
        out = {}
        try:
            for line in path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    out[int(rec["id"])] = rec
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable attributes only lose the pairing hints
        return out
    return None


@dataclass
class _Face:
    id: int
    image: np.ndarray
    labels: np.ndarray
    attrs: dict | None
    portrait: object = None


def _load_faces(folder, ids, schema, resolution: int, attributes) -> list[_Face]:
    from .engine import Portrait, to_square
    from .labels import convert

    faces = []
    for k in ids:
        rgb, labels = folder.read(k)
        labels = convert(labels, folder.schema, schema)
        if rgb.shape[:2] != (resolution, resolution):
            rgb, labels, _ = to_square(rgb, labels, resolution)
        attrs = attributes.get(k) if attributes else None
        face = _Face(k, rgb, labels, attrs)
        face.portrait = Portrait(rgb, labels, name=f"face {k}")
        faces.append(face)
    return faces


# -- pairings ------------------------------------------------------------------------------------


def _partners(n: int, rng: np.random.Generator, ok=None) -> list[int]:
    """A partner j != i for every face i: a random cyclic derangement, then, where ``ok(i, j)``
    is given and fails, the first face in a random order for which it holds (kept if none)."""
    order = rng.permutation(n)
    partner = [0] * n
    for k in range(n):
        partner[int(order[k])] = int(order[(k + 1) % n])
    if ok is not None:
        for i in range(n):
            if not ok(i, partner[i]):
                for j in rng.permutation(n):
                    if int(j) != i and ok(i, int(j)):
                        partner[i] = int(j)
                        break
    return partner


def _reference_filter(faces, case):
    """``ok(i, j)``: face ``j`` may be face ``i``'s reference under the case's attribute rules
    (``differ``: those attributes differ; ``colour``: the region's colour name differs and its
    colour is at least :data:`ATTRIBUTE_MIN_DELTA_E` away). Faces lacking an attribute pass."""
    from .metrics.image_metrics import delta_e76, rgb_to_lab

    colour = case.colour

    def ok(i, j):
        a, b = faces[i].attrs, faces[j].attrs
        if not a or not b:
            return True
        for key in case.differ:
            if key in a and key in b and a[key] == b[key]:
                return False
        if colour is None or colour.attribute is None:
            return True
        if colour.attribute not in a or colour.attribute not in b:
            return True
        if colour.name_attribute and a.get(colour.name_attribute) == b.get(
                colour.name_attribute):
            return False
        return delta_e76(rgb_to_lab(a[colour.attribute]),
                         rgb_to_lab(b[colour.attribute])) >= ATTRIBUTE_MIN_DELTA_E

    return ok


# -- jobs ------------------------------------------------------------------------------------------


@dataclass
class _Job:
    op: str  # "reconstruction" or an evaluation case's label
    face: int  # index into faces
    request: object  # EditRequest
    mask: np.ndarray  # the mask the output should follow
    reference: int | None = None  # index of the reference / style source face
    region: np.ndarray | None = None  # style: the measured region of the target (eroded)
    source_region: np.ndarray | None = None  # style: the same region in the source
    changed: np.ndarray | None = None  # the edited region (for locality)
    output: np.ndarray | None = None  # the raw generator output
    blended: np.ndarray | None = None  # what users get: unedited pixels kept (engine default)
    case: object = None  # its EvalCase (None for reconstructions)

    @property
    def kind(self) -> str:
        """``reconstruction``, ``mask`` (scored by mask fidelity) or ``colour`` (by the colour
        of a restyled region)."""
        if self.case is None:
            return "reconstruction"
        return "mask" if self.case.colour is None else "colour"


@dataclass
class _Plan:
    jobs: list[_Job] = field(default_factory=list)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)

    def skip(self, op: str, reason: str) -> None:
        ops = self.skipped.setdefault(op, {})
        ops[reason] = ops.get(reason, 0) + 1


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) <= 90 else text[:87] + "..."


def select_cases(ops=None) -> list[tuple[object, object]]:
    """(operation, :class:`~mgpe_core.operations.EvalCase`) pairs to run, from the registry.

    ``ops`` None: the default benchmark (cases marked ``benchmark``). Otherwise names of
    operations (all their cases) or of cases (their labels), in the order given. Unknown names
    are a UsageError with suggestions; so is an operation that declares no case."""
    from .errors import did_you_mean
    from .plugins import load_plugins

    state = load_plugins()
    declared = []
    for op in state.operations.values():
        try:
            declared += [(op, case) for case in op.eval_cases()]
        except Exception as e:  # one plugin's bad declaration must not stop the benchmark
            if ops is not None and op.name in ops:
                raise MgpeError(f"operation {op.name!r}: eval_cases() failed: "
                                f"{type(e).__name__}: {e}") from None
    if ops is None:
        chosen = [(op, case) for op, case in declared if case.benchmark]
    else:
        chosen = []
        for name in ops:
            hits = [(op, case) for op, case in declared if name in (op.name, case.label)]
            if not hits:
                if name in state.operations:
                    raise UsageError(f"operation {name!r} declares no evaluation case")
                known = sorted({op.name for op, _ in declared} | {c.label for _, c in declared})
                raise UsageError(f"--ops: unknown operation {name!r}; known: "
                                 f"{', '.join(known)}.{did_you_mean(name, known)}")
            chosen += [hit for hit in hits if hit not in chosen]
    from .operations import operation_options

    labels: dict[str, str] = {}
    for op, case in chosen:
        operation_options(op)  # a plugin's failing options(): one error naming it, now
        if labels.setdefault(case.label, op.name) != op.name:
            raise UsageError(f"evaluation case {case.label!r} is declared by both "
                             f"{labels[case.label]!r} and {op.name!r}")
    return chosen


def _face_spec(i: int) -> str:
    """The name under which test face ``i`` is handed to operations (their REF/SRC value)."""
    return f"eval-face:{i}"


def _pairing_stream(case) -> int:
    import zlib

    if case.pairing_stream is not None:
        return int(case.pairing_stream)
    return 1000 + zlib.crc32(case.label.encode()) % 1_000_000


def _plan_jobs(faces: list[_Face], schema, seed: int, use_attrs: bool, cases) -> _Plan:
    from .engine import EditRequest
    from .operations import OpContext

    plan = _Plan()
    n = len(faces)
    for i, f in enumerate(faces):
        plan.jobs.append(_Job("reconstruction", i, EditRequest(f.portrait), f.labels))
    if n < 2:
        for _, case in cases:
            plan.skip(case.label, "needs at least 2 faces (a reference / style source)")
        return plan
    ctx = OpContext(schema, portraits={_face_spec(i): f.portrait for i, f in enumerate(faces)})
    for op, case in cases:
        _plan_case(plan, ctx, op, case, faces, schema, seed, use_attrs)
    return plan


def _plan_case(plan: _Plan, ctx, op, case, faces, schema, seed: int, use_attrs: bool) -> None:
    """The jobs of one evaluation case: the operation's own ``prepare`` on every face."""
    from .engine import edit_region
    from .operations import parse_options

    label, n = case.label, len(faces)
    ids = None
    if case.colour is not None:
        ids = schema.ids(case.colour.classes)
        if not ids:
            plan.skip(label, f"schema {schema.name} has no {'/'.join(case.colour.classes)} "
                             "class")
            return
        if case.reference is None:
            plan.skip(label, "a colour score needs a style source (the case names no "
                             "reference option)")
            return
    partner = None
    if case.reference is not None:
        rng = np.random.default_rng([int(seed), _pairing_stream(case)])
        partner = _partners(n, rng, _reference_filter(faces, case) if use_attrs else None)
    for i, f in enumerate(faces):
        if use_attrs and case.skip_face is not None:
            reason = case.skip_face(f.attrs)
            if reason:
                plan.skip(label, reason)
                continue
        args, p = list(case.args), None
        if partner is not None:
            p = partner[i]
            args += [case.reference, _face_spec(p)]
        tgt = src = None
        if ids is not None:
            tgt, src = _colour_regions(f.labels, faces[p].labels, ids)
            if tgt is None or src is None:
                plan.skip(label, f"no {case.colour.region} pixels in the "
                                 f"{'target' if tgt is None else 'style source'}")
                continue
        try:
            target = _face_spec(i) if op.input_kind == "mask" else f.portrait
            requests = op.prepare(ctx, target, **parse_options(op, args))
        except MgpeError as e:
            plan.skip(label, _short(e))
            continue
        except (Exception, SystemExit) as e:  # an operation's own bug: name it, stop
            from .plugins import PluginError, fault_text

            raise PluginError(f"operation {op.name!r} failed in prepare() on face {i}: "
                              f"{fault_text(e)}") from e
        for request in requests:
            changed = edit_region(request, schema)
            if ids is not None:
                plan.jobs.append(_Job(label, i, request, f.labels, p, region=tgt,
                                      source_region=src, changed=changed, case=case))
                continue
            if not changed.any():
                plan.skip(label, "the edit changes nothing")
                continue
            mask = request.mask if request.mask is not None else request.target.labels
            plan.jobs.append(_Job(label, i, request, mask, p, changed=changed, case=case))


def _colour_regions(target_labels, source_labels, ids):
    """The measured region of a style case in the target and in the source: the region's
    pixels eroded by 1 px (no border pixels mixing in neighbours' colours), or un-eroded for a
    part thinner than 3 px (lips at 64 px); None where the region is absent."""
    from .metrics.image_metrics import erode

    out = []
    for labels in (target_labels, source_labels):
        m = np.isin(labels, ids)
        if not m.any():
            out.append(None)
            continue
        eroded = erode(m, 1)
        out.append(eroded if eroded.any() else m)
    return out


# -- networks ------------------------------------------------------------------------------------


def _inception_features(model, images: list[np.ndarray], progress) -> np.ndarray:
    from .tensors import images_to_tensor

    feats = []
    for start in range(0, len(images), BATCH):
        chunk = np.stack(images[start:start + BATCH])
        x = images_to_tensor(chunk, value_range="unit")
        feats.append(model.features(x).cpu().numpy())
        progress(len(chunk))
    return np.concatenate(feats).astype(np.float64)


# -- scores --------------------------------------------------------------------------------------


def _r(v, digits: int = 4):
    if v is None:
        return None
    v = float(v)
    return round(v, digits) if math.isfinite(v) else None


def reconstruction_scores(outputs: list[np.ndarray], inputs: list[np.ndarray],
                          backgrounds: list[np.ndarray] | None = None) -> dict:
    """Mean PSNR (each image capped at PSNR_CAP dB) and mean SSIM of outputs vs inputs.

    ``backgrounds`` (each face's background pixels, bool): also the PSNR of the face (every
    other pixel) and of the background alone, so a generator that takes the known background
    as is (``model.background_skip``) shows where its gain comes from."""
    from .metrics.image_metrics import PSNR_CAP, mean_psnr, ssim

    pairs = list(zip(outputs, inputs, strict=True))
    if not pairs:
        return {"n": 0, "psnr": None, "ssim": None}
    scores = {"n": len(pairs), "psnr": _r(mean_psnr(pairs)),
              "ssim": _r(np.mean([ssim(a, b) for a, b in pairs])), "psnr_cap": PSNR_CAP}
    if backgrounds is not None:  # None where no face has such pixels
        for key, masks in (("psnr_face", [~b for b in backgrounds]),
                           ("psnr_background", backgrounds)):
            scores[key] = (_r(mean_psnr(pairs, masks=masks))
                           if any(m.any() for m in masks) else None)
    return scores


#: Regions whose periodic-artifact score ``mgpe eval`` reports (those the schema has).
ARTIFACT_REGIONS = ("hair", "skin")


def artifact_scores(outputs: list[np.ndarray], faces, schema) -> dict:
    """Periodic-artifact scores (:mod:`mgpe_core.metrics.artifacts`) of the reconstructions
    and of the real test faces, per region, and their ratio (generated / real: 1 = as
    grid-free as the real faces)."""
    from .metrics.artifacts import region_scores

    out = {}
    for name in ARTIFACT_REGIONS:
        if name not in schema.classes:
            continue
        k = schema.classes.index(name)
        regions = [f.labels == k for f in faces]
        real = region_scores([f.image for f in faces], regions)
        gen = region_scores(outputs, regions)
        ratio = gen["score"] / real["score"] if gen["score"] and real["score"] else None
        out[name] = {"real": _r(real["score"]), "generated": _r(gen["score"]),
                     "ratio": _r(ratio), "n": min(real["n"], gen["n"])}
    return out


def _seg(pred_target_pairs, schema):
    """Summed confusion matrix (torch, k x k) of (predicted, true) label-map pairs."""
    import torch

    from .metrics.segmentation import confusion_matrix
    from .tensors import labels_to_tensor

    k = schema.num_classes
    conf = torch.zeros(k, k, dtype=torch.long)
    for pred, target in pred_target_pairs:
        conf += confusion_matrix(labels_to_tensor(pred), labels_to_tensor(target), k)
    return conf


def _seg_scores(conf, schema, n: int, per_class: bool = True) -> dict:
    from .metrics.segmentation import segmentation_scores

    s = segmentation_scores(conf, schema.classes)
    out = {"mean_iou": _r(s["mean_iou"]), "pixel_accuracy": _r(s["pixel_accuracy"]), "n": n}
    if per_class:
        out["iou"] = s["iou"]
    return out


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


# -- the benchmark ---------------------------------------------------------------------------------


def evaluate(model, data_dir=None, n: int = DEFAULT_N, seed: int = 0, device="cpu",
             fid_weights=None, progress=None, split: str | None = None,
             compile: bool = False, ops=None, parser=None, match_colour: bool = True) -> dict:
    """Run the benchmark; returns the report (a JSON-ready dict, see the module docstring).

    ``model``: a name or path (loaded with :func:`~mgpe_core.registry.load_model`) or a
    :class:`~mgpe_core.registry.LoadedModel`. ``data_dir``: a prepared folder, or None for the
    cached held-out mgpe-synth set. ``n``: faces used (the first of the split). ``seed``: the
    pairings (which face is whose reference / style source). ``split``: default ``test`` (every
    face when it is empty; every face of a generated set, which is all held out).
    ``progress(k)``: called as work finishes (may have ``set_total`` and ``describe``).
    ``compile``: run the edits with a compiled synthesis network (:class:`~mgpe_core.engine.
    Editor`). ``ops``: operations or case labels to score (:func:`select_cases`); default the
    benchmark's cases. Every edit goes through the registered operation's own ``prepare``,
    as ``mgpe edit`` runs it. ``parser``: another model whose parser scores mask fidelity (a
    converted BiSeNet, another mgpe model), its labels converted to the model's schema by
    class name and handedness; default the model's own. ``match_colour``: the engine's tone
    matching at the blend, to the photo and of restyled parts to their style sources
    (:mod:`~mgpe_core.colour_match`; False: the plain blend and the generator's colours, to
    measure what it does).

    With mgpe-synth attributes, each case's declaration steers the pairs (references that
    differ in the attributes it names, style sources whose region colour differs by at least
    :data:`ATTRIBUTE_MIN_DELTA_E`, faces the case leaves out). Without attributes the pairs are
    a random derangement and edits that change nothing are skipped.
    """
    from .data.prepared import PreparedFolder
    from .device import resolve_device
    from .engine import Editor
    from .registry import LoadedModel, load_model

    t0 = time.perf_counter()
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise UsageError(f"n must be a positive number of faces, got {n!r}")
    dev = resolve_device(device)
    cases = select_cases(ops)  # an unknown --ops name fails before any network loads
    other_parser = parser_for_scoring(parser) if parser is not None else None
    prog = _Progress(progress)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device=dev)
    resolution, schema = loaded.resolution, loaded.schema
    notes: list[str] = []

    generated = data_dir is None
    if generated:
        cache = default_data_dir(resolution, n)
        if not (cache / "manifest.json").is_file():
            prog.describe("rendering held-out faces")
            prog.add_total(2 * n)
        data_dir = generate_test_set(resolution, n, cache, progress=prog)
    folder = PreparedFolder(data_dir)
    if split is None:
        split = "all" if generated else "test"
    ids = folder.ids(split)
    used_split = split
    if not ids and split != "all":
        ids, used_split = folder.ids("all"), "all"
        notes.append(f"the {split} split is empty: every face of the folder is used")
    if not ids:
        raise DatasetError(f"prepared folder {folder.root} has no faces")
    ids = ids[:n]
    attributes = read_attributes(folder)
    if folder.size != resolution:
        notes.append(f"data is {folder.size} px, the model {resolution} px: photos resized "
                     "with the engine's to_square (Lanczos; labels nearest)")
    if folder.schema != schema:
        notes.append(f"labels converted from {folder.schema.name} to {schema.name} by class "
                     "name")
    if len(ids) < n:
        notes.append(f"only {len(ids)} faces available (asked for {n})")

    prog.describe("loading faces")
    t_load = time.perf_counter()
    faces = _load_faces(folder, ids, schema, resolution, attributes)
    use_attrs = attributes is not None and all(f.attrs is not None for f in faces)
    plan = _plan_jobs(faces, schema, seed, use_attrs, cases)
    # Jobs of one face side by side: a batch then encodes each photo once for all its edits.
    jobs = sorted(plan.jobs, key=lambda j: j.face)
    has_parser = other_parser is not None or loaded.parser is not None
    parse_count = (len(faces) * 2 + sum(j.kind == "mask" for j in jobs)) if has_parser else 0
    fid_count = 0
    if fid_weights is not None:
        fid_count = len(faces) * 2 + sum(j.op != "reconstruction" for j in jobs)
    prog.add_total(len(jobs) + parse_count + fid_count)
    timings = {"load": time.perf_counter() - t_load}

    prog.describe("editing")
    t = time.perf_counter()
    for job in jobs:
        job.request.match_colour = job.request.match_style = match_colour
    editor = Editor(loaded, device=dev, compile=compile)
    results = editor.edit([j.request for j in jobs], batch_size=BATCH, progress=prog)
    for job, res in zip(jobs, results, strict=True):
        job.output, job.blended = res.model_image, res.image
    timings["edits"] = time.perf_counter() - t
    recon = {j.face: j for j in jobs if j.op == "reconstruction"}

    report = {
        "model": loaded.name, "model_path": str(loaded.path), "weights": loaded.weights,
        "resolution": resolution, "schema": schema.name, "n": len(faces), "seed": seed,
        "match_colour": match_colour,
        "device": str(dev),
        "data": {"path": str(folder.root), "source": _describe_source(folder, generated),
                 "split": used_split, "size": folder.size, "schema": folder.schema.name,
                 "attributes": use_attrs, "ids": [f.id for f in faces][:10]
                 + (["..."] if len(faces) > 10 else [])},
    }

    # Reconstruction.
    background = schema.index("background")
    report["reconstruction"] = reconstruction_scores(
        [recon[i].output for i in range(len(faces))], [f.image for f in faces],
        [f.labels == background for f in faces])

    report["artifacts"] = artifact_scores(
        [recon[i].output for i in range(len(faces))], faces, schema)

    # Mask fidelity.
    t = time.perf_counter()
    if has_parser:
        prog.describe("parsing")
        # the editor's copy: folded BatchNorm + channels-last, same labels, ~1.5x faster on a CPU
        mask_jobs = [j for j in jobs if j.kind == "mask"]
        parse = editor.parse if other_parser is None else \
            other_parser.bind(schema, dev)
        real = parse([f.image for f in faces], BATCH, prog)
        rec = parse([recon[i].output for i in range(len(faces))], BATCH, prog)
        edited = parse([j.output for j in mask_jobs], BATCH, prog)
        fidelity = {
            "parser": loaded.name if other_parser is None else other_parser.name,
            "parser_on_real": _seg_scores(
                _seg(zip(real, [f.labels for f in faces], strict=True), schema), schema,
                len(faces)),
            "reconstruction": _seg_scores(
                _seg(zip(rec, [f.labels for f in faces], strict=True), schema), schema,
                len(faces), per_class=False),
            "operations": {},
        }
        total = None
        for op in (case.label for _, case in cases if case.colour is None):
            pairs = [(p, j.mask) for p, j in zip(edited, mask_jobs, strict=True) if j.op == op]
            if not pairs:
                continue
            conf = _seg(pairs, schema)
            total = conf if total is None else total + conf
            fidelity["operations"][op] = _seg_scores(conf, schema, len(pairs), per_class=False)
        fidelity["total"] = (_seg_scores(total, schema, len(mask_jobs)) if total is not None
                             else None)
    else:
        fidelity = {"skipped": f"model {loaded.name} has no parser: mask fidelity needs one to "
                               "label the outputs"}
        notes.append(fidelity["skipped"])
    report["mask_fidelity"] = fidelity
    timings["parse"] = time.perf_counter() - t

    # Style transfer.
    t = time.perf_counter()
    truths = _true_transfers(jobs, faces, cases)
    report["style_transfer"] = _style_scores(jobs, faces, cases, truths)

    # Locality, and the seams at the edited regions' borders.
    report["locality"] = _locality_scores(jobs, faces, recon, locality_radius(resolution), cases)
    report["seams"] = seam_scores(jobs, faces, cases, schema, truths)
    timings["metrics"] = time.perf_counter() - t

    # FID.
    t = time.perf_counter()
    if fid_weights is None:
        report["fid"] = {"skipped": "FID skipped: no Inception weights (--fid-weights)"}
    else:
        prog.describe("FID features")
        report["fid"] = _fid_scores(fid_weights, dev, faces, jobs, recon, prog)
    timings["fid"] = time.perf_counter() - t

    report["skipped"] = plan.skipped
    report["notes"] = notes
    report["timings"] = {k: round(v, 3) for k, v in timings.items()}
    report["seconds"] = round(time.perf_counter() - t0, 3)
    report["_examples"] = _example_rows(jobs, faces, schema, cases)  # pictures; not JSON (popped)
    return report


@dataclass
class _OtherParser:
    """Another model's parser for mask fidelity: checked when named (config only), loaded on
    first use; labels converted to the edited model's schema."""

    name: str
    entry: object
    resolution: int

    def bind(self, schema, device):
        from .engine import parse_images
        from .labels import convert
        from .registry import load_model_parser

        entry = self.entry
        parser, own = load_model_parser(entry.path if entry.source == "path" else entry.name,
                                        device=device)

        def parse(images, batch_size, progress):
            return [convert(lab, own, schema) for lab in
                    parse_images(parser, images, self.resolution, device, batch_size, progress)]

        return parse


def parser_for_scoring(name) -> _OtherParser:
    from .registry import find_model

    entry = find_model(name)
    info = entry.describe()
    if not info["has_parser"]:
        raise UsageError(f"parser {name}: model {entry.name} ships no parser")
    return _OtherParser(entry.name, entry, int(info["resolution"]))


def _blend_text(match_colour: bool | None) -> str:
    """The report's line on how edits were blended into the photo (None: a report from
    before the engine matched tones, whose blend was plain)."""
    if match_colour is None:
        return "plain (made before the engine matched tones)"
    return ("tone matched to the photo, restyled parts to their style sources (the engine's "
            "default)" if match_colour else "plain, without tone matching (--no-colour-match)")


def _describe_source(folder, generated: bool) -> str:
    if generated:
        return f"mgpe-synth held-out set (seed {SYNTH_SEED}, generated and cached)"
    src = folder.manifest.get("source", {})
    if isinstance(src, dict) and src.get("path"):
        return f"prepared folder (from {src['path']})"
    return "prepared folder"


#: A held-out face counts as re-renderable from its attributes when rendering them gives its
#: photo back to within this mean absolute difference (levels of 255): then the true transfer
#: of a colour can be rendered for it (:func:`_true_transfers`).
RERENDER_TOLERANCE = 1.0


def _true_transfers(jobs: list[_Job], faces: list[_Face], cases) -> dict[int, np.ndarray]:
    """The true result of each style job whose faces are mgpe-synth faces: the target face
    re-rendered with the style source's colour attribute (``lip_color``, ...) and nothing
    else changed, keyed by ``id(job)``. Empty when the faces lack attributes or their photos
    are not what their attributes render (another size or framing)."""
    from .synth.render import render_face

    attribute = {c.label: getattr(c.colour, "attribute", None) for _, c in cases
                 if c.colour is not None}
    renderable: dict[int, bool] = {}

    def ok(face: _Face) -> bool:
        if face.id not in renderable:
            size = face.image.shape[0]
            try:
                own, _ = render_face(face.attrs, size)
            except (KeyError, TypeError, ValueError):  # attributes of another synth version
                own = None
            renderable[face.id] = own is not None and own.shape == face.image.shape and float(
                np.abs(own.astype(np.float32) - face.image).mean()) <= RERENDER_TOLERANCE
        return renderable[face.id]

    out = {}
    for j in jobs:
        key = attribute.get(j.op)
        if key is None or j.reference is None:
            continue
        target, source = faces[j.face], faces[j.reference]
        if not (target.attrs and source.attrs and key in source.attrs and ok(target)):
            continue
        out[id(j)], _ = render_face({**target.attrs, key: source.attrs[key]},
                                    target.image.shape[0])
    return out


def _style_scores(jobs: list[_Job], faces: list[_Face], cases, truths=None) -> dict:
    """Per restyled region: the colour distance to the style source before and after (the
    engine's result, and the raw generator output: ``generator_after``), and the generator's
    re-rendering floor (``reconstruction``: the same region's distance between the unedited
    reconstruction and the photo itself, what the generator misses with no style change at
    all; ``reachable = 1 - reconstruction / before``: the share a raw output as exact as
    re-rendering would remove); on mgpe-synth faces the same against the true transfer
    (``true_*``, see the module docstring)."""
    from .metrics.image_metrics import delta_e76, mean_lab

    recon = {j.face: j.output for j in jobs if j.op == "reconstruction"}
    truths = _true_transfers(jobs, faces, cases) if truths is None else truths
    regions, pooled = {}, {k: [] for k in ("before", "after", "raw", "t_before", "t_after",
                                           "t_raw")}
    for op, region in ((c.label, c.colour.region) for _, c in cases if c.colour is not None):
        d = {k: [] for k in ("before", "after", "raw", "floor", "t_before", "t_after", "t_raw",
                             "ideal")}
        for j in (j for j in jobs if j.op == op):
            src = mean_lab(faces[j.reference].image, j.source_region)
            own = mean_lab(faces[j.face].image, j.region)
            after, raw = mean_lab(j.blended, j.region), mean_lab(j.output, j.region)
            d["before"].append(delta_e76(own, src))
            d["after"].append(delta_e76(after, src))
            d["raw"].append(delta_e76(raw, src))
            if recon.get(j.face) is not None:
                d["floor"].append(delta_e76(mean_lab(recon[j.face], j.region), own))
            if id(j) in truths:
                true = mean_lab(truths[id(j)], j.region)
                d["t_before"].append(delta_e76(own, true))
                d["t_after"].append(delta_e76(after, true))
                d["t_raw"].append(delta_e76(raw, true))
                d["ideal"].append(delta_e76(true, src))
        if not d["before"]:
            continue
        b, a, g = (float(np.mean(d[k])) for k in ("before", "after", "raw"))
        regions[region] = {"before": _r(b), "after": _r(a), "removed": _share(a, b),
                           "generator_after": _r(g), "generator_removed": _share(g, b),
                           "n": len(d["before"])}
        if d["floor"]:
            f = float(np.mean(d["floor"]))
            regions[region].update(reconstruction=_r(f), reachable=_share(f, b))
        if len(d["t_before"]) == len(d["before"]):  # every pair has its true transfer
            tb, ta, tg, ideal = (float(np.mean(d[k]))
                                 for k in ("t_before", "t_after", "t_raw", "ideal"))
            regions[region].update(
                true_before=_r(tb), true_after=_r(ta), true_removed=_share(ta, tb),
                generator_true_removed=_share(tg, tb), true_transfer_removed=_share(ideal, b))
            for k in ("t_before", "t_after", "t_raw"):
                pooled[k] += d[k]
        for k in ("before", "after", "raw"):
            pooled[k] += d[k]
    total = None
    if pooled["before"]:
        b, a, g = (float(np.mean(pooled[k])) for k in ("before", "after", "raw"))
        total = {"before": _r(b), "after": _r(a), "removed": _share(a, b),
                 "generator_after": _r(g), "generator_removed": _share(g, b),
                 "n": len(pooled["before"])}
        if len(pooled["t_before"]) == len(pooled["before"]):
            tb, ta, tg = (float(np.mean(pooled[k])) for k in ("t_before", "t_after", "t_raw"))
            total.update(true_before=_r(tb), true_after=_r(ta), true_removed=_share(ta, tb),
                         generator_true_removed=_share(tg, tb))
    return {"metric": "delta E 1976 between mean Lab colours (region eroded by 1 px)",
            "regions": regions, "total": total}


def _share(after: float, before: float) -> float | None:
    """The share of ``before`` that ``after`` removed (None when there was nothing to
    remove)."""
    return _r(1 - after / before) if before > 0 else None


def seam_scores(jobs, faces, cases, schema, truths=None) -> dict:
    """Per evaluation case, the mean seam scores of the results users get (unedited pixels
    kept), and over all cases: the excess CIE76 step at the edited region's border
    (:func:`mgpe_core.metrics.artifacts.seam_score`), the same against the true transfer
    where one is known (``truths``, :func:`_true_transfers`: a restyled part's wanted new
    colour steps against its surroundings in the truth too, so only the step beyond the
    truth's counts; the photo elsewhere), what a perfect edit scores on the plain measure
    (``perfect_excess_delta_e``: the truth pasted into the photo, where one is known; it shows
    how much of a style edit's plain score is the recolouring that was asked for), and the
    local break inside a component there
    (:func:`~mgpe_core.metrics.artifacts.component_seam_score`, which a wanted recolouring
    of a whole component does not move)."""
    from .components import component_groups
    from .metrics.artifacts import SEAM_BAND, SEAM_GAP, component_seam_score, seam_score

    truths = truths or {}

    def entry(steps, truth_steps, perfect, breaks):
        return {"excess_delta_e": _r(_mean(steps), 3) if steps else None, "n": len(steps),
                "truth_excess_delta_e": _r(_mean(truth_steps), 3) if truth_steps else None,
                "perfect_excess_delta_e": _r(_mean(perfect), 3) if perfect else None,
                "within_component_delta_e": _r(_mean(breaks), 3) if breaks else None,
                "n_within": len(breaks)}

    groups = component_groups(schema)
    ops, pooled, pooled_truth, pooled_perfect, pooled_within = {}, [], [], [], []
    any_truth = False
    for op in (c.label for _, c in cases):
        done = [j for j in jobs if j.op == op and j.changed is not None]
        vals, truth_vals, perfect_vals = [], [], []
        for j in done:
            photo = faces[j.face].image
            v = seam_score(j.blended, photo, j.changed)
            if v is None:
                continue
            vals.append(v)
            truth = truths.get(id(j))
            truth_vals.append(v if truth is None else seam_score(j.blended, truth, j.changed))
            # a perfect edit: the truth inside the region, the photo around it
            perfect_vals.append(v if truth is None else seam_score(
                np.where(j.changed[..., None], truth, photo), photo, j.changed))
        within = [v for v in (component_seam_score(j.blended, j.changed,
                                                   _job_groups(j, faces, groups, schema))
                              for j in done) if v is not None]
        if vals or within:
            known = any(id(j) in truths for j in done)
            ops[op] = entry(vals, truth_vals, perfect_vals if known else [], within)
            pooled += vals
            pooled_truth += truth_vals
            pooled_perfect += perfect_vals
            pooled_within += within
            any_truth = any_truth or known
    return {"band_px": SEAM_BAND, "unit": "CIE76 step across the border, minus the photo's",
            "within_component_gap_px": SEAM_GAP,
            "within_component_unit": f"CIE76 between pixels {SEAM_GAP} px apart across the "
                                     "border, same component on both sides, minus the same "
                                     "pairs near it not across it",
            "operations": ops,
            "truth_unit": "the same minus the true transfer's step where one is known (style "
                          "edits on mgpe-synth faces), else minus the photo's",
            "perfect_unit": "the plain step of the true transfer pasted into the photo: "
                            "what a perfect style edit scores (over all edits: the others' "
                            "own scores)",
            "total": entry(pooled, pooled_truth, pooled_perfect if any_truth else [],
                           pooled_within)
            if pooled or pooled_within else None}


def _job_groups(job, faces, groups: np.ndarray, schema) -> np.ndarray:
    """Per pixel of ``job``'s edited mask, the component :func:`~mgpe_core.metrics.
    artifacts.component_seam_score` compares: its class's (``groups``, by class id), and a
    restyled component's for the background along that component's outline
    (:func:`~mgpe_core.restyled_fringe.restyled_fringe`). Those pixels mix the part's colour
    in and are recoloured with it: a pair across them is a pair across the part's border, a
    wanted recolouring, not a break inside the background."""
    from .restyled_fringe import restyled_fringes

    out = groups[job.mask]
    if job.request is None:
        return out
    for ids, fringe in restyled_fringes(job.request, faces[job.face].labels, job.mask, schema):
        out = np.where(fringe, groups[ids[0]], out)
    return out


def _locality_scores(jobs, faces, recon, radius: int, cases) -> dict:
    """Per local case; the total pools the local mask edits (component edits), not styles."""
    from .metrics.image_metrics import dilate, outside_change

    ops, totals = {}, {}
    pooled = {c.label for _, c in cases if c.local and c.colour is None}
    for op in (c.label for _, c in cases if c.local):
        vals = {"outside_change": [], "generator_change": [], "reconstruction_change": []}
        for j in (j for j in jobs if j.op == op):
            region = dilate(j.changed, radius)
            e = outside_change(j.blended, faces[j.face].image, region)
            if e is None:
                continue
            vals["outside_change"].append(e)
            vals["generator_change"].append(
                outside_change(j.output, faces[j.face].image, region))
            vals["reconstruction_change"].append(
                outside_change(recon[j.face].output, faces[j.face].image, region))
        if not vals["outside_change"]:
            continue
        ops[op] = {**{k: _r(_mean(v), 5) for k, v in vals.items()},
                   "n": len(vals["outside_change"])}
        if op in pooled:
            for k, v in vals.items():
                totals.setdefault(k, []).extend(v)
    total = None
    if totals:
        total = {**{k: _r(_mean(v), 5) for k, v in totals.items()},
                 "n": len(totals["outside_change"])}
    return {"dilation_px": radius, "unit": "mean |output - input| / 255 outside the region",
            "operations": ops, "total": total}


def _fid_scores(weights, dev, faces, jobs, recon, prog) -> dict:
    from .metrics.fid import frechet_distance, statistics
    from .metrics.inception import PREPROCESSING, load_inception

    if len(faces) < 2:
        return {"skipped": "FID skipped: needs at least 2 faces"}
    model = load_inception(weights, device=dev)
    real = statistics(_inception_features(model, [f.image for f in faces], prog))
    rec = statistics(_inception_features(
        model, [recon[i].output for i in range(len(faces))], prog))
    edits = [j.output for j in jobs if j.op != "reconstruction"]
    out = {"reconstruction": _r(frechet_distance(*real, *rec)), "real_images": len(faces),
           "weights": getattr(model, "weights_name", str(weights)),
           "preprocessing": PREPROCESSING,
           "note": "biased below 2048 images: compare only at equal n"}
    if len(edits) >= 2:
        out["edits"] = _r(frechet_distance(*real, *statistics(
            _inception_features(model, edits, prog))))
        out["edited_images"] = len(edits)
    return out


def _example_rows(jobs, faces, schema, cases) -> list[tuple[list[str], list[np.ndarray]]]:
    """(captions, [input, edited mask, reference, output]) for the first job of each case, in
    the order reconstruction, mask edits, style edits."""
    first: dict[str, _Job] = {}
    for j in jobs:
        first.setdefault(j.op, j)
    ordered = sorted((c for _, c in cases), key=lambda c: c.colour is not None)
    rows = []
    for op, case in [("reconstruction", None), *((c.label, c) for c in ordered)]:
        j = first.get(op)
        if j is None:
            continue
        face = faces[j.face]
        if j.reference is None:
            ref, ref_cap = np.full_like(face.image, 255), ""
        else:
            ref, ref_cap = faces[j.reference].image, case.reference_caption
        mask_cap = "mask (unchanged)" if j.request.mask is None else "edited mask"
        rows.append(([op, mask_cap, ref_cap, "output"],
                     [face.image, schema.colorize(j.mask), ref, j.output]))
    return rows


# -- reports ---------------------------------------------------------------------------------------


def examples_picture(rows, min_tile: int = 128) -> np.ndarray:
    """A grid: one row per operation, input | edited mask | reference | output, captioned."""
    from PIL import Image

    from .pictures import make_grid

    tiles, captions = [], []
    for caps, images in rows:
        for img, cap in zip(images, caps, strict=True):
            if img.shape[0] < min_tile:
                img = np.asarray(Image.fromarray(img).resize((min_tile, min_tile),
                                                             Image.Resampling.NEAREST))
            tiles.append(img)
            captions.append(cap)
    return make_grid(tiles, ncol=4, captions=captions)


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def report_markdown(report: dict, examples: str | None = "examples.png") -> str:
    """The report as Markdown: a table per metric group; ``examples``: picture to embed."""
    lines = [f"# mgpe eval: {report['model']}", ""]
    d = report["data"]
    lines += [
        "| | |", "|---|---|",
        f"| model | `{report['model']}` ({report['weights']} weights) |",
        f"| resolution | {report['resolution']} px, schema {report['schema']} |",
        f"| faces (N) | {report['n']} ({d['split']} split) |",
        f"| data | {d['source']}: `{d['path']}` ({d['size']} px"
        f"{', mgpe-synth attributes' if d['attributes'] else ''}) |",
        f"| seed / device | {report['seed']} / {report['device']} |",
        f"| blend | {_blend_text(report.get('match_colour'))} |",
        f"| seconds | {report['seconds']:.1f} |", "",
    ]
    r = report["reconstruction"]
    lines += ["## Reconstruction (paired: target = source)", "",
              "Face: the PSNR over every pixel but the background's; background: over the "
              "background alone (the generator's whole output is compared).", "",
              "| PSNR (dB) | SSIM | face PSNR | background PSNR | n |",
              "|---:|---:|---:|---:|---:|",
              f"| {_fmt(r['psnr'], 2)} | {_fmt(r['ssim'], 4)} | {_fmt(r.get('psnr_face'), 2)} "
              f"| {_fmt(r.get('psnr_background'), 2)} | {r['n']} |", ""]
    art = report.get("artifacts") or {}
    if art:
        lines += ["## Periodic artifacts (checkerboards: grid share of fine detail, 1 = none)",
                  "", "Score of the region in the reconstructions and in the real faces; "
                  "ratio = generated / real (mgpe_core/metrics/artifacts.py).", "",
                  "| region | generated | real | ratio | n |", "|---|---:|---:|---:|---:|"]
        for name, a in art.items():
            lines.append(f"| {name} | {_fmt(a['generated'], 2)} | {_fmt(a['real'], 2)} | "
                         f"{_fmt(a['ratio'], 2)} | {a['n']} |")
        lines.append("")
    mf = report["mask_fidelity"]
    lines += ["## Mask fidelity (parser mIoU of the output vs the edited mask)", ""]
    if "skipped" in mf:
        lines += [f"Skipped: {mf['skipped']}.", ""]
    else:
        lines += ["| operation | mIoU | pixel accuracy | n |", "|---|---:|---:|---:|"]
        rows = [("parser on the input faces (not generated)", mf["parser_on_real"]),
                ("reconstruction", mf["reconstruction"]),
                *mf["operations"].items(), ("**all edits**", mf["total"])]
        for name, s in rows:
            if s:
                lines.append(f"| {name} | {_fmt(s['mean_iou'])} | {_fmt(s['pixel_accuracy'])} "
                             f"| {s['n']} |")
        lines.append("")
    st = report["style_transfer"]
    lines += ["## Style transfer (delta E 1976 to the style source's region colour)", "",
              "After: the engine's result; generator: its raw output, before the engine removes "
              "the colour error the generator makes re-rendering the style source. "
              "Re-rendering: the same region's distance between the unedited reconstruction "
              "and the photo itself (the raw output's floor); reachable: the share removed by "
              "a raw output as exact as re-rendering.", "",
              "| region | before | after | removed | generator after | generator removed "
              "| re-rendering | reachable | n |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in [*st["regions"].items(), ("**all**", st["total"])]:
        if s:
            lines.append(f"| {name} | {_fmt(s['before'], 2)} | {_fmt(s['after'], 2)} | "
                         f"{_fmt(s['removed'], 3)} | {_fmt(s.get('generator_after'), 2)} | "
                         f"{_fmt(s.get('generator_removed'), 3)} | "
                         f"{_fmt(s.get('reconstruction'), 2)} | "
                         f"{_fmt(s.get('reachable'), 3)} | {s['n']} |")
    lines.append("")
    true = [(name, s) for name, s in [*st["regions"].items(), ("**all**", st["total"])]
            if s and s.get("true_removed") is not None]
    if true:
        lines += ["### Against the true transfer", "",
                  "mgpe-synth faces: the target re-rendered with the style source's colour and "
                  "nothing else changed is what a perfect edit gives (its lighting and the "
                  "part's shape stay the target's). Before / after: delta E of the target / "
                  "the result to it; true transfer on the measure above: the share of "
                  "`before` above that the true transfer itself removes (that measure's "
                  "ceiling).", "",
                  "| region | before | after | removed | generator removed | true transfer on "
                  "the measure above |", "|---|---:|---:|---:|---:|---:|"]
        for name, s in true:
            lines.append(f"| {name} | {_fmt(s['true_before'], 2)} | "
                         f"{_fmt(s['true_after'], 2)} | {_fmt(s['true_removed'], 3)} | "
                         f"{_fmt(s['generator_true_removed'], 3)} | "
                         f"{_fmt(s.get('true_transfer_removed'), 3)} |")
        lines.append("")
    lo = report["locality"]
    lines += [f"## Locality (mean |output - input| / 255 outside the edited region dilated "
              f"by {lo['dilation_px']} px)", "",
              "Edit: the engine's result, which keeps the photo's pixels outside the edited "
              "region; generator: its raw output; reconstruction: the unedited re-rendering.", "",
              "| operation | edit | generator | reconstruction (same pixels) | n |",
              "|---|---:|---:|---:|---:|"]
    for name, s in [*lo["operations"].items(), ("**component edits**", lo["total"])]:
        if s:
            lines.append(f"| {name} | {_fmt(s['outside_change'], 4)} | "
                         f"{_fmt(s['generator_change'], 4)} | "
                         f"{_fmt(s['reconstruction_change'], 4)} | {s['n']} |")
    lines.append("")
    se = report.get("seams") or {}
    if se.get("operations"):
        lines += ["## Seams (colour step an edit adds at its region's border, CIE76; 0 = as "
                  "the photo joined there)", "",
                  "Within a component: the break between pixels "
                  f"{se.get('within_component_gap_px', '—')} px apart across the border "
                  "where one component lies on both sides (a restyled face over the photo's "
                  "neck, a forehead patch), beyond the pairs near it that do not cross it; a "
                  "wanted recolouring of a whole component (lips, hair) does not count there. "
                  "Against the truth: the step beyond the true transfer's where one is known "
                  "(a restyled part's wanted new colour steps against its surroundings there "
                  "too), beyond the photo's elsewhere. A perfect edit: the plain score of "
                  "the true transfer pasted into the photo, the step a wanted recolouring "
                  "makes (all edits: with the other edits' own scores).",
                  "",
                  "| operation | excess delta E | against the truth | a perfect edit | n | "
                  "within a component | n |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in [*se["operations"].items(), ("**all edits**", se["total"])]:
            if s:
                lines.append(f"| {name} | {_fmt(s['excess_delta_e'], 2)} | "
                             f"{_fmt(s.get('truth_excess_delta_e'), 2)} | "
                             f"{_fmt(s.get('perfect_excess_delta_e'), 2)} | {s['n']} | "
                             f"{_fmt(s.get('within_component_delta_e'), 2)} | "
                             f"{s.get('n_within', 0)} |")
        lines.append("")
    fid = report["fid"]
    lines += ["## FID (vs the real test photos)", ""]
    if "skipped" in fid:
        lines += [fid["skipped"], ""]
    else:
        lines += ["| set | FID | images |", "|---|---:|---:|",
                  f"| reconstructions | {_fmt(fid['reconstruction'], 2)} | "
                  f"{fid['real_images']} |"]
        if "edits" in fid:
            lines.append(f"| unpaired edits | {_fmt(fid['edits'], 2)} | {fid['edited_images']} |")
        lines += ["", f"Weights `{fid['weights']}`, preprocessing {fid['preprocessing']}; "
                      f"{fid['note']}.", ""]
    if report["skipped"]:
        lines += ["## Skipped edits", "", "| operation | reason | faces |", "|---|---|---:|"]
        for op, reasons in report["skipped"].items():
            for reason, count in reasons.items():
                lines.append(f"| {op} | {reason.replace('|', '/')} | {count} |")
        lines.append("")
    if report["notes"]:
        lines += ["## Notes", "", *(f"- {note}" for note in report["notes"]), ""]
    if examples:
        lines += ["## Examples", "", "Each row: input | edited mask | reference or style source "
                  "| output.", "", f"![examples]({examples})", ""]
    return "\n".join(lines)


def write_report(report: dict, out: str | os.PathLike) -> dict:
    """Write ``report.json``, ``report.md`` and ``examples.png`` into the folder ``out``;
    returns the JSON part (the report without its pictures)."""
    from .io import write_bytes, write_image, write_json

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the report")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MgpeError(f"cannot create {out}: {e.strerror or e}") from None
    data = json_report(report)
    rows = report.get("_examples")
    if rows:
        write_image(out / "examples.png", examples_picture(rows))
    write_json(out / "report.json", data)
    write_bytes(out / "report.md", report_markdown(data, "examples.png" if rows else None)
                .encode())
    return data


def json_report(report: dict) -> dict:
    """The report without its (non-JSON) example pictures."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


def headline(report: dict) -> dict:
    """A flat dict of the headline numbers (to store in a model's config ``metrics``)."""
    mf, st, lo = report["mask_fidelity"], report["style_transfer"], report["locality"]
    out = {"eval_n": report["n"], "eval_data": report["data"]["source"],
           "psnr": report["reconstruction"]["psnr"], "ssim": report["reconstruction"]["ssim"],
           "mask_miou": (mf.get("total") or {}).get("mean_iou"),
           "parser_miou_real": (mf.get("parser_on_real") or {}).get("mean_iou"),
           "style_delta_e_before": (st["total"] or {}).get("before"),
           "style_delta_e_after": (st["total"] or {}).get("after"),
           "style_removed": (st["total"] or {}).get("removed"),
           "style_generator_removed": (st["total"] or {}).get("generator_removed"),
           "style_true_removed": (st["total"] or {}).get("true_removed"),
           "locality": (lo["total"] or {}).get("outside_change"),
           "locality_generator": (lo["total"] or {}).get("generator_change"),
           "hair_artifact_ratio": (report.get("artifacts", {}).get("hair") or {}).get("ratio"),
           "seam_excess_delta_e": ((report.get("seams") or {}).get("total") or {}).get(
               "excess_delta_e"),
           "seam_truth_excess_delta_e": ((report.get("seams") or {}).get("total") or {}).get(
               "truth_excess_delta_e")}
    fid = report.get("fid", {})
    if "reconstruction" in fid:
        out["fid_reconstruction"] = fid["reconstruction"]
        out["fid_edits"] = fid.get("edits")
    return out
