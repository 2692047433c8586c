"""Batched augmentation of (image, label map) pairs on the device, with kornia.

- Horizontal flip (per sample, probability ``flip_p``): mirrors image and labels and swaps every
  left/right class through ``schema.flip_permutation``, so a flipped left eye is labelled as the
  (image-)right eye it now is. Done with plain torch: the flip needs the per-sample decision to
  permute ids, and a ``torch.where`` keeps it free of host synchronisation.
- Affine (rotation, translation, scale; probability ``p_affine``): one
  ``kornia.augmentation.AugmentationSequential`` with ``data_keys=["input", "mask"]``, so the image
  and the mask get the SAME parameters; the container resamples masks with nearest neighbour
  (its default ``extra_args``) and pads them with 0 = background, so labels stay exact ids.
- Colour jitter (probability ``p_jitter``): the image only (an intensity op leaves masks alone),
  on [0, 1] pixels.

Everything runs in float32 with autocast off, whatever the input dtype (a bf16 image is converted
and returned as bf16): sampling grids computed in bf16 would misplace pixels, and image and mask
must be sampled at the very same points. All randomness comes from torch's generators, so a fixed
``torch.manual_seed`` reproduces a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch
from torch import nn

from ..errors import UsageError
from ..labels import LabelSchema, get_schema

DEFAULT_AFFINE = MappingProxyType({"degrees": 5, "translate": 0.03, "scale": (0.95, 1.05)})
DEFAULT_JITTER = MappingProxyType(
    {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.02}
)


class PortraitAugment(nn.Module):
    """``forward(image (B, 3, H, W) in [-1, 1], labels (B, H, W) int) -> (image, labels)``.

    ``affine``: keyword arguments of ``kornia.augmentation.RandomAffine`` (a scalar
    ``translate`` means the same fraction along x and y; kornia itself would read a scalar as
    ``(0, t)``, i.e. no horizontal shift); ``None`` turns the affine off. Its ``padding_mode``
    (default ``"zeros"``: black image, background labels) applies to the mask too, so keep it for
    exact background outside the image. ``jitter``: keyword arguments of
    ``kornia.augmentation.ColorJitter``; ``None`` turns it off.
    """

    def __init__(self, schema: str | LabelSchema, flip_p: float = 0.5,
                 affine: Mapping | None = DEFAULT_AFFINE, jitter: Mapping | None = DEFAULT_JITTER,
                 p_affine: float = 0.8, p_jitter: float = 0.8):
        super().__init__()
        import kornia.augmentation as K
        from kornia.constants import DataKey, Resample

        self.schema = get_schema(schema)
        for name, p in (("flip_p", flip_p), ("p_affine", p_affine), ("p_jitter", p_jitter)):
            if not 0.0 <= p <= 1.0:
                raise UsageError(f"{name} must be a probability in [0, 1], got {p}")
        self.flip_p = float(flip_p)
        self.register_buffer("flip_perm", torch.from_numpy(self.schema.flip_permutation.copy()),
                             persistent=False)
        self.geometric = None
        if affine is not None and p_affine > 0:
            args = dict(affine)
            t = args.get("translate")
            if isinstance(t, (int, float)):
                args["translate"] = (float(t), float(t))
            args.setdefault("padding_mode", "zeros")
            # Nearest for masks is kornia's default; spelled out so a changed default cannot
            # silently interpolate ids.
            self.geometric = K.AugmentationSequential(
                K.RandomAffine(p=p_affine, **args), data_keys=["input", "mask"],
                extra_args={DataKey.MASK: {"resample": Resample.NEAREST, "align_corners": None}},
            )
        self.jitter = None
        if jitter is not None and p_jitter > 0:
            self.jitter = K.ColorJitter(p=p_jitter, **dict(jitter))

    def forward(self, image: torch.Tensor, labels: torch.Tensor):
        if image.ndim != 4 or image.shape[1] != 3:
            raise UsageError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
        if labels.shape != (image.shape[0], *image.shape[2:]):
            raise UsageError(f"labels {tuple(labels.shape)} do not match image "
                             f"{tuple(image.shape)}: expected (B, H, W)")
        out_dtype, lab_dtype = image.dtype, labels.dtype
        with torch.autocast(image.device.type, enabled=False):
            x, lab = image.float(), labels.long()
            if self.flip_p > 0:
                flip = torch.rand(x.shape[0], device=x.device) < self.flip_p
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
                lab = torch.where(flip[:, None, None], self.flip_perm[lab.flip(-1)], lab)
            if self.geometric is not None or self.jitter is not None:
                x = (x + 1.0) * 0.5  # [0, 1]: jitter's range; affine padding is then black
                if self.geometric is not None:
                    # Masks go in as exact float ids (B, 1, H, W): resampled nearest, padded
                    # with 0 = background.
                    x, m = self.geometric(x, lab[:, None].float())
                    lab = m[:, 0].round().long()
                if self.jitter is not None:
                    x = self.jitter(x)
                x = x.clamp(0.0, 1.0) * 2.0 - 1.0
        return x.to(out_dtype), lab.to(lab_dtype)
