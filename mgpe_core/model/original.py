"""The authors' MGPE release (Gu et al., CVPR 2019; ``latest_net_*.pth``) as an ``original``
architecture variant: its networks and its test-time path, written from the facts in the
reference SPEC (``original-mgpe/SPEC.md``), not from the release's code.

Networks (parameter names equal the release's keys, per file, so each file's state dict loads
strictly and unchanged; :class:`OriginalMGPE` holds the 11 networks inference runs, its state dict
keys being ``<label>.<release key>``, ``<label>`` the file name between ``latest_net_`` and
``.pth``):

* ``G``: mask encoder E_m (``downsample_model``), generator G_m (``model``: a 1x1 conv, 9 residual
  blocks, two transposed convs), background encoder (``bg_encoder``) and fusing layer
  (``bg_decoder``);
* ``encoder_<part>``: strided 4x4 conv + BN + ReLU blocks, then two-layer heads on the flattened
  map (``fc_mu``: the mean, used; ``fc_var``: the log-variance, unused at test time);
* ``decoder_<part>``: a Linear (no activation; the eye decoders' without bias), reshaped, then
  transposed-conv + BN + ReLU blocks.

Test-time path (:func:`prepare_face`, :meth:`OriginalMGPE.encode` / ``decode`` / ``synthesize``):
centres from the un-enlarged labels (box mid-point rounded down, fixed fallbacks, strict range
check), the 1.1x label enlargement with PIL's nearest index (:func:`nearest_index`), crops from the
donor photo, three separate canvases placed at ``floor(c / 4 + 0.5)``, 1536-channel G_m input,
masked background features, fusing. Labels are Helen's 11 classes, ``mgpe-11``'s ids, with
image-left sides (``l_eye``, class 4, lies on the image's left).

Torch is imported at module level: import this module only inside functions of modules the CLI
imports for ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import LabelError

RESOLUTION = 256
N_CLASSES = 11
SCHEMA_NAME = "mgpe-11"
#: The 11 files inference runs, by label (``latest_net_<label>.pth``), in the order they load.
USED_FILES: tuple[str, ...] = (
    "G", "encoder_skin", "encoder_hair", "encoder_left_eye", "encoder_right_eye", "encoder_mouth",
    "decoder_skin", "decoder_hair", "decoder_left_eye", "decoder_right_eye", "decoder_mouth",
)
#: Files test time loads but inference never runs (ignored by the converter, with a note).
UNUSED_FILES: tuple[str, ...] = (
    "decoder_skin_image", "decoder_hair_image", "decoder_left_eye_image",
    "decoder_right_eye_image", "decoder_mouth_image", "P",
)
#: The five components, in the order the fixtures and encode() name them.
PARTS: tuple[str, ...] = ("l_eye", "r_eye", "mouth", "skin", "hair")
#: component -> the file label of its networks
_FILE_PART = {"l_eye": "left_eye", "r_eye": "right_eye", "mouth": "mouth", "skin": "skin",
              "hair": "hair"}
#: class ids of each component's mask (Helen / mgpe-11 ids)
PART_CLASSES: dict[str, tuple[int, ...]] = {
    "l_eye": (4,), "r_eye": (5,), "mouth": (7, 8, 9), "skin": (1, 2, 3, 6), "hair": (10,),
}
#: the components with a centre, their fallback centre (y, x) and the strict open range
#: (y_lo, y_hi, x_lo, x_hi) the original requires
CENTRED: tuple[str, ...] = ("l_eye", "r_eye", "mouth")
FALLBACK_CENTRE = {"l_eye": (116, 96), "r_eye": (116, 160), "mouth": (184, 128)}
CENTRE_RANGE = {"l_eye": (16, 240, 24, 232), "r_eye": (16, 240, 24, 232),
                "mouth": (40, 216, 72, 184)}
#: crop half-sizes (rows, columns) around a centre on the photo
CROP_HALF = {"l_eye": (16, 24), "r_eye": (16, 24), "mouth": (40, 72)}
#: feature size (h, w) each local decoder gives
FEATURE_SIZE = {"l_eye": (8, 12), "r_eye": (8, 12), "mouth": (20, 36), "skin": (64, 64),
                "hair": (64, 64)}
ENLARGE = 1.1
BN_EPS = 1e-5


# -- networks ------------------------------------------------------------------------------------


class _ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.BatchNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.BatchNorm2d(ch))

    def forward(self, x):
        return x + self.conv_block(x)


class OriginalG(nn.Module):
    """``latest_net_G.pth``: E_m, G_m, background encoder, fusing layer."""

    def __init__(self, n_classes: int = N_CLASSES, ngf: int = 64, n_res: int = 9):
        super().__init__()
        self.downsample_model = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(n_classes, ngf, 7), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, ngf * 2, 3, 2, 1), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.Conv2d(ngf * 2, ngf * 4, 3, 2, 1), nn.BatchNorm2d(ngf * 4), nn.ReLU(True))
        width = ngf * 4
        layers: list[nn.Module] = [nn.Conv2d(width * 6, width, 1)]
        layers += [_ResBlock(width) for _ in range(n_res)]
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.BatchNorm2d(width // 2),
                   nn.ReLU(True),
                   nn.ConvTranspose2d(width // 2, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(True)]
        self.model = nn.Sequential(*layers)
        self.bg_encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.BatchNorm2d(ngf), nn.ReLU(True))
        self.bg_decoder = nn.Sequential(
            nn.Conv2d(ngf * 2, ngf, 1), nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())


class _EncBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1)
        self.bn = nn.BatchNorm2d(cout, momentum=0.9)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class LocalEncoder(nn.Module):
    """``latest_net_encoder_<part>.pth``: (mean, log-variance) of a component picture."""

    def __init__(self, channels: tuple[int, ...], flat: int, latent: int = 512,
                 hidden: int = 1024):
        super().__init__()
        pairs = zip(channels[:-1], channels[1:], strict=True)
        self.conv = nn.Sequential(*[_EncBlock(a, b) for a, b in pairs])
        self.fc_mu = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(True),
                                   nn.Linear(hidden, latent))
        self.fc_var = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(True),
                                    nn.Linear(hidden, latent))

    def forward(self, x):
        h = self.conv(x).reshape(x.shape[0], -1)  # (channel, row, column) order
        return self.fc_mu(h), self.fc_var(h)


class _DecBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1),
                                  nn.BatchNorm2d(cout, momentum=0.9), nn.ReLU(True))

    def forward(self, x):
        return self.conv(x)


class FeatureDecoder(nn.Module):
    """``latest_net_decoder_<part>.pth``: a latent mean -> the component's feature map."""

    def __init__(self, size: tuple[int, int], channels: tuple[int, ...], bias: bool = True,
                 latent: int = 512):
        super().__init__()
        self.size = size
        self.fc = nn.Sequential(nn.Linear(latent, channels[0] * size[0] * size[1], bias=bias))
        pairs = zip(channels[:-1], channels[1:], strict=True)
        self.conv = nn.Sequential(*[_DecBlock(a, b) for a, b in pairs])

    def forward(self, z):
        h = self.fc(z).reshape(z.shape[0], -1, *self.size)
        return self.conv(h)


