"""The edit engine: the one place where networks run for editing.

Operations only describe edits (:class:`EditRequest`: whose layout and background, which mask,
which component styles come from which photo); the engine does the rest, batched:

    inputs of any size -> square pad + resize to the model's resolution (labels nearest)
    -> one batched encode of every distinct photo -> per-request latents per component
    -> decode -> synthesize with the target mask and background (background the edited mask
       uncovers filled from the photo's own: :mod:`mgpe_core.background_fill`) -> pixels
    -> optionally pasted back into the original-resolution photo inside the face region.

Load a model once, call :meth:`Editor.edit` many times (the Python API the CLI uses too).

A model of architecture ``original`` (the authors' release, :mod:`mgpe_core.model.original`)
takes the same path with its own networks in the middle, one face at a time as the release
does: per request, each distinct portrait is prepared on its 256 px square
(:func:`~mgpe_core.model.original.prepare_face`: centres from the un-enlarged labels, the 1.1x
enlargement) and encoded once, each component's latent mean taken from the portrait that donates
it, decoded, and synthesized with the target's (edited) mask and background. Squaring, the
keep-unedited blend and paste-back are shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .background_fill import background_input, uncovered_fringe
from .colour_match import (
    edited_colours,
    match_to_photo,
    match_to_sources,
    part_colours,
    style_offsets,
    surface_ids,
)
from .components import COMPONENT_NAMES
from .errors import LabelError, UsageError
from .morphology import dilate
from .restyled_fringe import recolour_fringe, restyled_fringe, restyled_fringes


@dataclass(eq=False)
class Portrait:
    """A photo and its label map (model schema, same size), or ``labels=None`` to parse it."""

    image: np.ndarray
    labels: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise UsageError(f"{self.name or 'image'}: expected (H, W, 3) uint8 pixels")
        if self.labels is not None and self.labels.shape != self.image.shape[:2]:
            raise LabelError(
                f"{self.name or 'mask'}: mask is {self.labels.shape[1]}x{self.labels.shape[0]} "
                f"but the image is {self.image.shape[1]}x{self.image.shape[0]}")


@dataclass(eq=False)
class EditRequest:
    """``target``: the photo being edited (layout, background, default styles); ``mask``: the
    edited mask at the target's size (default: its own); ``styles``: component name -> the
    portrait whose style that component takes (``l_eye``, ``r_eye``, ``mouth``, ``skin``,
    ``hair``)."""

    target: Portrait
    mask: np.ndarray | None = None
    styles: dict[str, Portrait] = field(default_factory=dict)
    #: Keep the target's own pixels outside the edited region (see :func:`edit_region`); the
    #: generated pixels are blended in with a feathered edge. False: the whole generated image.
    keep_unedited: bool = True
    #: With ``keep_unedited``: shift each class's generated colour to the photo's where it
    #: continues across the region's border (:mod:`mgpe_core.colour_match`), so a swapped
    #: mouth or a new hairline leaves no ring of another tone. False: the generator's colours.
    match_colour: bool = True
    #: With ``keep_unedited``: remove from each restyled component the colour error the
    #: generator makes when it re-renders that component's style source unchanged (for a
    #: calibrated model, blended with its error on the target and both photos' part colours:
    #: :mod:`mgpe_core.style_match`; one more generator row per style source and target), so
    #: a lip or eye colour arrives as the source has it. False: the generator's.
    match_style: bool = True
    #: The target's pixels are a canvas (a grey, or another picture under a drawn mask), not
    #: a photo of the face its labels describe. Style matching then reads
    #: the style sources alone (a model's calibrated blend also reads the target's own parts,
    #: which a canvas does not show: :mod:`mgpe_core.style_match`).
    canvas: bool = False

    def restyled(self) -> dict[str, Portrait]:
        """Component name -> the other portrait it takes its style from."""
        return {c: p for c, p in self.styles.items() if p is not self.target}

    def __post_init__(self) -> None:
        unknown = set(self.styles) - set(COMPONENT_NAMES)
        if unknown:
            raise UsageError(f"unknown components {sorted(unknown)}; "
                             f"known: {', '.join(COMPONENT_NAMES)}")
        if self.mask is not None and self.mask.shape != self.target.image.shape[:2]:
            raise LabelError(f"edited mask {self.mask.shape} does not match the image "
                             f"{self.target.image.shape[:2]}")


@dataclass
class EditResult:
    image: np.ndarray  # uint8 (H, W, 3): model resolution, or the original size if pasted back
    mask: np.ndarray  # the target mask used, same size as image
    model_image: np.ndarray  # the raw generator output at the model's resolution


def edit_region(request: EditRequest, schema) -> np.ndarray:
    """Pixels an edit may change (bool, the target's size): where the edited mask differs from
    the target's own, plus the old and the new pixels of every component whose style comes
    from another portrait, and of every window component (eyes, mouth) whose shape changed.
    The generator draws a window component as one piece around its centre: keeping the
    photo's old lips or iris beside a newly drawn rim made a patchwork part (a swapped mouth's
    within-component seam, 500 faces: 6.3 -> 2.6 delta E). A dense component (skin, hair)
    keeps its unchanged pixels. Where the edit uncovers background, the photo's background
    pixels along the removed part's outline go too (:func:`~mgpe_core.background_fill.
    uncovered_fringe`: they carry its tint, and kept they outlined the hair that was gone),
    and so do those along a restyled component's outline (:func:`~mgpe_core.
    restyled_fringe.restyled_fringe`: recoloured with it, they do not outline the new hair
    in the old colour).
    Everything else is the photo as it was: re-rendering it would only add the generator's
    reconstruction error."""
    from .components import COMPONENTS

    old = request.target.labels
    new = request.mask if request.mask is not None else old
    changed = new != old
    background = schema.index("background")
    region = changed | uncovered_fringe(old, new, background)
    for comp in COMPONENTS:
        ids = schema.ids(comp.classes)
        whole = np.isin(old, ids) | np.isin(new, ids)
        restyled = request.styles.get(comp.name, request.target) is not request.target
        if restyled or (comp.kind == "window" and (changed & whole).any()):
            region |= whole
        if restyled:  # the background its old colour tinted (restyled_fringe)
            region |= restyled_fringe(old, new, ids, background)
    return region


def _rendered_portraits(requests: list[EditRequest], weights: dict, schema) -> list[Portrait]:
    """The distinct portraits a batch re-renders unchanged to measure their colour errors
    (:func:`~mgpe_core.colour_match.part_colours`): each portrait that restyles a
    component of a request that matches styles (and keeps unedited pixels), and that request's
    target when the model's calibrated ``weights`` take part of the target's error for a
    restyled class (:func:`~mgpe_core.style_match.uses_target`) and the target is a photo
    (not a ``canvas``)."""
    from .components import get_component
    from .style_match import uses_target

    seen: dict[int, Portrait] = {}
    for req in requests:
        if req.keep_unedited and req.match_style:
            restyled = req.restyled()
            for p in restyled.values():
                seen.setdefault(id(p), p)
            classes = [c for comp in restyled for c in schema.ids(get_component(comp).classes)]
            if restyled and not req.canvas and uses_target(weights, classes):
                seen.setdefault(id(req.target), req.target)
    return list(seen.values())


def blend_radius(size: int) -> int:
    """Feather radius (px) of the edited region at an image's longer side: 1/64 of it. The
    blend reaches at most twice this beyond the region (dilation, then blur)."""
    return max(1, round(size / 64))


def blend(generated: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """alpha * generated + (1 - alpha) * original, uint8, in row blocks (bounded memory).

    Only the bounding box of ``alpha > 0`` is computed: outside it the formula gives the
    original pixels exactly (0 * g + 1 * o, rounded), so they are copied. A paste-back edit's
    region is usually a fraction of a large photo."""
    out = original.copy()
    rows, cols = np.flatnonzero((alpha > 0).any(1)), np.flatnonzero((alpha > 0).any(0))
    if rows.size == 0:
        return out
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    for y in range(int(rows[0]), int(rows[-1]) + 1, 512):
        y1 = min(y + 512, int(rows[-1]) + 1)
        a = alpha[y:y1, x0:x1, None]
        mix = a * generated[y:y1, x0:x1] + (1 - a) * original[y:y1, x0:x1].astype(np.float32)
        out[y:y1, x0:x1] = np.clip(np.round(mix), 0, 255).astype(np.uint8)
    return out


def square_geometry(hw: tuple[int, int]) -> tuple[int, int, int]:
    """(top, left, side) of the square an (h, w) image is centred in (side = the longer side):
    computed once per photo, shared by its pixels, its label maps and paste-back."""
    h, w = hw[:2]
    side = max(h, w)
    return (side - h) // 2, (side - w) // 2, side


def _pad_widths(hw, geometry, channels: bool):
    top, left, side = geometry
    h, w = hw
    widths = ((top, side - h - top), (left, side - w - left))
    return widths + ((0, 0),) if channels else widths


def square_image(image: np.ndarray, geometry, size: int) -> np.ndarray:
    """Pixels padded to the square of ``geometry`` (edge pixels repeated), resized to ``size``
    (Lanczos). The input itself when no padding or resizing is needed."""
    from PIL import Image

    h, w = image.shape[:2]
    side = geometry[2]
    if h != w:
        image = np.pad(image, _pad_widths((h, w), geometry, True), mode="edge")
    if side != size:
        image = np.array(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
    return image


def square_labels(labels: np.ndarray, geometry, size: int) -> np.ndarray:
    """A label map or 0/1 region (uint8, the photo's size) padded with 0 (background) to the
    square of ``geometry`` and resized to ``size`` (nearest): no resampling of the photo, so a
    request's edited mask and edit region cost no Lanczos pass."""
    from PIL import Image

    h, w = labels.shape[:2]
    if h != w:
        labels = np.pad(labels, _pad_widths((h, w), geometry, False))
    if geometry[2] != size:
        labels = np.array(Image.fromarray(labels).resize((size, size), Image.Resampling.NEAREST))
    return labels


def to_square(image: np.ndarray, labels: np.ndarray | None, size: int):
    """Pad to a square (edge pixels for the image, background for labels), resize to ``size``.
    Returns (image, labels, (top, left, side)) so paste-back can undo it."""
    geo = square_geometry(image.shape[:2])
    square = square_image(image, geo, size)
    return square, None if labels is None else square_labels(labels, geo, size), geo


def from_square(pixels: np.ndarray, geometry, out_hw, nearest: bool = False) -> np.ndarray:
    """Undo :func:`to_square`: ``pixels`` (the square at the model's resolution) resized to the
    square's ``side`` (bicubic, or nearest for labels), cropped to the photo's ``out_hw``.

    When the photo is narrower than its square, the padding columns are dropped between PIL's
    two passes (horizontal, rounded to 8 bits, then vertical: what one ``resize`` call does
    too), so the vertical pass, most of the work, only computes the photo's own columns. The
    pixels are those of resizing the whole square and cropping (tests/test_engine.py)."""
    from PIL import Image

    top, left, side = geometry
    h, w = out_hw[:2]
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    img = Image.fromarray(pixels)
    if w < side:
        img = img.resize((side, img.height), resample).crop((left, 0, left + w, img.height))
        return np.asarray(img.resize((w, side), resample))[top:top + h]
    big = np.asarray(img.resize((side, side), resample))
    return big[top:top + h, left:left + w]


def feathered(mask: np.ndarray, radius: int, work_size: int = 1024) -> np.ndarray:
    """Soft version of a binary mask: dilated by ``radius`` then box-blurred (float in [0, 1]).

    Large masks are feathered at ``work_size`` on their longer side and scaled back up: the
    result is smooth anyway, and an 8000 px photo would otherwise need a 161 px dilation over
    64 M pixels. The dilation is :func:`mgpe_core.morphology.dilate` (square, separable, O(1)
    per pixel): the same pixels as PIL's ``MaxFilter(2r+1)``, which costs O(r²) per pixel
    (1-4 s at 1024 px, radius 16, depending on the mask and the machine's load, against
    15-30 ms; bench/bench_paste_back.py). PIL's ``BoxBlur`` is already O(1) per pixel and
    stays."""
    from PIL import Image, ImageFilter

    h, w = mask.shape
    scale = min(1.0, work_size / max(h, w))
    pixels = mask.astype(np.uint8) * 255
    if scale < 1.0:
        small = Image.fromarray(pixels).resize((max(1, round(w * scale)),
                                                max(1, round(h * scale))), Image.Resampling.BOX)
        pixels = np.asarray(small)
        radius = max(1, round(radius * scale))
    img = Image.fromarray(pixels)
    if radius > 0:
        img = Image.fromarray(dilate(pixels, radius)).filter(ImageFilter.BoxBlur(radius))
    if scale < 1.0:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    alpha = np.asarray(img, dtype=np.float32)
    alpha /= 255.0  # in place: a 3000 px photo's alpha is tens of MB
    return alpha


def parse_images(parser, images: list[np.ndarray], resolution: int, device="cpu",
                 batch_size: int = 8, progress=None) -> list[np.ndarray]:
    """Label maps (the parser's schema, each image's own size) from any parser with
    ``.parse(images in [-1, 1], N x 3 x H x W) -> ids`` (mgpe's U-Net, a converted BiSeNet):
    each image squared to ``resolution`` once, ``batch_size`` per forward pass, each label map
    mapped back to its image's size (nearest)."""
    import torch

    from .tensors import images_to_tensor

    if int(batch_size) != batch_size or batch_size < 1:
        raise UsageError(f"parse: batch_size must be a whole number >= 1, got {batch_size}")
    out = []
    for start in range(0, len(images), int(batch_size)):
        chunk = images[start:start + int(batch_size)]
        geos = [square_geometry(img.shape[:2]) for img in chunk]
        squares = np.stack([square_image(img, geo, resolution)
                            for img, geo in zip(chunk, geos, strict=True)])
        x = images_to_tensor(squares)
        with torch.inference_mode():
            labs = parser.parse(x.to(device)).byte().cpu().numpy()
        out.extend(from_square(lab, geo, img.shape[:2], nearest=True)
                   for lab, geo, img in zip(labs, geos, chunk, strict=True))
        if progress is not None:
            progress(len(chunk))
    return out


class SchemaParser:
    """A parser whose labels are converted to another schema by class name and handedness
    (:func:`mgpe_core.labels.conversion_table`): a parser-only model (a converted BiSeNet)
    labelling photos for an editing model. Same ``.parse(images) -> ids`` interface."""

    def __init__(self, parser, src, dst):
        from .labels import conversion_table

        self.parser, self.src_schema, self.schema = parser, src, dst
        self.table = conversion_table(src, dst).astype(np.int64)

    def to(self, device):
        self.parser = self.parser.to(device)
        return self

    def eval(self):
        self.parser.eval()
        return self

    def parse(self, images, **kwargs):
        import torch

        ids = self.parser.parse(images, **kwargs)
        return torch.from_numpy(self.table).to(ids.device)[ids.long()]


class LRU:
    """A bounded mapping that forgets the least recently used entry first (thread-safe)."""

    def __init__(self, size: int):
        import threading
        from collections import OrderedDict

        self.size = int(size)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class EmbeddingCache:
    """What an edit computes from its portraits alone, kept for the next edit of the same
    portraits: the squared photo and labels, the per-component latent means and each style
    source's (and calibrated, each target's) part colours (``prepared``, ``mus``, ``parts``:
    up to ``size`` portraits each; :func:`~mgpe_core.colour_match.part_colours`), and the
    decoded features of each combination of style donors (``feats``: up to ``size``
    combinations). Portraits are keyed by a hash of their pixels and labels (:meth:`key`), so
    an edited copy of a photo is a new entry and a stale embedding is never used.

    ``stems``: for the last few target portraits (:data:`STEMS_KEPT`: at 256 px and the
    paper's widths an entry holds about 36 MB), the synthesis's first convolutions at the mask
    last drawn, which the next stroke on that portrait updates where the mask changed
    (:meth:`mgpe_core.model.generator.MGPEGenerator.synthesis_stems`)."""

    STEMS_KEPT = 4

    def __init__(self, size: int):
        if int(size) != size or size < 1:
            raise UsageError(f"embedding_cache must be a whole number >= 1, got {size}")
        self.prepared, self.mus, self.feats = LRU(size), LRU(size), LRU(size)
        self.parts = LRU(size)
        self.stems = LRU(min(size, self.STEMS_KEPT))

    @staticmethod
    def key(p: Portrait) -> str:
        import hashlib

        h = hashlib.blake2b(digest_size=20)
        for arr in (p.image, p.labels):
            arr = np.ascontiguousarray(arr)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(memoryview(arr).cast("B"))
        return h.hexdigest()

    def clear(self) -> None:
        for part in (self.prepared, self.mus, self.feats, self.parts, self.stems):
            part.clear()


class Editor:
    """Runs edits with a loaded model (see :func:`mgpe_core.registry.load_model`)."""

    def __init__(self, model, device="cpu", fast: bool = True, precision: str = "fp32",
                 compile: bool = False, embedding_cache: int = 0,
                 default_styles: dict | None = None, style_weights: dict | None = None):
        """``fast``: folded BatchNorm, channels-last copy (same outputs within float error).
        ``precision="bf16"``: bf16 weights and autocast (pays on GPUs and CPUs with native
        bf16). ``compile``: the synthesis network (most of an edit's time) goes through
        ``torch.compile`` with weights frozen into the graph; the first edit of each batch
        size then waits for the compiler (tens of seconds on a CPU), so it pays only for long
        jobs (``mgpe eval``, many edits); implies ``fast``. Figures: bench/README.md.

        An ``original`` model's networks run as converted (no folding, no compile: its outputs
        are the release's within float error; ``precision="bf16"`` autocasts).

        ``embedding_cache=N`` (0: off, the default) keeps, for up to N portraits, the squared
        photo and labels and each component's latent mean, and for up to N donor combinations
        the decoded features (:class:`EmbeddingCache`): editing the same photos again with
        another mask (a brush stroke in ``mgpe serve``) then runs only the mask-dependent part
        of the generator (mask encoders, G_m, background fusing), and in fp32 the first
        convolutions of E_m and of the background encoder are updated only where the mask
        changed since that photo's previous edit (:mod:`mgpe_core.model.incremental`).
        Outputs equal the uncached ones within float error. An ``original`` model caches the
        squared portraits only (its networks run one face at a time).

        ``default_styles``: {component: Portrait} whose style a component takes when its donor
        has none of it and the edited mask has it (hair on a bald photo); None: the model's
        own (config.json ``default_styles``, :mod:`mgpe_core.default_styles`), ``{}``: none.

        ``style_weights``: {class id: :class:`~mgpe_core.colour_match.StyleWeights`}, how a
        restyled class's colour offset blends the style source's and the target's rendering
        errors and photo colours; None: the model's calibration (config.json ``style_match``,
        :mod:`mgpe_core.style_match`), ``{}``: the source's error alone."""
        import torch

        from .default_styles import model_default_styles
        from .model.optimize import prepare_for_inference
        from .style_match import model_style_weights

        self.model = model
        self.device = torch.device(device)
        self.schema = model.schema
        self.resolution = model.resolution
        self.architecture = getattr(model, "architecture", "mgpe")
        gen = model.generator.to(self.device).eval()
        fold_parser = fast or compile
        if self.architecture == "original":
            fast = compile = False
        # bf16: store the conv/linear weights in bf16 too, so autocast does not cast every fp32
        # weight on every call (bench/bench_model_forward.py: "bf16 weights stored")
        dtype = torch.bfloat16 if precision == "bf16" else None
        self.generator = (prepare_for_inference(gen, channels_last=True, dtype=dtype)
                          if fast or compile else gen)
        if compile:  # an attribute of this private copy: the model's generator is untouched
            import warnings

            # the component tables are lru_cached functions of the schema: constants to dynamo
            warnings.filterwarnings("ignore", message=r"Dynamo detected a call to a "
                                    r"`functools.lru_cache`", category=UserWarning)
            self.generator.synthesize = torch.compile(
                self.generator.synthesize, dynamic=False, options={"freezing": True})
        # the parser too (labels for photos given without a mask): same labels, ~1.5x faster
        parser = model.parser
        if isinstance(parser, SchemaParser) and fold_parser:  # fold the network inside
            parser = SchemaParser(prepare_for_inference(parser.parser.to(self.device)),
                                  parser.src_schema, parser.schema)
        elif parser is not None and fold_parser:
            parser = prepare_for_inference(parser.to(self.device))
        self.parser = parser
        self.precision = precision
        self.compiled = bool(compile)
        self.cache = EmbeddingCache(embedding_cache) if embedding_cache else None
        self.default_styles = (model_default_styles(model) if default_styles is None
                               else dict(default_styles))
        self.style_weights = (model_style_weights(model) if style_weights is None
                              else dict(style_weights))

    # -- helpers --------------------------------------------------------------------------------

    def _autocast(self):
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def parse(self, images: list[np.ndarray], batch_size: int = 8,
              progress=None) -> list[np.ndarray]:
        """Label maps (model schema, each image's own size) from the model's parser.

        Images are squared to the model's resolution, then parsed ``batch_size`` at a time: one
        forward pass per batch instead of per image, which is what a GPU needs to be busy (on a
        CPU the time per image is about the same either way: bench/README.md, parser). Each
        label map is mapped back to its own image's size (nearest), as one at a time.
        ``progress(n)`` is called after each batch. Editing and ``mgpe eval`` both parse here
        (:func:`parse_images`, the one parser-inference path)."""
        if self.parser is None:
            raise UsageError(f"model {self.model.name} has no parser: pass a mask (--mask)")
        return parse_images(self.parser, images, self.resolution, self.device, batch_size,
                            progress)

    def ensure_labels(self, portraits: list[Portrait]) -> None:
        missing = [p for p in portraits if p.labels is None]
        if missing:
            for p, lab in zip(missing, self.parse([p.image for p in missing]), strict=True):
                p.labels = lab

    # -- the edit ---------------------------------------------------------------------------------

    def with_default_styles(self, requests: list[EditRequest]) -> list[EditRequest]:
        """The requests as the networks run them: a component whose donor lacks it but whose
        edited mask has it takes :attr:`default_styles`' portrait's style (photos without a
        mask are parsed first: what a donor lacks is read from its labels)."""
        from .default_styles import with_default_styles

        if not self.default_styles:
            return requests
        self.ensure_labels([p for r in requests for p in (r.target, *r.styles.values())])
        return [with_default_styles(r, self.default_styles, self.schema) for r in requests]

    def edit(self, requests: list[EditRequest], paste_back: bool = False, batch_size: int = 8,
             progress=None) -> list[EditResult]:
        results: list[EditResult] = []
        for start in range(0, len(requests), batch_size):
            chunk = self.with_default_styles(requests[start:start + batch_size])
            results.extend(self._edit_batch(chunk, paste_back))
            if progress:
                progress(len(chunk))
        return results

    def generate(self, requests: list[EditRequest]):
        """The raw outputs of ``requests`` (a float tensor N x 3 x r x r in [-1, 1], on the
        editor's device): what :meth:`edit` turns into pixels, before any blend."""
        return self._generate(self.with_default_styles(requests))[0]

    def _edit_batch(self, requests: list[EditRequest], paste_back: bool) -> list[EditResult]:
        from .tensors import tensor_to_images

        # each style source (and, for a calibrated model, each restyled target) re-rendered
        # unchanged (rows after the requests; once per cached portrait): its classes' photo
        # colours and colour errors, from which the restyled components' offsets are made
        cache = self.cache
        rendered = _rendered_portraits(requests, self.style_weights, self.schema)
        keys = {id(p): cache.key(p) for p in rendered} if cache is not None else {}
        parts, render = {}, []
        for p in rendered:
            hit = cache.parts.get(keys[id(p)]) if cache is not None else None
            if hit is None:
                render.append(p)
            else:
                parts[id(p)] = hit
        out, prepared, index, masks, geos = self._generate(
            requests + [EditRequest(p) for p in render])
        r = self.resolution
        pixels = tensor_to_images(out)
        for k, p in enumerate(render, start=len(requests)):
            image, labels, _ = prepared[index[id(p)]]
            parts[id(p)] = part_colours(image, pixels[k], labels,
                                        range(len(self.schema.classes)))
            if cache is not None:
                cache.parts.put(keys[id(p)], parts[id(p)])
        surfaces = surface_ids(self.schema)
        results = []
        for i, req in enumerate(requests):
            model_img = pixels[i]
            if not req.keep_unedited:
                results.append(self._paste_back(req, model_img, geos[i]) if paste_back else
                               EditResult(model_img, masks[i], model_img))
                continue
            square = prepared[index[id(req.target)]][0]
            edited = edit_region(req, self.schema)  # at the photo's size
            region = square_labels(edited.astype(np.uint8), geos[i], r).astype(bool)
            shown = model_img
            if req.match_style:
                shown = match_to_sources(shown, masks[i], region,
                                         self._source_offsets(req, parts, model_img,
                                                              masks[i]))
                shown = self._recolour_fringes(req, shown, square,
                                               prepared[index[id(req.target)]][1], masks[i],
                                               region)
            if req.match_colour:
                shown = match_to_photo(shown, square, masks[i], region, blend_radius(r),
                                       surfaces)
            if paste_back:
                results.append(self._paste_back(req, shown, geos[i], model_img, edited))
            else:
                alpha = feathered(region, blend_radius(r))
                results.append(EditResult(blend(shown, square, alpha), masks[i], model_img))
        return results

    def _recolour_fringes(self, req: EditRequest, shown: np.ndarray, square: np.ndarray,
                          own: np.ndarray, mask: np.ndarray, region: np.ndarray) -> np.ndarray:
        """``shown`` with the fringe of each of ``req``'s restyled components in ``region``
        recoloured with it (:func:`~mgpe_core.restyled_fringe.recolour_fringe`; ``square``
        and ``own``: the target photo and its labels at the model's resolution)."""
        background = self.schema.index("background")
        for ids, fringe in restyled_fringes(req, own, mask, self.schema):
            fringe &= region
            if fringe.any():
                shown = recolour_fringe(shown, square, own, mask, fringe, ids, background)
        return shown

    def _source_offsets(self, req: EditRequest, parts: dict, generated: np.ndarray,
                        mask: np.ndarray) -> dict[int, np.ndarray]:
        """Class id -> Lab offset for the classes of ``req``'s restyled components: the
        model's blend (:attr:`style_weights`) of the part colours of the portrait that
        component's style comes from and of the target (``parts``: by portrait id) and of
        the ``generated`` part's own colour under the edited ``mask``; on a canvas, the style
        source's error alone."""
        from .components import get_component

        out = {}
        own = {} if req.canvas else parts.get(id(req.target), {})
        weights = {} if req.canvas else self.style_weights
        for name, donor in req.restyled().items():
            ids = self.schema.ids(get_component(name).classes)
            out.update(style_offsets(ids, parts[id(donor)], own,
                                     edited_colours(generated, mask, ids), weights))
        return out

    def _generate(self, requests: list[EditRequest]):
        """(outputs, squared portraits, {id: row}, squared target masks, geometries)."""
        import torch

        from .tensors import images_to_tensor, labels_to_tensor

        r = self.resolution
        portraits: list[Portrait] = []
        index: dict[int, int] = {}
        for req in requests:
            for p in (req.target, *req.styles.values()):
                if id(p) not in index:
                    index[id(p)] = len(portraits)
                    portraits.append(p)
        self.ensure_labels(portraits)
        cache = self.cache
        keys = [cache.key(p) for p in portraits] if cache is not None else None
        # each photo is squared and resized (Lanczos) once; its masks reuse its geometry
        prepared = [self._prepare(p, keys[i] if keys else None)
                    for i, p in enumerate(portraits)]
        masks, geos, tgt_rows, targets = [], [], [], []
        background = self.schema.index("background")
        for req in requests:
            mask = req.mask if req.mask is not None else req.target.labels
            row = index[id(req.target)]
            image, labels, geo = prepared[row]
            masks.append(square_labels(self.schema.validate(mask, "edited mask"), geo, r))
            geos.append(geo)
            tgt_rows.append(row)
            # background the edited mask uncovers: filled from the photo's own background
            targets.append(background_input(image, labels, masks[-1], background))
        if self.architecture == "original":
            out = self._generate_original(requests, portraits, index, prepared, masks, targets)
            return out, prepared, index, masks, geos
        if cache is not None:
            out = self._generate_cached(requests, keys, index, prepared, masks, tgt_rows,
                                        targets)
            return out, prepared, index, masks, geos
        imgs = images_to_tensor([im for im, _, _ in prepared], self.device)
        labs = labels_to_tensor([lb for _, lb, _ in prepared], self.device)
        tgt_masks = labels_to_tensor(masks, self.device)
        gen = self.generator
        with torch.inference_mode(), self._autocast():
            enc = gen.encode(imgs.contiguous(memory_format=torch.channels_last), labs)
            latents = {}
            for comp in COMPONENT_NAMES:
                pick = torch.tensor([index[id(req.styles.get(comp, req.target))]
                                     for req in requests], device=self.device)
                latents[comp] = enc.mu[comp][pick]
            feats, _ = gen.decode(latents)
            out = gen.synthesize(feats, images_to_tensor(targets, self.device), tgt_masks)
        return out, prepared, index, masks, geos

    def _prepare(self, p: Portrait, key):
        """(square image, square labels, geometry) of a portrait, from the cache when on."""
        if key is not None:
            hit = self.cache.prepared.get(key)
            if hit is not None:
                return hit
        prep = to_square(p.image, self.schema.validate(p.labels, p.name or "mask"),
                         self.resolution)
        if key is not None:
            self.cache.prepared.put(key, prep)
        return prep

    def _generate_cached(self, requests, keys, index, prepared, masks, tgt_rows, targets):
        """:meth:`_generate`'s networks with the :class:`EmbeddingCache`: only portraits not
        seen before are encoded and only donor combinations not seen before decoded (each in
        one batch); the synthesis, which depends on the target mask, always runs.
        ``targets``: each request's target image as synthesis sees it."""
        import torch

        from .tensors import images_to_tensor, labels_to_tensor

        cache, gen = self.cache, self.generator
        with torch.inference_mode(), self._autocast():
            mus = {}  # this call's means: an eviction mid-call cannot lose one
            todo = []
            for i, k in enumerate(keys):
                if k not in mus:
                    mus[k] = cache.mus.get(k)
                    if mus[k] is None:
                        todo.append(i)
            if todo:
                imgs = images_to_tensor([prepared[i][0] for i in todo], self.device)
                labs = labels_to_tensor([prepared[i][1] for i in todo], self.device)
                enc = gen.encode(imgs.contiguous(memory_format=torch.channels_last), labs)
                for j, i in enumerate(todo):
                    mus[keys[i]] = {c: enc.mu[c][j:j + 1] for c in COMPONENT_NAMES}
                    cache.mus.put(keys[i], mus[keys[i]])
            combos = [tuple(keys[index[id(req.styles.get(c, req.target))]]
                            for c in COMPONENT_NAMES) for req in requests]
            feats = {}
            for combo in combos:
                if combo not in feats:
                    feats[combo] = cache.feats.get(combo)
            new = [c for c, f in feats.items() if f is None]
            if new:
                latents = {c: torch.cat([mus[combo[n]][c] for combo in new])
                           for n, c in enumerate(COMPONENT_NAMES)}
                decoded, _ = gen.decode(latents)
                for j, combo in enumerate(new):
                    feats[combo] = {c: f[j:j + 1] for c, f in decoded.items()}
                    cache.feats.put(combo, feats[combo])
            batch = feats[combos[0]] if len(combos) == 1 else {
                c: torch.cat([feats[combo][c] for combo in combos]) for c in feats[combos[0]]}
            target = images_to_tensor(targets, self.device)
            labels = labels_to_tensor(masks, self.device)
            stems = self._synthesis_stems([keys[r] for r in tgt_rows], target, labels)
            out = gen.synthesize(batch, target, labels, stems=stems)
        return out

    def _synthesis_stems(self, target_keys: list[str], target, labels):
        """The synthesis stems of each target row, updated from that portrait's previous
        mask where the cache holds it (fp32 only: sums of bf16 updates would drift; not under
        ``compile``, whose graph is fixed); None to compute them inside the synthesis."""
        if self.precision != "fp32" or self.compiled:
            return None
        from .model.generator import SynthesisStems

        rows = []
        for i, key in enumerate(target_keys):
            st = self.generator.synthesis_stems(target[i:i + 1], labels[i:i + 1],
                                                self.cache.stems.get(key))
            if st is None:
                return None
            self.cache.stems.put(key, st)
            rows.append(st)
        return rows[0] if len(rows) == 1 else SynthesisStems.cat(rows)

    def _generate_original(self, requests, portraits, index, prepared, masks, targets):
        """The ``original`` architecture, one face at a time as the release runs: every distinct
        portrait prepared on its square (its own labels) and encoded once; per request the
        components' means from their donors, decoded, synthesized on the target's square with
        the (edited) mask. A face whose centres the release refuses: LabelError naming it."""
        import torch

        from .model.original import PARTS, prepare_face

        gen = self.generator

        def face(image, labels, what):
            try:
                f = prepare_face(image, labels)
            except LabelError as e:
                raise LabelError(f"{what}: {e}") from None
            f.photo = f.photo.to(self.device)
            return f

        mus: dict[int, dict] = {}
        outs = []
        with torch.inference_mode(), self._autocast():
            for req, mask, image in zip(requests, masks, targets, strict=True):
                donors = {c: index[id(req.styles.get(c, req.target))] for c in PARTS}
                for d in sorted(set(donors.values())):
                    if d not in mus:
                        im, lb, _ = prepared[d]
                        mus[d] = gen.encode(face(im, lb, portraits[d].name or "portrait"))
                feats = gen.decode({c: mus[donors[c]][c] for c in PARTS})
                target = face(image, mask,
                              f"{req.target.name or 'target'} (edited mask)")
                outs.append(gen.synthesize(feats, target).float())
        return torch.cat(outs)

    def _paste_back(self, req: EditRequest, shown: np.ndarray, geo,
                    model_img: np.ndarray | None = None,
                    edited: np.ndarray | None = None) -> EditResult:
        """Blend ``shown`` (the output, colour-matched or not) into the original photo
        (feathered): inside the edited region (``edited``: :func:`edit_region` at the
        photo's size, given with ``keep_unedited``), or inside the face region without it.
        ``model_img``: the raw output the result reports (default: ``shown``)."""
        target = req.target
        hw = target.image.shape[:2]
        full = from_square(shown, geo, hw)
        mask = req.mask if req.mask is not None else target.labels
        if req.keep_unedited:
            alpha = feathered(edited, blend_radius(max(hw)))
        else:
            alpha = feathered((mask != 0) | (target.labels != 0),
                              max(1, int(round(0.01 * max(hw)))))
        return EditResult(blend(full, target.image, alpha), mask,
                          shown if model_img is None else model_img)
