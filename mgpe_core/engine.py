"""The edit engine: the one place where networks run for editing.

Operations only describe edits (:class:`EditRequest`: whose layout and background, which mask,
which component styles come from which photo); the engine does the rest, batched:

    inputs of any size -> square pad + resize to the model's resolution (labels nearest)
    -> one batched encode of every distinct photo -> per-request latents per component
    -> decode -> synthesize with the target mask and background -> pixels
    -> optionally pasted back into the original-resolution photo inside the face region.

Load a model once, call :meth:`Editor.edit` many times (the Python API the CLI uses too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .components import COMPONENT_NAMES
from .errors import LabelError, UsageError


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
    the target's own, plus, for every component whose style comes from another portrait, that
    component's pixels in the old and the new mask. Everything else is the photo as it was:
    re-rendering it would only add the generator's reconstruction error."""
    from .components import get_component

    old = request.target.labels
    new = request.mask if request.mask is not None else old
    region = new != old
    for comp, source in request.styles.items():
        if source is request.target:
            continue
        ids = schema.ids(get_component(comp).classes)
        region |= np.isin(old, ids) | np.isin(new, ids)
    return region


def blend_radius(size: int) -> int:
    """Feather radius (px) of the edited region at an image's longer side: 1/64 of it. The
    blend reaches at most twice this beyond the region (dilation, then blur)."""
    return max(1, round(size / 64))


def blend(generated: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """alpha * generated + (1 - alpha) * original, uint8, in row blocks (bounded memory)."""
    out = np.empty_like(original)
    for y in range(0, original.shape[0], 512):
        a = alpha[y:y + 512, :, None]
        mix = a * generated[y:y + 512] + (1 - a) * original[y:y + 512].astype(np.float32)
        out[y:y + 512] = np.clip(np.round(mix), 0, 255).astype(np.uint8)
    return out


def to_square(image: np.ndarray, labels: np.ndarray | None, size: int):
    """Pad to a square (edge pixels for the image, background for labels), resize to ``size``.
    Returns (image, labels, (top, left, side)) so paste-back can undo it."""
    from PIL import Image

    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    if h != w:
        image = np.pad(image, ((top, side - h - top), (left, side - w - left), (0, 0)),
                       mode="edge")
        if labels is not None:
            labels = np.pad(labels, ((top, side - h - top), (left, side - w - left)))
    if side != size:
        image = np.array(Image.fromarray(image).resize((size, size),
                                                         Image.Resampling.LANCZOS))
        if labels is not None:
            labels = np.array(Image.fromarray(labels).resize((size, size),
                                                               Image.Resampling.NEAREST))
    return image, labels, (top, left, side)


def from_square(pixels: np.ndarray, geometry, out_hw, nearest: bool = False) -> np.ndarray:
    from PIL import Image

    top, left, side = geometry
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    big = np.asarray(Image.fromarray(pixels).resize((side, side), resample))
    return big[top:top + out_hw[0], left:left + out_hw[1]]


def feathered(mask: np.ndarray, radius: int, work_size: int = 1024) -> np.ndarray:
    """Soft version of a binary mask: dilated by ``radius`` then box-blurred (float in [0, 1]).

    Large masks are feathered at ``work_size`` on their longer side and scaled back up: the
    result is smooth anyway, and an 8000 px photo would otherwise need a 161 px max filter over
    64 M pixels (minutes)."""
    from PIL import Image, ImageFilter

    h, w = mask.shape
    scale = min(1.0, work_size / max(h, w))
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                         Image.Resampling.BOX)
        radius = max(1, round(radius * scale))
    if radius > 0:
        img = img.filter(ImageFilter.MaxFilter(2 * radius + 1))
        img = img.filter(ImageFilter.BoxBlur(radius))
    if scale < 1.0:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