_ENC = {"left_eye": ((3, 64, 128, 256, 512), 512 * 2 * 3),
        "right_eye": ((3, 64, 128, 256, 512), 512 * 2 * 3),
        "mouth": ((3, 64, 128, 256, 512), 512 * 5 * 9),
        "skin": ((3, 64, 128, 256, 512, 512, 512, 512), 512 * 2 * 2),
        "hair": ((3, 64, 128, 256, 512, 512, 512, 512), 512 * 2 * 2)}
_DEC = {"left_eye": ((2, 3), (512, 256, 256), False),
        "right_eye": ((2, 3), (512, 256, 256), False),
        "mouth": ((5, 9), (512, 256, 256), True),
        "skin": ((2, 2), (512, 256, 256, 256, 256, 256), True),
        "hair": ((2, 2), (512, 256, 256, 256, 256, 256), True)}


def build_network(label: str) -> nn.Module:
    """The network of one used file (``USED_FILES``), in evaluation mode."""
    if label == "G":
        return OriginalG().eval()
    kind, _, part = label.partition("_")
    if kind == "encoder" and part in _ENC:
        return LocalEncoder(*_ENC[part]).eval()
    if kind == "decoder" and part in _DEC:
        size, channels, bias = _DEC[part]
        return FeatureDecoder(size, channels, bias).eval()
    raise KeyError(f"no original-MGPE network for file label {label!r}")


# -- preprocessing (numpy) ---------------------------------------------------------------------


def nearest_index(src: int, dst: int) -> np.ndarray:
    """PIL's nearest-neighbour source index for each of ``dst`` output pixels along an axis of
    ``src`` pixels: floor of a running sum t_0 = 0.5 * src / dst, t_(j+1) = t_j + src / dst in
    double precision (for 256 -> 281 this differs from floor((j + 0.5) * src / dst) at j = 140)."""
    step = src / dst
    out = np.empty(dst, dtype=np.int64)
    t = 0.5 * step
    for j in range(dst):
        out[j] = min(int(np.floor(t)), src - 1)
        t += step
    return out


