"""The typed configuration of a model and its training recipe: one object, stored as JSON with
every checkpoint and every registered model.

Variants are config values, never code forks: ``eye_window`` (fixed | mask: the seed's eye-mask
variant), ``mask_encoder`` (single | multi: the seed's multi target mask encoder), ``norm``,
``width`` (channel multiplier), ``resolution`` (64..512) and the label ``schema`` (stored with its
class names, never an implied order); ``upsample``, ``fuse``, ``mask_encoder_kernel`` and
``feature_head_kernel`` (cost / artifact choices of issue 23, see docs/model.md).

New fields whose default differs from what older configs were trained with are listed in the
class's ``__legacy_defaults__``: a config file *without* the key (written before the field
existed) gets the legacy value, so every existing model and checkpoint keeps building exactly
its network; ``ModelConfig()`` and every file written since (``to_dict`` writes every field)
use the new default.

No torch here: the CLI reads configs (``--dry-run``, ``models info``) without loading networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..labels import DEFAULT_SCHEMA, LabelSchema, get_schema
from ..typed_config import ConfigError, from_dict, to_dict

RESOLUTIONS = (64, 128, 256, 512)


def _default_schema() -> dict[str, Any]:
    return get_schema(DEFAULT_SCHEMA).to_dict()


@dataclass(frozen=True)
class ParserConfig:
    """U-Net face parser (seed reference [11]) over the model's schema."""

    base_channels: int = 32
    depth: int = 4
    norm: Literal["batch", "instance"] = "batch"
    coord_channels: bool = True
    #: Per-class weights (schema order) of the cross-entropy the parser was trained with; ()
    #: when unknown or unweighted. Weighted training learns probabilities proportional to
    #: weight x true probability, so small classes win every unsure boundary pixel;
    #: :meth:`UNetParser.parse` divides the weights back out (recorded by ``train-parser``).
    trained_class_weights: tuple[float, ...] = ()


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Multiscale conditional PatchGAN (pix2pixHD style)."""

    base_channels: int = 64
    layers: int = 3
    scales: int = 2
    norm: Literal["instance", "none"] = "instance"


@dataclass(frozen=True)
class ModelConfig:
    #: Values a key *missing* from a config file takes (files written before the field
    #: existed), instead of the dataclass default that new configs get.
    __legacy_defaults__ = {"upsample": "transpose", "fuse": "resblocks",
                           "mask_encoder_kernel": 4, "feature_head_kernel": 3,
                           "res_blocks": 9, "background_skip": False}

    resolution: int = 256
    schema: dict[str, Any] = field(default_factory=_default_schema)
    width: float = 1.0
    norm: Literal["batch", "instance"] = "batch"
    eye_window: Literal["fixed", "mask"] = "fixed"
    mask_encoder: Literal["single", "multi"] = "single"
    latent_dim: int = 512
    #: Channels of the small map the latent heads read (1x1 bottleneck; see model docs).
    latent_map_channels: int = 32
    feature_channels: int = 256
    #: G_m's residual blocks at 1/4 size. The paper (and the original code) has 9, 60% of a
    #: 256 px edit's work at the new choices; 3 meet issue 23's cost target (docs/model.md,
    #: "Cost against the original"), judged on the retrained built-in models by mgpe eval.
    res_blocks: int = 3
    #: Grow eye and mouth labels by this fraction of their box before feeding the generator
    #: (the original code's trick; the parsing-loss target keeps the exact labels).
    enlarge_components: float = 0.1
    parser: ParserConfig = field(default_factory=ParserConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    #: Where the training faces' eyes and mouth sit in the square (mgpe_core.faces.framing): a
    #: photo's face is aligned to it before editing. A name (``mgpe-synth``, ``celeba-hq``) or
    #: ``{"eyes": [[x, y], [x, y]], "mouth": [x, y]}`` in fractions of the side.
    framing: str | dict[str, Any] = "mgpe-synth"
    #: Every 2x upsampling of the generator (G_m's two, the local decoders'): ``transpose`` (a
    #: 4x4 stride-2 transposed conv, the original code's; uneven kernel overlap leaves the
    #: period-2 / period-4 checkerboard seen in hair) or ``resize`` (nearest 2x, then a 3x3
    #: conv with the same channels, norm and activation: no uneven overlap; 2.25x the
    #: multiply-adds of the transposed conv it replaces).
    upsample: Literal["transpose", "resize"] = "resize"
    #: Background fusing: ``resblocks`` (background encoder 7x7 + 3x3 conv, fusing 3x3 conv +
    #: two residual blocks + 7x7 conv, all at full resolution: 24 % of a 256 px edit's work) or
    #: ``light`` (the original code's cost: background encoder one 7x7 conv, fusing a 1x1 conv
    #: + norm + ReLU and the 7x7 conv to RGB).
    fuse: Literal["resblocks", "light"] = "light"
    #: Let the fused output take the target's known background pixels through a learned gate
    #: (a 7x7 conv on G_b's last features, sigmoid, times the background mask): output = rgb +
    #: gate * (background - rgb). Without it G_b re-draws the background through two
    #: normalised convolutions, which cost the built-in model 31 % of its reconstruction error
    #: (docs/builtin-models.md). False keeps the original code's fully generated output.
    background_skip: bool = True
    #: Kernel of E_m's two stride-2 convs: 3 (the original code's) or 4 (16/9 the work).
    mask_encoder_kernel: Literal[3, 4] = 3
    #: Kernel of the local decoders' feature head (their last layer, at 1/4 size): 1 (a channel
    #: projection: the last upsampling already mixes space, as the original code's decoders,
    #: which end at that upsampling) or 3 (9x the work: 21.6 of a 256 px edit's GFLOP at batch 4).
    feature_head_kernel: Literal[1, 3] = 1

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(f"model.resolution must be one of {RESOLUTIONS}, "
                              f"got {self.resolution}")
        if not 0.05 <= self.width <= 4:
            raise ConfigError(f"model.width must be in [0.05, 4], got {self.width}")
        for name in ("latent_dim", "latent_map_channels", "feature_channels", "res_blocks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be positive")
        self.label_schema  # noqa: B018 - validates the schema now, not at first use
        from ..errors import MgpeError
        from ..faces.framing import get_framing

        try:
            get_framing(self.framing)
        except MgpeError as e:
            raise ConfigError(f"model.framing: {e}") from None

    @property
    def label_schema(self) -> LabelSchema:
        try:
            return LabelSchema.from_dict(self.schema)
        except Exception as e:
            raise ConfigError(f"model.schema: {e}") from None

    def channels(self, base: int) -> int:
        """Channel count for a layer whose paper width is ``base`` (at least 8)."""
        return max(8, int(round(base * self.width)))


@dataclass(frozen=True)
class LossConfig:
    """Weights of seed Equations 7 and 8. On unpaired steps the global and feature-matching
    terms drop out (Equation 8)."""

    __legacy_defaults__ = {"region_colour": 0.0}

    local: float = 10.0
    reconstruction: float = 10.0  # L_global (paired steps only)
    adversarial: float = 1.0
    feature_matching: float = 10.0
    parsing: float = 1.0
    kl: float = 0.0  # the original code keeps a KL term with weight 0
    #: Per-component reconstruction (paired steps, not in the seed): the squared error inside
    #: each component's target region, averaged over that region's pixels, summed over the five
    #: components. L_global averages over the whole image, where the lips are 1-2 % of the
    #: pixels: lip (and iris) colour then barely counts and the mouth embedding need not carry
    #: it. This term gives every component the weight of a whole image. 0 = the seed's losses.
    region_reconstruction: float = 0.0
    #: Per-region colour (all steps, paired and unpaired; not in the seed): for hair, skin,
    #: mouth and each eye, the L1 distance in CIE Lab / 100 (averaged over L, a, b; see
    #: :func:`~mgpe_core.model.losses.region_colour_loss`) between the output's mean colour
    #: inside the target mask's region and the style source's mean colour inside its own
    #: region, averaged over the regions present in both. On unpaired steps this is the only
    #: term that asks for the partner's lip / hair / eye colour (L_global does not apply
    #: there), so the mouth embedding must carry it. Configs written before it existed: 0.
    region_colour: float = 10.0
    #: Per-component multipliers of ``region_colour`` (component name -> weight; others 1):
    #: each present (face, component) pair counts with its weight in the mean. The lips' mean
    #: colour differs between faces by about a third of the hair's (Lab distance 13 vs 40 on
    #: the held-out faces), so at equal weight a lip colour off by half still costs little;
    #: e.g. ``--set loss.region_colour_components='{"mouth": 3}'``.
    region_colour_components: dict[str, float] = field(default_factory=dict)
    #: Per-component multipliers of ``region_reconstruction`` (component name -> weight;
    #: others 1), e.g. ``{"mouth": 3}`` for lips drawn more exactly. Mouth and eyes x4 for
    #: 400 steps on the built-in model stayed within the checkpoints' wobble (docs/model.md).
    region_reconstruction_components: dict[str, float] = field(default_factory=dict)
    gan_mode: Literal["bce", "hinge"] = "bce"
    #: Parsing loss class weights by class name (small parts count more); others weigh 1.
    parsing_class_weights: dict[str, float] = field(default_factory=lambda: {
        "background": 0.5, "skin": 0.5, "hair": 1.0, "l_eye": 4.0, "r_eye": 4.0,
        "l_brow": 3.0, "r_brow": 3.0, "u_lip": 3.0, "l_lip": 3.0, "mouth": 3.0, "nose": 2.0,
    })

    def __post_init__(self) -> None:
        from ..components import COMPONENTS

        names = [c.name for c in COMPONENTS]
        for key in ("region_colour_components", "region_reconstruction_components"):
            for name, w in getattr(self, key).items():
                if name not in names:
                    raise ConfigError(f"loss.{key}: unknown component {name!r} "
                                      f"(components: {', '.join(names)})")
                if not w >= 0:
                    raise ConfigError(f"loss.{key}.{name}: weight must be >= 0, got {w!r}")

    def colour_weights(self) -> list[float]:
        """``region_colour_components`` as one weight per component, in table order."""
        return _per_component(self.region_colour_components)

    def reconstruction_weights(self) -> list[float] | None:
        """``region_reconstruction_components`` as one weight per component, in table order
        (None when none is set: all 1)."""
        return _per_component(self.region_reconstruction_components) \
            if self.region_reconstruction_components else None


def _per_component(weights: dict[str, float]) -> list[float]:
    from ..components import COMPONENTS

    return [float(weights.get(c.name, 1.0)) for c in COMPONENTS]


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe (see ``mgpe train``)."""

    steps: int = 100_000
    batch: int = 4
    lr: float = 2e-4
    #: The last this many of ``steps`` lower both learning rates linearly towards 0 (the
    #: schedule of pix2pixHD and the paper, ``niter_decay``): a GAN's images settle as the
    #: rate falls. Computed from the step, so a resumed run continues the same schedule;
    #: 0 keeps the rate constant.
    lr_decay_steps: int = 0
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.999
    #: Batches of training faces over which the EMA generator's BatchNorm statistics are
    #: recomputed before each checkpoint (0: keep the trained generator's, as before).
    ema_bn_batches: int = 16
    #: Steps at the start of the run in which only the discriminators learn (the generator and
    #: its EMA stay as they are): for fine-tuning a released model, which ships without
    #: discriminators, so that the generator first meets a discriminator that knows its images.
    d_warmup_steps: int = 0
    seed: int = 0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    #: Networks and batches in channels-last memory (NHWC): oneDNN's and cuDNN's preferred
    #: layout for convolutions; the same training, up to about 1.1x faster steps on the CPU
    #: (bench/bench_train.py). Checkpoints are written in the standard layout either way.
    channels_last: bool = True
    augment: bool = True
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    max_nonfinite_in_row: int = 5
    #: Mixed styles on unpaired steps (not in the seed): each component of an unpaired face
    #: keeps the face's own style with this probability, else takes its partner's, drawn per
    #: face and component. 0 = the seed's unpaired step, every component from the partner:
    #: the generator then never meets a mouth styled by one face over the skin of another,
    #: the case of every component edit. The region colour loss asks each component for the
    #: colours of the face that styled it. Off by default: 400 steps of it on the built-in
    #: model changed no colour measure (docs/model.md).
    style_mixing: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ConfigError("train.style_mixing is a probability, between 0 and 1, got "
                              f"{self.style_mixing!r}")


@dataclass(frozen=True)
class MgpeConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MgpeConfig:
        return from_dict(cls, data)

    def to_json(self) -> str:
        from ..io import json_text

        return json_text(self.to_dict())

    @classmethod
    def load(cls, path: str | Path, recorded: bool = True) -> MgpeConfig:
        """``recorded=False``: a config file a person wrote (missing keys take today's
        defaults, not ``__legacy_defaults__``)."""
        from ..io import read_json

        return from_dict(cls, read_json(path, "config"), recorded=recorded)

    def with_model(self, **changes) -> MgpeConfig:
        return replace(self, model=replace(self.model, **changes))
