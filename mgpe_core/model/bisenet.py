"""BiSeNet face parser (face-parsing.PyTorch's ``BiSeNet(n_classes=19)``), written from the facts
in the reference SPEC (ResNet-18 backbone, context path with attention refinement, feature fusion,
three output heads), with parameter names equal to the released ``79999_iter.pth`` keys, so its
state dict loads strictly and unchanged.

Only the main head is needed at inference (:meth:`BiSeNet.forward`); the two auxiliary heads
(training losses only) are kept so the released file's keys all have a home and a strict load
proves nothing is missing or left over. The network is fully convolutional and runs at any size
divisible by 32, on any device.

Inputs are RGB in [0, 1] normalised with ImageNet's mean and std (:data:`IMAGENET_MEAN`,
:data:`IMAGENET_STD`, :func:`normalize`); outputs are 19 class logits in BiSeNet's own class order
(:data:`BISENET_CLASSES`, which is not CelebAMask-HQ's: map by name).

Torch is imported at module level: import this module only inside functions of modules the CLI
imports for ``--help``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: BiSeNet's class ids (position = id), the order of ``prepropess_data.py``. Names are
#: CelebAMask-HQ's; ``l_`` / ``r_`` follow the dataset's (the subject's) left and right.
BISENET_CLASSES: tuple[str, ...] = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
    "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: test.py's input size (bilinear resize of any picture); training used 512x512 pictures.
NATIVE_SIZE = 512
SIZE_MULTIPLE = 32


def normalize(rgb01: torch.Tensor) -> torch.Tensor:
    """NCHW RGB in [0, 1] -> the network's input (ImageNet mean and std)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb01.dtype, device=rgb01.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=rgb01.dtype, device=rgb01.device).view(1, 3, 1, 1)
    return (rgb01 - mean) / std


class ConvBNReLU(nn.Module):
    """Bias-free convolution, BatchNorm (affine, eps 1e-5), ReLU; keys ``conv.``, ``bn.``."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + BN, shortcut (1x1 conv + BN where the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + residual)


def _layer(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))


class ResNet18(nn.Module):
    """ResNet-18 without its classifier; returns the 1/8, 1/16 and 1/32 maps."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = _layer(64, 64, 1)
        self.layer2 = _layer(64, 128, 2)
        self.layer3 = _layer(128, 256, 2)
        self.layer4 = _layer(256, 512, 2)

    def forward(self, x: torch.Tensor):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        x = self.layer1(x)
        feat8 = self.layer2(x)
        feat16 = self.layer3(feat8)
        feat32 = self.layer4(feat16)
        return feat8, feat16, feat32


class AttentionRefinement(nn.Module):
    """ARM: f = CBR(in, out, 3); gate = sigmoid(BN(1x1 conv(mean of f))); output f * gate."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, 3, 1, 1)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x)
        gate = torch.sigmoid(self.bn_atten(self.conv_atten(f.mean(dim=(2, 3), keepdim=True))))
        return f * gate


def _nearest(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="nearest")


class ContextPath(nn.Module):
    """Backbone + global context + two ARMs; returns (1/8 backbone map, context 1/8, 1/16)."""

    def __init__(self):
        super().__init__()
        self.resnet = ResNet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3, 1, 1)
        self.conv_head16 = ConvBNReLU(128, 128, 3, 1, 1)
        self.conv_avg = ConvBNReLU(512, 128, 1, 1, 0)

    def forward(self, x: torch.Tensor, taps: dict | None = None):
        feat8, feat16, feat32 = self.resnet(x)
        glob = self.conv_avg(feat32.mean(dim=(2, 3), keepdim=True))
        glob = _nearest(glob, feat32.shape[-2:])
        ctx16 = self.conv_head32(_nearest(self.arm32(feat32) + glob, feat16.shape[-2:]))
        ctx8 = self.conv_head16(_nearest(self.arm16(feat16) + ctx16, feat8.shape[-2:]))
        if taps is not None:
            taps.update(resnet_feat8=feat8, resnet_feat16=feat16, resnet_feat32=feat32,
                        context_feat8=ctx8, context_feat16=ctx16)
        return feat8, ctx8, ctx16


class FeatureFusion(nn.Module):
    """FFM: f = CBR(256, 256, 1) of [spatial, context]; output f * gate + f."""

    def __init__(self, cin: int = 256, cout: int = 256):
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, 1, 1, 0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        f = self.convblk(torch.cat([spatial, context], dim=1))
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(f.mean(dim=(2, 3), keepdim=True)))))
        return f * gate + f


class OutputHead(nn.Module):
    """CBR(in, mid, 3) then a bias-free 1x1 conv to the class logits."""

    def __init__(self, cin: int, mid: int, n_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3, 1, 1)
        self.conv_out = nn.Conv2d(mid, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


def _up(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class BiSeNet(nn.Module):
    """face-parsing.PyTorch's BiSeNet; ``state_dict()`` keys equal the released checkpoint's."""

    def __init__(self, n_classes: int = 19):
        super().__init__()
        self.n_classes = n_classes
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    @staticmethod
    def check_size(x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        if x.ndim != 4 or x.shape[1] != 3 or h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"BiSeNet needs N x 3 x H x W input with H and W divisible by "
                             f"{SIZE_MULTIPLE}, got {tuple(x.shape)}")

    def heads(self, x: torch.Tensor, aux: bool = True, taps: dict | None = None):
        """The heads' maps before upsampling: (main 1/8, aux 1/8, aux 1/16), aux ones ``None``
        unless ``aux``; ``taps`` (a dict) receives the inner features by their fixture names."""
        self.check_size(x)
        feat8, ctx8, ctx16 = self.cp(x, taps)
        fused = self.ffm(feat8, ctx8)
        main = self.conv_out(fused)
        out16 = self.conv_out16(ctx8) if aux else None
        out32 = self.conv_out32(ctx16) if aux else None
        if taps is not None:
            taps.update(ffm=fused, conv_out=main, conv_out16=out16, conv_out32=out32)
        return main, out16, out32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Main-head logits (N, 19, H, W) at the input's size, for a normalised input."""
        main, _, _ = self.heads(x, aux=False)
        return _up(main, x.shape[-2:])

    def forward_all(self, x: torch.Tensor):
        """(main, aux 1/8, aux 1/16) logits at the input's size, as the original returns them."""
        return tuple(_up(t, x.shape[-2:]) for t in self.heads(x, aux=True))


