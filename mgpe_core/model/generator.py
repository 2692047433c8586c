"""The MGPE generator: local embeddings -> mask-guided generation -> background fusing.

Data flow for one batch (all batched; the only Python loops run over the component table):

1. ``encode(source image, source labels)``: per component, crop (eyes/mouth windows at the
   source mask's centres, skin/hair as the full image times the component mask) and encode to a
   latent (mean, log-variance). ``crops`` are the L_local targets.
2. ``decode(latents)``: per component, generator features (1/4 size) and reconstructions.
3. ``synthesize(features, target image, target labels)``: the target mask goes through the mask
   encoder E_m (or five per-component encoders, ``mask_encoder = multi``); window features are
   placed on a canvas at the *target* mask's component centres (divided by 4); skin and hair
   features are dense maps; all are concatenated, G_m (1x1 conv, residual blocks, two 2x
   upsamplings: transposed convs or resize + conv, ``model.upsample``) produces full-size
   features, and G_b fuses them with an encoding of the target's background (label 0 region)
   into RGB (tanh; ``model.fuse`` chooses its cost).

Per-component style mixing (the edit engine's job) is choosing, per component, whose latent goes
into ``decode``: the networks never need to know where a style came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..components import COMPONENTS, component_centres, component_masks, window_size
from .blocks import ResBlock, conv_norm_act, up_block
from .config import ModelConfig
from .crops import crop_boxes, crop_windows, mask_boxes, place_windows
from .incremental import LinearStem, linear_stem
from .local import ComponentAutoencoder

#: Incremental stem updates (:meth:`MGPEGenerator.synthesis_stems`) before a full recompute,
#: which bounds the float error that sums of updates accumulate.
MAX_STEM_UPDATES = 32


@dataclass
class Encoded:
    """What the local encoders saw and produced, per component name."""

    mu: dict[str, torch.Tensor]
    logvar: dict[str, torch.Tensor]
    crops: dict[str, torch.Tensor]
    centres: torch.Tensor  # (B, 5, 2) source centres, pixels


@dataclass
class SynthesisStems:
    """E_m's and the background encoder's first convolution for a batch of targets, before
    their activation, with the inputs they were computed from (what the next stroke's
    update needs; :mod:`.incremental`). ``updates``: incremental updates since the last full
    computation."""

    mask_input: torch.Tensor
    mask: torch.Tensor
    background_input: torch.Tensor
    background: torch.Tensor
    updates: int = 0

    @staticmethod
    def cat(rows: list[SynthesisStems]) -> SynthesisStems:
        return SynthesisStems(*(torch.cat([getattr(r, f) for r in rows]) for f in
                                ("mask_input", "mask", "background_input", "background")))


def one_hot(labels: torch.Tensor, num_classes: int, dtype=torch.float32) -> torch.Tensor:
    """(B, H, W) ids -> (B, K, H, W)."""
    return F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).to(dtype)


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of (B, 1, H, W) masks by a square of side 2 * radius + 1.

    Not :func:`mgpe_core.morphology.dilate` (numpy): this runs inside the generator's forward
    pass (the mouth / eye-mask crops of :meth:`MGPEGenerator._component_inputs`), on float
    tensors on the training device, in training and in editing; a round trip to numpy would
    copy every batch's masks to the host and back (stalling a GPU) and split ``torch.compile``
    graphs. ``max_pool2d`` pads with -inf, so the border rule is the same (pixels beyond the
    border ignored)."""
    if radius <= 0:
        return mask
    return F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)