def component_centres(labels: np.ndarray) -> np.ndarray:
    """(l_eye y, l_eye x, r_eye y, r_eye x, mouth y, mouth x), int64, from the un-enlarged label
    map: box mid-point rounded down; a missing component takes its fallback centre. A centre
    outside the original's strict range is a :class:`LabelError` (the original stops there)."""
    out = []
    for part in CENTRED:
        rows, cols = np.nonzero(np.isin(labels, PART_CLASSES[part]))
        if rows.size:
            y = (int(rows.min()) + int(rows.max())) // 2
            x = (int(cols.min()) + int(cols.max())) // 2
        else:
            y, x = FALLBACK_CENTRE[part]
        y_lo, y_hi, x_lo, x_hi = CENTRE_RANGE[part]
        if not (y_lo < y < y_hi and x_lo < x < x_hi):
            raise LabelError(f"the {part} centre (y {y}, x {x}) is too close to the border for the "
                             f"original MGPE (it needs {y_lo} < y < {y_hi} and {x_lo} < x < "
                             f"{x_hi} at {RESOLUTION} px)")
        out += [y, x]
    return np.asarray(out, dtype=np.int64)


def enlarge_labels(labels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The 1.1x label enlargement: each of l_eye, r_eye, mouth (in that order) unioned with its
    1.1x nearest-neighbour copy scaled about its centre."""
    h, w = labels.shape
    bh, bw = int(ENLARGE * h), int(ENLARGE * w)
    big = labels[nearest_index(h, bh)][:, nearest_index(w, bw)]
    out = labels.copy()
    for i, part in enumerate(CENTRED):
        cy, cx = int(centres[2 * i]), int(centres[2 * i + 1])
        dy, dx = int(ENLARGE * cy) - cy, int(ENLARGE * cx) - cx
        window = big[dy:dy + h, dx:dx + w]
        hit = np.isin(window, PART_CLASSES[part])
        out[hit] = window[hit]
    return out


def read_face(photo_path, label_path) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 HxWx3, ids uint8 HxW) as the original reads them: a long side other than 256 is
    resized to 256 (labels nearest, photo bicubic, new size int(s*w) x int(s*h))."""
    from PIL import Image

    photo = Image.open(photo_path).convert("RGB")
    label = Image.open(label_path)
    if label.mode not in ("L", "P", "I", "I;16"):
        label = label.convert("L")
    w, h = label.size
    if max(w, h) != RESOLUTION:
        s = RESOLUTION / max(w, h)
        size = (int(s * w), int(s * h))
        label = label.resize(size, Image.NEAREST)
        photo = photo.resize(size, Image.BICUBIC)
    ids = np.asarray(label).astype(np.uint8)
    if ids.max() >= N_CLASSES:
        raise LabelError(f"{label_path}: label id {int(ids.max())} is not one of the original "
                         f"MGPE's {N_CLASSES} Helen classes (0-{N_CLASSES - 1})")
    if photo.size != label.size:
        raise LabelError(f"{photo_path} is {photo.size[0]}x{photo.size[1]} but its label map "
                         f"{label_path} is {label.size[0]}x{label.size[1]}")
    return np.asarray(photo), ids


@dataclass
class OriginalFace:
    """One face as inference sees it: the normalised photo (1x3xHxW, [-1, 1]), the enlarged ids
    (HxW uint8, used everywhere), the centres (6 int64) and the un-enlarged ids."""

    photo: torch.Tensor
    labels: np.ndarray
    centres: np.ndarray
    raw_labels: np.ndarray

    def one_hot(self) -> torch.Tensor:
        ids = torch.from_numpy(self.labels.astype(np.int64))
        return (ids[None] == torch.arange(N_CLASSES)[:, None, None]).float()[None].to(
            self.photo.device)

    def mask(self, classes) -> torch.Tensor:
        """1x1xHxW float mask of the enlarged ids in ``classes``, on the photo's device."""
        m = torch.from_numpy(np.isin(self.labels, classes).astype(np.float32))[None, None]
        return m.to(self.photo.device)


def prepare_face(photo: np.ndarray, labels: np.ndarray) -> OriginalFace:
    """RGB uint8 photo + ids -> an :class:`OriginalFace` (x / 127.5 - 1, centres, enlargement)."""
    if photo.shape[:2] != labels.shape:
        raise LabelError(f"photo {photo.shape[1]}x{photo.shape[0]} and label map "
                         f"{labels.shape[1]}x{labels.shape[0]} differ in size")
    x = torch.from_numpy(np.array(photo, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1
    centres = component_centres(labels)
    return OriginalFace(x, enlarge_labels(labels, centres), centres, labels)


# -- the model ---------------------------------------------------------------------------------


class OriginalMGPE(nn.Module):
    """The 11 networks of the release's inference, named by file label."""

    def __init__(self):
        super().__init__()
        for label in USED_FILES:
            self.add_module(label, build_network(label))
        self.eval()

    def encoder_inputs(self, face: OriginalFace) -> dict[str, torch.Tensor]:
        """The five encoders' inputs, from the donor's normalised photo."""
        x, out = face.photo, {}
        for part in ("l_eye", "r_eye", "mouth"):
            i = CENTRED.index(part)
            cy, cx = int(face.centres[2 * i]), int(face.centres[2 * i + 1])
            hh, hw = CROP_HALF[part]
            crop = x[:, :, cy - hh:cy + hh, cx - hw:cx + hw]
            if part == "mouth":
                crop = crop * face.mask(PART_CLASSES["mouth"])[:, :, cy - hh:cy + hh,
                                                               cx - hw:cx + hw]
            out[part] = crop
        out["skin"] = x * face.mask(PART_CLASSES["skin"])
        out["hair"] = x * face.mask(PART_CLASSES["hair"])
        return out

    def encode(self, face: OriginalFace, taps: dict | None = None) -> dict[str, torch.Tensor]:
        """{part: latent mean} of the donor ``face`` (``taps`` also gets the encoder inputs
        ``<part>_encoder_input`` and ``<part>_mu`` / ``<part>_logvar``)."""
        mus = {}
        for part, inp in self.encoder_inputs(face).items():
            mu, logvar = getattr(self, f"encoder_{_FILE_PART[part]}")(inp)
            mus[part] = mu
            if taps is not None:
                taps[f"{part}_encoder_input"] = inp
                taps[f"{part}_mu"], taps[f"{part}_logvar"] = mu, logvar
        return mus

    def decode(self, mus: dict[str, torch.Tensor], taps: dict | None = None) -> dict:
        """{part: feature map} from the means (8x12 eyes, 20x36 mouth, 64x64 skin / hair)."""
        feats = {p: getattr(self, f"decoder_{_FILE_PART[p]}")(mus[p]) for p in PARTS}
        if taps is not None:
            taps.update({f"{p}_feature": f for p, f in feats.items()})
        return feats

    def synthesize(self, features: dict, face: OriginalFace, taps: dict | None = None):
        """The picture (1x3xHxW in [-1, 1]) of ``face``'s mask, centres and background with the
        component ``features``."""
        g = self.G
        h, w = face.labels.shape
        fh, fw = h // 4, w // 4
        canvases = []
        for part in ("l_eye", "r_eye", "mouth"):
            i = CENTRED.index(part)
            r = int(np.floor(int(face.centres[2 * i]) / 4 + 0.5))
            q = int(np.floor(int(face.centres[2 * i + 1]) / 4 + 0.5))
            ph, pw = FEATURE_SIZE[part]
            feat = features[part]
            canvas = feat.new_zeros(feat.shape[0], feat.shape[1], fh, fw)
            canvas[:, :, r - ph // 2:r - ph // 2 + ph, q - pw // 2:q - pw // 2 + pw] = feat
            canvases.append(canvas)
        onehot = face.one_hot()
        em = g.downsample_model(onehot)
        gin = torch.cat([em, canvases[0], canvases[1], features["skin"], features["hair"],
                         canvases[2]], 1)
        gm = g.model(gin)
        bg = g.bg_encoder(face.photo) * face.mask((0,))
        out = g.bg_decoder(torch.cat([gm, bg], 1))
        if taps is not None:
            taps["mask_encoder"], taps["generator_output"] = em, gm
        return out

    @torch.no_grad()
    def edit(self, source: OriginalFace, target: OriginalFace, taps: dict | None = None):
        """(edited, reconstruction): the donor's components on the target's mask and background,
        and on the donor's own (``inference()``'s content and style outputs)."""
        feats = self.decode(self.encode(source, taps), taps)
        rec = self.synthesize(feats, source)
        t_taps: dict | None = {} if taps is not None else None
        edited = self.synthesize(feats, target, t_taps)
        if taps is not None:
            taps["mask_encoder_target"] = t_taps["mask_encoder"]
            taps["generator_output_target"] = t_taps["generator_output"]
            taps["edited"], taps["reconstruction"] = edited, rec
        return edited, rec


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """HxWx3 uint8 as the original writes pictures: ((x + 1) / 2 * 255), clipped, truncated."""
    a = ((image[0].permute(1, 2, 0).cpu().numpy() + 1) / 2 * 255)
    return np.clip(a, 0, 255).astype(np.uint8)
