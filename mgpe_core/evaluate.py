"""The quality benchmark (``mgpe eval``): a model on held-out faces with known labels.

:func:`evaluate` runs every edit through the engine (one batched :meth:`Editor.edit` call),
parses the outputs with the model's parser in batches and returns a JSON-ready report:

- ``reconstruction``: the engine edit with target = source and nothing changed; PSNR (dB on
  [0, 255], each image capped at :data:`~mgpe_core.metrics.image_metrics.PSNR_CAP`) and SSIM
  (11x11 Gaussian window, sigma 1.5, per RGB channel, averaged) against the input photo.
- ``mask_fidelity``: mean IoU (and pixel accuracy) between the parser's labels of each edited
  output and the edited mask it was asked to follow, per operation (``swap-mouth`` and
  ``swap-eyes`` with another test face as reference, ``bangs-add`` (drawn fringe),
  ``bangs-remove``, ``edit-mask`` with another face's whole mask) and pooled; beside it the
  parser's own mIoU on the real photos vs their true labels and on the reconstructions. Needs
  the parser: skipped with a note for models without one.
- ``style_transfer``: for the regions hair, lips (the mouth component), eyes and skin, the
  engine edit with that component's style from another face. Colour distance (CIE delta E 1976)
  between the mean Lab colour of the region in the output (the target mask's pixels of the
  region's classes, eroded by 1 px; un-eroded when that would leave nothing, as thin lips at
  64 px) and the mean Lab colour of the same region in the style source photo, against the
  same distance before the transfer (the target photo's own region); ``removed = 1 - after /
  before`` (of the means).
- ``locality``: mean absolute change (a fraction of 255) of the pixels outside the edited
  region (the changed mask pixels, dilated by :func:`locality_radius` px) between the output
  and the input photo, for the component edits (and the style edits, outside their region):
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

from .errors import DatasetError, LabelError, MgpeError, UsageError

#: Seed of the generated held-out mgpe-synth test set (training sets use small seeds).
SYNTH_SEED = 9999
DEFAULT_N = 200
BATCH = 16

MASK_OPS: tuple[str, ...] = ("swap-mouth", "swap-eyes", "bangs-add", "bangs-remove", "edit-mask")
#: Mask edits that change one part of the face (locality is measured for these).
COMPONENT_OPS: tuple[str, ...] = ("swap-mouth", "swap-eyes", "bangs-add", "bangs-remove")


@dataclass(frozen=True)
class StyleRegion:
    name: str
    components: tuple[str, ...]  # engine components whose style is taken
    classes: tuple[str, ...]  # schema classes whose colour is measured
    attribute: str  # mgpe-synth attribute holding the region's colour (RGB)
    attribute_name: str | None = None  # its categorical name, when there is one


STYLE_REGIONS: tuple[StyleRegion, ...] = (
    StyleRegion("hair", ("hair",), ("hair",), "hair_color", "hair_color_name"),
    StyleRegion("lips", ("mouth",), ("u_lip", "l_lip"), "lip_color"),
    StyleRegion("eyes", ("l_eye", "r_eye"), ("l_eye", "r_eye"), "iris_color", "iris_color_name"),
    StyleRegion("skin", ("skin",), ("skin",), "skin_tone"),
)

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


def default_data_dir(resolution: int, n: int) -> Path:
    from .registry import mgpe_home

    return mgpe_home() / "eval" / f"synth-{resolution}-seed{SYNTH_SEED}-n{n}"


def generate_test_set(resolution: int, n: int, dest: Path | None = None,
                      progress: Callable[[int], None] | None = None) -> Path:
    """The held-out mgpe-synth test set (seed :data:`SYNTH_SEED`, ``n`` faces at
    ``resolution`` px, celebamask-19 labels), built once into ``dest`` (default
    :func:`default_data_dir`) and reused. Built in a temporary folder renamed into place, so
    an interrupted run leaves no half-made cache. ``dest/source/`` keeps ``attributes.jsonl``.
    """
    from .data.prepare import prepare_dataset
    from .io import read_json, write_json
    from .synth import write_dataset

    dest = Path(dest) if dest is not None else default_data_dir(resolution, n)
    if (dest / "manifest.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        source = tmp / "source"
        write_dataset(source, count=n, size=resolution, seed=SYNTH_SEED, image_format="png",
                      progress=progress)
        prepare_dataset(source, tmp, size=resolution, schema="celebamask-19",
                        image_suffix=".png", progress=progress)
        # The prepared images are all that is read; keep only the attributes and settings.
        for sub in ("CelebA-HQ-img", "CelebAMask-HQ-mask-anno"):
            shutil.rmtree(source / sub, ignore_errors=True)
        manifest = read_json(tmp / "manifest.json")
        manifest["source"] = {**manifest.get("source", {}), "path": str(dest / "source"),
                              "generator": "mgpe-synth", "seed": SYNTH_SEED,
                              "held_out": True}
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


def _attr_colour_differs(faces, region: StyleRegion):
    from .metrics.image_metrics import delta_e76, rgb_to_lab

    def ok(i, j):
        a, b = faces[i].attrs, faces[j].attrs
        if not a or not b or region.attribute not in a or region.attribute not in b:
            return True
        if region.attribute_name and a.get(region.attribute_name) == b.get(
                region.attribute_name):
            return False
        return delta_e76(rgb_to_lab(a[region.attribute]),
                         rgb_to_lab(b[region.attribute])) >= ATTRIBUTE_MIN_DELTA_E

    return ok


# -- jobs ------------------------------------------------------------------------------------------


@dataclass
class _Job:
    op: str  # "reconstruction", a MASK_OPS name or "style-<region>"
    face: int  # index into faces
    request: object  # EditRequest
    mask: np.ndarray  # the mask the output should follow
    reference: int | None = None  # index of the reference / style source face
    region: np.ndarray | None = None  # style: the measured region of the target (eroded)
    source_region: np.ndarray | None = None  # style: the same region in the source
    changed: np.ndarray | None = None  # the edited region (for locality)
    output: np.ndarray | None = None  # the raw generator output
    blended: np.ndarray | None = None  # what users get: unedited pixels kept (engine default)


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


def _plan_jobs(faces: list[_Face], schema, seed: int, use_attrs: bool) -> _Plan:
    from . import mask_edit
    from .engine import EditRequest, edit_region
    from .metrics.image_metrics import erode

    plan = _Plan()
    n = len(faces)
    for i, f in enumerate(faces):
        plan.jobs.append(_Job("reconstruction", i, EditRequest(f.portrait), f.labels))
    if n < 2:
        for op in (*MASK_OPS, *(f"style-{r.name}" for r in STYLE_REGIONS)):
            plan.skip(op, "needs at least 2 faces (a reference / style source)")
        return plan

    def rng(k: int):
        return np.random.default_rng([int(seed), k])

    def attr(i, key):
        return faces[i].attrs.get(key) if use_attrs and faces[i].attrs else None

    mouth_ok = None
    if use_attrs:
        def mouth_ok(i, j):
            a, b = attr(i, "mouth_state"), attr(j, "mouth_state")
            return a is None or b is None or a != b

    swaps = {"swap-mouth": (mask_edit.swap_mouth, _partners(n, rng(1), mouth_ok)),
             "swap-eyes": (mask_edit.swap_eyes, _partners(n, rng(2)))}
    for op, (fn, partner) in swaps.items():
        for i, f in enumerate(faces):
            p = partner[i]
            try:
                edited = fn(f.labels, faces[p].labels, schema)
            except LabelError as e:
                plan.skip(op, _short(e))
                continue
            _add_mask_job(plan, op, i, f, edited, p)

    for op in ("bangs-add", "bangs-remove"):
        for i, f in enumerate(faces):
            style = attr(i, "hair_style")
            if style is not None:  # attributes: add to faces without bangs, remove from those
                if op == "bangs-add" and style in ("bangs", "bald"):
                    plan.skip(op, f"hair style {style} (attributes)")
                    continue
                if op == "bangs-remove" and style != "bangs":
                    plan.skip(op, "no bangs (attributes)")
                    continue
            try:
                if op == "bangs-add":
                    edited = mask_edit.add_bangs(f.labels, schema)
                else:
                    edited = mask_edit.remove_bangs(f.labels, schema)
            except LabelError as e:
                plan.skip(op, _short(e))
                continue
            _add_mask_job(plan, op, i, f, edited, None)

    partner = _partners(n, rng(3))
    for i, f in enumerate(faces):
        _add_mask_job(plan, "edit-mask", i, f, faces[partner[i]].labels.copy(), partner[i])

    for k, region in enumerate(STYLE_REGIONS):
        op = f"style-{region.name}"
        ids = schema.ids(region.classes)
        if not ids:
            plan.skip(op, f"schema {schema.name} has no {'/'.join(region.classes)} class")
            continue
        ok = _attr_colour_differs(faces, region) if use_attrs else None
        partner = _partners(n, rng(10 + k), ok)
        for i, f in enumerate(faces):
            p = partner[i]
            tgt, src = np.isin(f.labels, ids), np.isin(faces[p].labels, ids)
            if not tgt.any() or not src.any():
                plan.skip(op, f"no {region.name} pixels in the "
                              f"{'target' if not tgt.any() else 'style source'}")
                continue
            # Eroded by 1 px (no border pixels mixing in neighbours' colours); a part thinner
            # than 3 px (lips at 64 px) would vanish: then its un-eroded pixels are used.
            tgt = erode(tgt, 1) if erode(tgt, 1).any() else tgt
            src = erode(src, 1) if erode(src, 1).any() else src
            request = EditRequest(f.portrait, styles={c: faces[p].portrait
                                                      for c in region.components})
            # locality: outside the whole styled components (lips style the mouth component)
            plan.jobs.append(_Job(op, i, request, f.labels, p, region=tgt, source_region=src,
                                  changed=edit_region(request, schema)))
    return plan


def _add_mask_job(plan: _Plan, op: str, i: int, face: _Face, edited: np.ndarray,
                  reference: int | None) -> None:
    from .engine import EditRequest
    from .mask_edit import changed_region

    changed = changed_region(face.labels, edited)
    if not changed.any():
        plan.skip(op, "the edit changes nothing")
        return
    plan.jobs.append(_Job(op, i, EditRequest(face.portrait, mask=edited), edited, reference,
                          changed=changed))


# -- networks ------------------------------------------------------------------------------------


def _parse_batched(parser, images: list[np.ndarray], device, progress) -> list[np.ndarray]:
    """Model-resolution square photos -> label maps, ``BATCH`` at a time (as Editor.parse)."""
    import torch

    out = []
    for start in range(0, len(images), BATCH):
        chunk = np.stack(images[start:start + BATCH])
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
        with torch.inference_mode():
            out.extend(parser.parse(x).byte().cpu().numpy())
        progress(len(chunk))
    return out


def _inception_features(model, images: list[np.ndarray], progress) -> np.ndarray:
    import torch

    feats = []
    for start in range(0, len(images), BATCH):
        chunk = np.stack(images[start:start + BATCH])
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float().div(255.0)
        feats.append(model.features(x).cpu().numpy())
        progress(len(chunk))
    return np.concatenate(feats).astype(np.float64)


# -- scores --------------------------------------------------------------------------------------


def _r(v, digits: int = 4):
    if v is None:
        return None
    v = float(v)
    return round(v, digits) if math.isfinite(v) else None


def reconstruction_scores(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> dict:
    """Mean PSNR (each image capped at PSNR_CAP dB) and mean SSIM of outputs vs inputs."""
    from .metrics.image_metrics import PSNR_CAP, mean_psnr, ssim

    pairs = list(zip(outputs, inputs, strict=True))
    if not pairs:
        return {"n": 0, "psnr": None, "ssim": None}
    return {"n": len(pairs), "psnr": _r(mean_psnr(pairs)),
            "ssim": _r(np.mean([ssim(a, b) for a, b in pairs])), "psnr_cap": PSNR_CAP}


def _seg(pred_target_pairs, schema):
    """Summed confusion matrix (torch, k x k) of (predicted, true) label-map pairs."""
    import torch

    from .metrics.segmentation import confusion_matrix

    k = schema.num_classes
    conf = torch.zeros(k, k, dtype=torch.long)
    for pred, target in pred_target_pairs:
        conf += confusion_matrix(torch.from_numpy(np.asarray(pred)),
                                 torch.from_numpy(np.asarray(target)), k)
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
             compile: bool = False) -> dict:
    """Run the benchmark; returns the report (a JSON-ready dict, see the module docstring).

    ``model``: a name or path (loaded with :func:`~mgpe_core.registry.load_model`) or a
    :class:`~mgpe_core.registry.LoadedModel`. ``data_dir``: a prepared folder, or None for the
    cached held-out mgpe-synth set. ``n``: faces used (the first of the split). ``seed``: the
    pairings (which face is whose reference / style source). ``split``: default ``test`` (every
    face when it is empty; every face of a generated set, which is all held out).
    ``progress(k)``: called as work finishes (may have ``set_total`` and ``describe``).
    ``compile``: run the edits with a compiled synthesis network (:class:`~mgpe_core.engine.
    Editor`).

    With mgpe-synth attributes, pairs are chosen to differ: swap-mouth takes a reference with
    another mouth state, style sources differ in the region's colour (another hair / iris colour
    name, at least :data:`ATTRIBUTE_MIN_DELTA_E` apart), bangs are added to faces without them
    (not bald) and removed from faces with them. Without attributes the pairs are a random
    derangement and bangs edits that change nothing are skipped.
    """
    from .data.prepared import PreparedFolder
    from .device import resolve_device
    from .engine import Editor
    from .registry import LoadedModel, load_model

    t0 = time.perf_counter()
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise UsageError(f"n must be a positive number of faces, got {n!r}")
    dev = resolve_device(device)
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
    plan = _plan_jobs(faces, schema, seed, use_attrs)
    # Jobs of one face side by side: a batch then encodes each photo once for all its edits.
    jobs = sorted(plan.jobs, key=lambda j: j.face)
    has_parser = loaded.parser is not None
    parse_count = (len(faces) * 2 + sum(j.op in MASK_OPS for j in jobs)) if has_parser else 0
    fid_count = 0
    if fid_weights is not None:
        fid_count = len(faces) * 2 + sum(j.op != "reconstruction" for j in jobs)
    prog.add_total(len(jobs) + parse_count + fid_count)
    timings = {"load": time.perf_counter() - t_load}

    prog.describe("editing")
    t = time.perf_counter()
    editor = Editor(loaded, device=dev, compile=compile)
    results = editor.edit([j.request for j in jobs], batch_size=BATCH, progress=prog)
    for job, res in zip(jobs, results, strict=True):
        job.output, job.blended = res.model_image, res.image
    timings["edits"] = time.perf_counter() - t
    recon = {j.face: j for j in jobs if j.op == "reconstruction"}

    report = {
        "model": loaded.name, "model_path": str(loaded.path), "weights": loaded.weights,
        "resolution": resolution, "schema": schema.name, "n": len(faces), "seed": seed,
        "device": str(dev),
        "data": {"path": str(folder.root), "source": _describe_source(folder, generated),
                 "split": used_split, "size": folder.size, "schema": folder.schema.name,
                 "attributes": use_attrs, "ids": [f.id for f in faces][:10]
                 + (["..."] if len(faces) > 10 else [])},
    }

    # Reconstruction.
    report["reconstruction"] = reconstruction_scores(
        [recon[i].output for i in range(len(faces))], [f.image for f in faces])

    # Mask fidelity.
    t = time.perf_counter()
    if has_parser:
        prog.describe("parsing")
        # the editor's copy: folded BatchNorm + channels-last, same labels, ~1.5x faster on a CPU
        parser = editor.parser
        mask_jobs = [j for j in jobs if j.op in MASK_OPS]
        real = _parse_batched(parser, [f.image for f in faces], dev, prog)
        rec = _parse_batched(parser, [recon[i].output for i in range(len(faces))], dev, prog)
        edited = _parse_batched(parser, [j.output for j in mask_jobs], dev, prog)
        fidelity = {
            "parser_on_real": _seg_scores(
                _seg(zip(real, [f.labels for f in faces], strict=True), schema), schema,
                len(faces)),
            "reconstruction": _seg_scores(
                _seg(zip(rec, [f.labels for f in faces], strict=True), schema), schema,
                len(faces), per_class=False),
            "operations": {},
        }
        total = None
        for op in MASK_OPS:
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
    report["style_transfer"] = _style_scores(jobs, faces)

    # Locality.
    report["locality"] = _locality_scores(jobs, faces, recon, locality_radius(resolution))
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
    report["_examples"] = _example_rows(jobs, faces, schema)  # pictures; not JSON (popped)
    return report


def _describe_source(folder, generated: bool) -> str:
    if generated:
        return f"mgpe-synth held-out set (seed {SYNTH_SEED}, generated and cached)"
    src = folder.manifest.get("source", {})
    if isinstance(src, dict) and src.get("path"):
        return f"prepared folder (from {src['path']})"
    return "prepared folder"


def _style_scores(jobs: list[_Job], faces: list[_Face]) -> dict:
    from .metrics.image_metrics import delta_e76, mean_lab

    regions, all_before, all_after = {}, [], []
    for region in STYLE_REGIONS:
        op = f"style-{region.name}"
        before, after = [], []
        for j in (j for j in jobs if j.op == op):
            src = mean_lab(faces[j.reference].image, j.source_region)
            before.append(delta_e76(mean_lab(faces[j.face].image, j.region), src))
            after.append(delta_e76(mean_lab(j.output, j.region), src))
        if not before:
            continue
        b, a = float(np.mean(before)), float(np.mean(after))
        regions[region.name] = {"before": _r(b), "after": _r(a),
                                "removed": _r(1 - a / b) if b > 0 else None, "n": len(before)}
        all_before += before
        all_after += after
    total = None
    if all_before:
        b, a = float(np.mean(all_before)), float(np.mean(all_after))
        total = {"before": _r(b), "after": _r(a), "removed": _r(1 - a / b) if b > 0 else None,
                 "n": len(all_before)}
    return {"metric": "delta E 1976 between mean Lab colours (region eroded by 1 px)",
            "regions": regions, "total": total}


def _locality_scores(jobs, faces, recon, radius: int) -> dict:
    from .metrics.image_metrics import dilate, outside_change

    ops, totals = {}, {}
    names = (*COMPONENT_OPS, *(f"style-{r.name}" for r in STYLE_REGIONS))
    for op in names:
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
        if op in COMPONENT_OPS:
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


def _example_rows(jobs, faces, schema) -> list[tuple[list[str], list[np.ndarray]]]:
    """(captions, [input, edited mask, reference, output]) for the first job of each op, in
    the order reconstruction, mask edits, style edits."""
    first: dict[str, _Job] = {}
    for j in jobs:
        first.setdefault(j.op, j)
    order = ("reconstruction", *MASK_OPS, *(f"style-{r.name}" for r in STYLE_REGIONS))
    rows = []
    for op in order:
        j = first.get(op)
        if j is None:
            continue
        face = faces[j.face]
        if j.reference is None:
            ref, ref_cap = np.full_like(face.image, 255), ""
        else:
            ref = faces[j.reference].image
            ref_cap = ("style source" if op.startswith("style-") else
                       "mask source" if op == "edit-mask" else "reference")
        mask_cap = "mask (unchanged)" if op == "reconstruction" or op.startswith("style-") \
            else "edited mask"
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
        f"| seconds | {report['seconds']:.1f} |", "",
    ]
    r = report["reconstruction"]
    lines += ["## Reconstruction (paired: target = source)", "",
              "| PSNR (dB) | SSIM | n |", "|---:|---:|---:|",
              f"| {_fmt(r['psnr'], 2)} | {_fmt(r['ssim'], 4)} | {r['n']} |", ""]
    mf = report["mask_fidelity"]
    lines += ["## Mask fidelity (parser mIoU of the output vs the edited mask)", ""]
    if "skipped" in mf:
        lines += [f"Skipped: {mf['skipped']}.", ""]
    else:
        lines += ["| operation | mIoU | pixel accuracy | n |", "|---|---:|---:|---:|"]
        rows = [("parser on real photos", mf["parser_on_real"]),
                ("reconstruction", mf["reconstruction"]),
                *mf["operations"].items(), ("**all edits**", mf["total"])]
        for name, s in rows:
            if s:
                lines.append(f"| {name} | {_fmt(s['mean_iou'])} | {_fmt(s['pixel_accuracy'])} "
                             f"| {s['n']} |")
        lines.append("")
    st = report["style_transfer"]
    lines += ["## Style transfer (delta E 1976 to the style source's region colour)", "",
              "| region | before | after | removed | n |", "|---|---:|---:|---:|---:|"]
    for name, s in [*st["regions"].items(), ("**all**", st["total"])]:
        if s:
            lines.append(f"| {name} | {_fmt(s['before'], 2)} | {_fmt(s['after'], 2)} | "
                         f"{_fmt(s['removed'], 3)} | {s['n']} |")
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
           "locality": (lo["total"] or {}).get("outside_change"),
           "locality_generator": (lo["total"] or {}).get("generator_change")}
    fid = report.get("fid", {})
    if "reconstruction" in fid:
        out["fid_reconstruction"] = fid["reconstruction"]
        out["fid_edits"] = fid.get("edits")
    return out