class MaskEncoder(nn.Module):
    """E_m: one-hot mask -> (C, R/4, R/4): 7x7 conv, then two stride-2 convs (kernel
    ``model.mask_encoder_kernel``)."""

    def __init__(self, cin: int, cfg: ModelConfig):
        super().__init__()
        c1, c2, c3 = cfg.channels(64), cfg.channels(128), cfg.channels(cfg.feature_channels)
        k = cfg.mask_encoder_kernel  # 4 (legacy) or 3 (the original code's): same sizes
        self.net = nn.Sequential(
            conv_norm_act(cin, c1, 7, 1, cfg.norm),
            conv_norm_act(c1, c2, k, 2, cfg.norm),
            conv_norm_act(c2, c3, k, 2, cfg.norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MGPEGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        schema = cfg.label_schema
        self.num_classes = schema.num_classes
        self.background_id = schema.index("background")
        r = cfg.resolution
        self.component_names = [c.name for c in COMPONENTS]
        self.windows = {
            c.name: window_size(c, r) for c in COMPONENTS if c.kind == "window"
        }
        self.local = nn.ModuleDict({
            c.name: ComponentAutoencoder(self.windows.get(c.name, (r, r)), cfg)
            for c in COMPONENTS
        })
        feat = cfg.channels(cfg.feature_channels)
        if cfg.mask_encoder == "single":
            self.mask_encoders = nn.ModuleList([MaskEncoder(self.num_classes, cfg)])
        else:  # one encoder per component, each reading that component's mask
            self.mask_encoders = nn.ModuleList([MaskEncoder(1, cfg) for _ in COMPONENTS])
        n_dense = sum(c.kind == "dense" for c in COMPONENTS)
        cin = feat * len(self.mask_encoders) + feat * (1 + n_dense)
        gch = cfg.channels(256)
        self.g_in = conv_norm_act(cin, gch, 1, 1, cfg.norm)
        self.g_res = nn.Sequential(*[ResBlock(gch, cfg.norm) for _ in range(cfg.res_blocks)])
        c_half, c_full = cfg.channels(128), cfg.channels(64)
        self.g_up = nn.Sequential(
            up_block(gch, c_half, cfg.norm, cfg.upsample),
            up_block(c_half, c_full, cfg.norm, cfg.upsample),
        )
        # Background fusing: encoder of the target background (RGB * bg mask, bg mask), then
        # G_b. ``fuse = resblocks``: two full-resolution stages of extra 3x3 work (legacy);
        # ``light``: the original code's cost (one 7x7 conv; a 1x1 conv and the 7x7 to RGB).
        if cfg.fuse == "resblocks":
            self.bg_encoder = nn.Sequential(
                conv_norm_act(4, c_full, 7, 1, cfg.norm),
                conv_norm_act(c_full, c_full, 3, 1, cfg.norm),
            )
            self.fuse = nn.Sequential(
                conv_norm_act(2 * c_full, c_full, 3, 1, cfg.norm),
                ResBlock(c_full, cfg.norm),
                ResBlock(c_full, cfg.norm),
                nn.ReflectionPad2d(3), nn.Conv2d(c_full, 3, 7), nn.Tanh(),
            )
        else:
            self.bg_encoder = conv_norm_act(4, c_full, 7, 1, cfg.norm)
            self.fuse = nn.Sequential(
                conv_norm_act(2 * c_full, c_full, 1, 1, cfg.norm),
                nn.ReflectionPad2d(3), nn.Conv2d(c_full, 3, 7), nn.Tanh(),
            )
        #: ``model.background_skip``: the share of the known background taken as is, from the
        #: features G_b's RGB convolution reads. It starts half open everywhere (zero weights
        #: and bias) and learns where the background can be taken as is. Its initialisation
        #: draws no random numbers (``skip_init``), so the networks built after it get the
        #: weights a seed gave them without the gate.
        self.background_gate = None
        if cfg.background_skip:
            conv = torch.nn.utils.skip_init(nn.Conv2d, c_full, 1, 7)
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
            self.background_gate = nn.Sequential(nn.ReflectionPad2d(3), conv)

    def initialised_fresh(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This network's own tensors for the modules a config adds on top of weights trained
        without them (``state`` lacks all of the background gate's keys): fine-tuning such
        weights with ``model.background_skip`` starts the gate at its initialisation."""
        if self.background_gate is None:
            return {}
        own = {f"background_gate.{k}": v for k, v in self.background_gate.state_dict().items()}
        if any(k in state for k in own):
            return {}
        return own

    # -- component plumbing -------------------------------------------------------------------

    def _component_inputs(self, image: torch.Tensor, labels: torch.Tensor,
                          centres: torch.Tensor) -> dict[str, torch.Tensor]:
        """Crops fed to each local encoder (also the L_local targets)."""
        cfg, schema = self.cfg, self.cfg.label_schema
        masks = component_masks(labels, schema).to(image.dtype)  # (B, 5, H, W)
        out = {}
        for k, comp in enumerate(COMPONENTS):
            m = masks[:, k:k + 1]
            if comp.kind == "dense":
                out[comp.name] = image * m
                continue
            hw = self.windows[comp.name]
            radius = int(round(cfg.enlarge_components * hw[0] / 2))
            if comp.name == "mouth":  # masked crop, mask grown ~10% (original code)
                out[comp.name] = crop_windows(image * dilate(m, radius), centres[:, k], hw)
            elif cfg.eye_window == "mask":  # eye-mask variant: box from the mask, eye pixels
                boxes = mask_boxes(m[:, 0] > 0.5, centres[:, k], aspect=hw[0] / hw[1])
                out[comp.name] = crop_boxes(image * dilate(m, max(1, radius // 2)), boxes, hw)
            else:  # fixed window including the surrounding skin (original code)
                out[comp.name] = crop_windows(image, centres[:, k], hw)
        return out

    def encode(self, image: torch.Tensor, labels: torch.Tensor) -> Encoded:
        centres = component_centres(labels, self.cfg.label_schema).to(image.dtype)
        crops = self._component_inputs(image, labels, centres)
        mu, logvar = {}, {}
        for name in self.component_names:
            mu[name], logvar[name] = self.local[name].encode(crops[name])
        return Encoded(mu, logvar, crops, centres)

    def decode(self, latents: dict[str, torch.Tensor], images: bool | None = None):
        """Latents -> (features, reconstructions), dicts keyed by component name.

        ``images``: also run the local decoders' image heads (the reconstructions are L_local's
        input and nothing else's). None = only when autograd is on (training): an edit runs
        under ``no_grad`` and gets an empty reconstructions dict, saving the image heads'
        work (3 % of a 256 px edit; the original code never runs its image decoders at test
        time either)."""
        if images is None:
            images = torch.is_grad_enabled()
        feats, recons = {}, {}
        for name in self.component_names:
            feats[name], recon = self.local[name].decode(latents[name], images=images)
            if recon is not None:
                recons[name] = recon
        return feats, recons

    def place_features(self, features: dict[str, torch.Tensor], target_labels: torch.Tensor):
        """Window features summed on one canvas at the target's centres / 4; dense maps as is."""
        r = self.cfg.resolution
        centres = component_centres(target_labels, self.cfg.label_schema) / 4
        canvas, dense = 0, []
        for k, comp in enumerate(COMPONENTS):
            f = features[comp.name]
            if comp.kind == "window":
                canvas = canvas + place_windows(f, centres[:, k].to(f.dtype), (r // 4, r // 4))
            else:
                dense.append(f)
        return canvas, dense

    def _synthesis_inputs(self, target_image: torch.Tensor, target_labels: torch.Tensor):
        """(one-hot target mask, background encoder input: RGB * bg mask, bg mask)."""
        onehot = one_hot(target_labels, self.num_classes, target_image.dtype)
        bg = (target_labels == self.background_id).unsqueeze(1).to(target_image.dtype)
        return onehot, torch.cat([target_image * bg, bg], dim=1)

    def _stem_parts(self) -> tuple[LinearStem, nn.Module, LinearStem, nn.Module] | None:
        """(E_m's stem, the rest of E_m, the background encoder's stem, its rest), or None when
        the stems cannot be updated exactly (per-component mask encoders, instance norm,
        training mode)."""
        if self.cfg.mask_encoder != "single" or self.training:
            return None
        em = self.mask_encoders[0].net
        bg = self.bg_encoder
        bg_stem, bg_rest = (bg[0], bg[1:]) if isinstance(bg[0], nn.Sequential) else (
            bg, nn.Identity())
        ms, bs = linear_stem(em[0]), linear_stem(bg_stem)
        if ms is None or bs is None:
            return None
        return ms, em[1:], bs, bg_rest

    def synthesis_stems(self, target_image: torch.Tensor, target_labels: torch.Tensor,
                        previous: SynthesisStems | None = None) -> SynthesisStems | None:
        """The stems of :meth:`synthesize` for these targets; with ``previous`` (typically the
        same target images with the mask before a stroke) updated where the inputs changed
        instead of recomputed (exact up to float rounding; a change over a quarter of the
        picture is recomputed). None when this network has no updatable stems."""
        parts = self._stem_parts()
        if parts is None:
            return None
        ms, _, bs, _ = parts
        onehot, bg_in = self._synthesis_inputs(target_image, target_labels)
        if (previous is not None and previous.updates < MAX_STEM_UPDATES
                and previous.mask_input.shape == onehot.shape
                and previous.background_input.shape == bg_in.shape):
            m = ms.update(previous.mask, previous.mask_input, onehot)
            b = bs.update(previous.background, previous.background_input, bg_in) \
                if m is not None else None
            if m is not None and b is not None:
                return SynthesisStems(onehot, m, bg_in, b, previous.updates + 1)
        return SynthesisStems(onehot, ms.linear(onehot), bg_in, bs.linear(bg_in))

    def synthesize(self, features: dict[str, torch.Tensor], target_image: torch.Tensor,
                   target_labels: torch.Tensor, stems: SynthesisStems | None = None
                   ) -> torch.Tensor:
        """The output image. ``stems``: :meth:`synthesis_stems` of these targets, computed
        (or updated) by the caller; E_m and the background encoder then start after them."""
        cfg, schema = self.cfg, self.cfg.label_schema
        parts = self._stem_parts() if stems is not None else None
        if parts is not None:
            ms, em_rest, bs, bg_rest = parts
            mask_feats = [em_rest(ms.finish(stems.mask))]
        else:
            onehot, bg_in = self._synthesis_inputs(target_image, target_labels)
            if cfg.mask_encoder == "single":
                mask_feats = [self.mask_encoders[0](onehot)]
            else:
                cmasks = component_masks(target_labels, schema).to(target_image.dtype)
                mask_feats = [enc(cmasks[:, k:k + 1])
                              for k, enc in enumerate(self.mask_encoders)]
        canvas, dense = self.place_features(features, target_labels)
        h = torch.cat([*mask_feats, canvas, *dense], dim=1)
        h = self.g_up(self.g_res(self.g_in(h)))
        if parts is not None:
            bg_in = stems.background_input
            b = bg_rest(bs.finish(stems.background))
        else:
            b = self.bg_encoder(bg_in)
        return self._fused(torch.cat([h, b], dim=1), bg_in)

    def _fused(self, x: torch.Tensor, bg_in: torch.Tensor) -> torch.Tensor:
        """G_b's output; with the background gate, blended with the known background
        (``bg_in``: RGB * background mask, background mask)."""
        if self.background_gate is None:
            return self.fuse(x)
        hidden = self.fuse[:-3](x)  # the last three: reflection pad, 7x7 conv to RGB, tanh
        pad, to_rgb = self.fuse[-3], self.fuse[-2]
        gate_conv = self.background_gate[1]  # the same pad and kernel over the same features
        # One convolution with the RGB and gate kernels stacked: a 7x7 conv to 1 or 3 channels
        # at full size is memory-bound, and the gate's alone had cost as long as the RGB one
        # (each about 6 % of a 256 px edit on a 2-core CPU; bench/bench_cost_vs_original.py).
        out = F.conv2d(pad(hidden), torch.cat([to_rgb.weight, gate_conv.weight]),
                       torch.cat([to_rgb.bias, gate_conv.bias]))
        rgb = torch.tanh(out[:, :3])
        gate = torch.sigmoid(out[:, 3:4]) * bg_in[:, 3:4]
        # exact at both ends of the gate; in rgb's dtype (bf16 under autocast, as without it)
        return torch.lerp(rgb, bg_in[:, :3].to(rgb.dtype), gate.to(rgb.dtype))

    def forward(self, source_image: torch.Tensor, source_labels: torch.Tensor,
                target_image: torch.Tensor, target_labels: torch.Tensor,
                sample: bool = False, style_rows: torch.Tensor | None = None) -> dict:
        """Full pass; ``sample`` draws latents (VAE) instead of using the means.

        ``style_rows``: (N, 5) long, for each output row and component (in
        :data:`~mgpe_core.components.COMPONENTS` order) the source row whose decoded features
        it is rendered with; None = its own row. Training mixes styles with it (an unpaired
        face keeping some components' own style), as an edit restyles single components.
        The reconstructions and latents returned stay per source row (L_local and KL do not
        depend on the mixing)."""
        enc = self.encode(source_image, source_labels)
        latents = enc.mu
        if sample:
            latents = {k: enc.mu[k] + torch.randn_like(enc.mu[k]) * (0.5 * enc.logvar[k]).exp()
                       for k in enc.mu}
        feats, recons = self.decode(latents, images=True)
        if style_rows is not None:
            feats = {name: feats[name][style_rows[:, k]]
                     for k, name in enumerate(self.component_names)}
        image = self.synthesize(feats, target_image, target_labels)
        return {"image": image, "recons": recons, "crops": enc.crops, "mu": enc.mu,
                "logvar": enc.logvar}