class Editor:
    """Runs edits with a loaded model (see :func:`mgpe_core.registry.load_model`)."""

    def __init__(self, model, device="cpu", fast: bool = True, precision: str = "fp32",
                 compile: bool = False):
        """``fast``: folded BatchNorm, channels-last copy (same outputs within float error).
        ``precision="bf16"``: bf16 weights and autocast (pays on GPUs and CPUs with native
        bf16). ``compile``: the synthesis network (most of an edit's time) goes through
        ``torch.compile`` with weights frozen into the graph; the first edit of each batch
        size then waits for the compiler (tens of seconds on a CPU), so it pays only for long
        jobs (``mgpe eval``, many edits); implies ``fast``. Figures: bench/README.md."""
        import torch

        from .model.optimize import prepare_for_inference

        self.model = model
        self.device = torch.device(device)
        self.schema = model.schema
        self.resolution = model.resolution
        gen = model.generator.to(self.device).eval()
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
        self.parser = (prepare_for_inference(model.parser.to(self.device))
                       if model.parser is not None and (fast or compile) else model.parser)
        self.precision = precision

    # -- helpers --------------------------------------------------------------------------------

    def _autocast(self):
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def parse(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Label maps (model schema, each image's own size) from the model's parser."""
        import torch

        if self.parser is None:
            raise UsageError(f"model {self.model.name} has no parser: pass a mask (--mask)")
        out = []
        for img in images:
            square, _, geo = to_square(img, None, self.resolution)
            x = torch.from_numpy(square).permute(2, 0, 1)[None].float().div(127.5).sub(1)
            with torch.inference_mode():
                lab = self.parser.parse(x.to(self.device))[0].byte().cpu().numpy()
            out.append(from_square(lab, geo, img.shape[:2], nearest=True))
        return out

    def ensure_labels(self, portraits: list[Portrait]) -> None:
        missing = [p for p in portraits if p.labels is None]
        if missing:
            for p, lab in zip(missing, self.parse([p.image for p in missing]), strict=True):
                p.labels = lab

    # -- the edit ---------------------------------------------------------------------------------

    def edit(self, requests: list[EditRequest], paste_back: bool = False, batch_size: int = 8,
             progress=None) -> list[EditResult]:
        results: list[EditResult] = []
        for start in range(0, len(requests), batch_size):
            chunk = requests[start:start + batch_size]
            results.extend(self._edit_batch(chunk, paste_back))
            if progress:
                progress(len(chunk))
        return results

    def _edit_batch(self, requests: list[EditRequest], paste_back: bool) -> list[EditResult]:
        import torch

        r = self.resolution
        portraits: list[Portrait] = []
        index: dict[int, int] = {}
        for req in requests:
            for p in (req.target, *req.styles.values()):
                if id(p) not in index:
                    index[id(p)] = len(portraits)
                    portraits.append(p)
        self.ensure_labels(portraits)
        prepared = [to_square(p.image, self.schema.validate(p.labels, p.name or "mask"), r)
                    for p in portraits]
        imgs = torch.from_numpy(np.stack([im for im, _, _ in prepared])).permute(0, 3, 1, 2)
        imgs = imgs.float().div(127.5).sub(1).to(self.device)
        labs = torch.from_numpy(np.stack([lb for _, lb, _ in prepared])).long().to(self.device)
        masks, geos, tgt_rows = [], [], []
        for req in requests:
            mask = req.mask if req.mask is not None else req.target.labels
            _, m, geo = to_square(req.target.image, self.schema.validate(mask, "edited mask"), r)
            masks.append(m)
            geos.append(geo)
            tgt_rows.append(index[id(req.target)])
        tgt_masks = torch.from_numpy(np.stack(masks)).long().to(self.device)
        rows = torch.tensor(tgt_rows, device=self.device)
        gen = self.generator
        with torch.inference_mode(), self._autocast():
            enc = gen.encode(imgs.contiguous(memory_format=torch.channels_last), labs)
            latents = {}
            for comp in COMPONENT_NAMES:
                pick = torch.tensor([index[id(req.styles.get(comp, req.target))]
                                     for req in requests], device=self.device)
                latents[comp] = enc.mu[comp][pick]
            feats, _ = gen.decode(latents)
            out = gen.synthesize(feats, imgs[rows], tgt_masks)
        pixels = ((out.float().clamp(-1, 1) + 1) * 127.5).round().byte()
        pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
        results = []
        for i, req in enumerate(requests):
            model_img = pixels[i]
            if paste_back:
                results.append(self._paste_back(req, model_img, geos[i]))
            elif req.keep_unedited:
                square = prepared[index[id(req.target)]][0]
                _, region, _ = to_square(req.target.image,
                                         edit_region(req, self.schema).astype(np.uint8), r)
                alpha = feathered(region.astype(bool), blend_radius(r))
                results.append(EditResult(blend(model_img, square, alpha), masks[i], model_img))
            else:
                results.append(EditResult(model_img, masks[i], model_img))
        return results

    def _paste_back(self, req: EditRequest, model_img: np.ndarray, geo) -> EditResult:
        """Blend the output into the original photo (feathered): inside the edited region, or
        inside the face region with ``keep_unedited=False``."""
        target = req.target
        hw = target.image.shape[:2]
        full = from_square(model_img, geo, hw)
        mask = req.mask if req.mask is not None else target.labels
        if req.keep_unedited:
            alpha = feathered(edit_region(req, self.schema), blend_radius(max(hw)))
        else:
            alpha = feathered((mask != 0) | (target.labels != 0),
                              max(1, int(round(0.01 * max(hw)))))
        return EditResult(blend(full, target.image, alpha), mask, model_img)