def upsample_logits(coarse: torch.Tensor, size) -> torch.Tensor:
    """A head's coarse map -> logits at ``size`` (bilinear, align_corners=True, as the net)."""
    return _up(coarse, size)


def bisenet_schema(name: str = "bisenet-19", classes=BISENET_CLASSES, sides: str = "subject"):
    """The LabelSchema of BiSeNet's own class order: CelebAMask-HQ's classes mapped by name."""
    from ..errors import LabelError
    from ..labels import CELEBAMASK_CLASSES, LabelSchema

    classes = tuple(classes)
    missing = [c for c in CELEBAMASK_CLASSES if c not in classes]
    if missing:
        raise LabelError(f"schema {name!r}: no class for CelebAMask-HQ's {missing}")
    return LabelSchema(name, classes, tuple(classes.index(c) for c in CELEBAMASK_CLASSES), sides)


class BiSeNetParser(nn.Module):
    """A BiSeNet as an mgpe parser: :meth:`parse` takes images in [-1, 1] (N, 3, H, W), as
    mgpe's U-Net parser does, and returns label ids (N, H, W) in :attr:`schema` (BiSeNet's own
    order, ``sides="subject"``).

    Each image is resized to ``input_size`` (512, test.py's size; bilinear, antialiased when
    shrinking, like PIL's), normalised as the network was trained, and the main head's logits
    are upsampled (bilinear, align_corners=True) straight to the image's own H x W."""

    def __init__(self, net: BiSeNet | None = None, schema=None, input_size: int = NATIVE_SIZE):
        super().__init__()
        if input_size % SIZE_MULTIPLE:
            raise ValueError(f"input_size must be divisible by {SIZE_MULTIPLE}, got {input_size}")
        self.net = net if net is not None else BiSeNet()
        self.schema = schema if schema is not None else bisenet_schema()
        self.input_size = int(input_size)
        self.register_buffer("flip_perm", torch.from_numpy(self.schema.flip_permutation.copy()),
                             persistent=False)

    @property
    def resolution(self) -> int:
        return self.input_size

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        """Loads a BiSeNet state dict (the release's keys, no prefix)."""
        return self.net.load_state_dict(state, strict=strict, assign=assign)

    def prepare(self, image: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> the network's normalised input at ``input_size``."""
        x = ((image.float() + 1) * 0.5).clamp(0, 1)
        size = (self.input_size, self.input_size)
        if tuple(x.shape[-2:]) != size:
            shrink = x.shape[-1] > size[1] or x.shape[-2] > size[0]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                              antialias=shrink).clamp(0, 1)
        return normalize(x)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (N, K, H, W) in the schema's order for [-1, 1] images at any size."""
        main, _, _ = self.net.heads(self.prepare(image), aux=False)
        return upsample_logits(main, image.shape[-2:])

    @torch.no_grad()
    def label_scores(self, image: torch.Tensor, mirror: bool = False) -> torch.Tensor:
        """Per-class log-probabilities; ``mirror`` averages them with the mirrored image's
        (left/right classes swapped back)."""
        scores = self.forward(image).float().log_softmax(1)
        if mirror:
            flipped = self.forward(image.flip(-1)).float().log_softmax(1)
            scores = 0.5 * (scores + flipped.flip(-1)[:, self.flip_perm])
        return scores

    @torch.no_grad()
    def parse(self, image: torch.Tensor, mirror: bool = False) -> torch.Tensor:
        """Label ids (N, H, W) in :attr:`schema` for images in [-1, 1] (any size)."""
        if not mirror:
            return self.forward(image).argmax(1)
        return self.label_scores(image, mirror=True).argmax(1)
