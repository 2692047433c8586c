"""The FID Inception network: the 2015-12-05 TensorFlow Inception graph, as a torch module.

This is the network behind the standard FID weights ``pt_inception-2015-12-05-6726825d.pth``
(a PyTorch port of the TensorFlow graph, 1008-way classifier). Its ``state_dict()`` has exactly
the names and shapes of that file (see ``shared/fid/pt_inception_keys.tsv``), so the published
weights load into it once converted to safetensors.

Layout (every ``Conv`` is a conv without bias + BatchNorm(eps=0.001) + ReLU)::

    Conv2d_1a_3x3 (stride 2) -> Conv2d_2a_3x3 -> Conv2d_2b_3x3 (pad 1) -> max-pool 3/2
    -> Conv2d_3b_1x1 -> Conv2d_4a_3x3 -> max-pool 3/2
    -> Mixed_5b, 5c, 5d (A blocks) -> Mixed_6a (B, reduction)
    -> Mixed_6b..6e (C blocks) -> Mixed_7a (D, reduction) -> Mixed_7b, 7c (E blocks)
    -> global average pool -> 2048 features ("pool3")          [fc: 2048 -> 1008, unused for FID]

What differs from the usual ImageNet Inception v3, and matters for matching TensorFlow's FID:
the average pools in the A and C blocks and in Mixed_7b leave the padding out of the average
(``count_include_pad=False``), and Mixed_7c's pool branch is a 3x3 *max* pool (stride 1, pad 1).

Preprocessing (:data:`PREPROCESSING`, fixed, reported by ``mgpe fid``): RGB in [0, 1] is resized
to 299x299 with PyTorch's bilinear interpolation (``align_corners=False``, no antialias), then
mapped to [-1, 1]; no ImageNet mean/std. This is the common PyTorch FID convention; numbers can
differ slightly from implementations that use TensorFlow-1's bilinear resize on 0-255 values, so
compare FIDs only when they were computed with the same preprocessing and weights.

Weights are read from safetensors only (nothing is unpickled): see :func:`load_inception`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import CheckpointError, load_tensors, sha256_file
from ..errors import UsageError

#: The preprocessing every feature goes through; recorded in statistics files and reports.
PREPROCESSING = "pytorch-bilinear-299, [0,1]->[-1,1]"

#: The published weights (torch.hub names files by their SHA-256 prefix).
WEIGHTS_PTH = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.safetensors"
WEIGHTS_SHA256_PREFIX = "6726825d"  # of the original .pth; a converted file has another hash

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008



class _BatchNorm(nn.BatchNorm2d):
    """Inference BatchNorm (eps 0.001) without the ``num_batches_tracked`` buffer, which the
    published weights predate: the state dict holds weight, bias, running_mean, running_var."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=0.001)
        self.register_buffer("num_batches_tracked", None)

    def _load_from_state_dict(self, state_dict, prefix, *args):
        # Skip _NormBase's shim, which inserts a num_batches_tracked entry into old state dicts.
        state_dict.pop(prefix + "num_batches_tracked", None)
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args)


class Conv(nn.Module):
    """conv (no bias) -> BatchNorm(eps=0.001) -> ReLU; state-dict names ``conv.*``, ``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = _BatchNorm(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x):
    """3x3 average, stride 1, padding left out of the average (as in the TensorFlow graph)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1."""

    def __init__(self, cin: int, pool_channels: int):
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1 = Conv(cin, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(cin, pool_channels, 1)

    def forward(self, x):
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool(x)),
        ], 1)


class BlockB(nn.Module):
    """Mixed_6a (grid reduction): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max-pool 3/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockC(nn.Module):
    """Mixed_6b..6e: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg-pool -> 1x1."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1 = Conv(cin, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = Conv(cin, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool(x))], 1)


class BlockD(nn.Module):
    """Mixed_7a (grid reduction): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max-pool 3/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = Conv(cin, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7,
                          F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    """Mixed_7b/7c: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool -> 1x1.

    ``max_pool``: Mixed_7c's pool branch is a 3x3 max pool (stride 1, pad 1) in the TensorFlow
    graph; Mixed_7b's is an average pool that leaves padding out.
    """

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(cin, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(pooled),
        ], 1)


def resize_input(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> (B, 3, 299, 299): bilinear, align_corners off, no
    antialias (a no-op at 299x299)."""
    if images.shape[-2:] == (INPUT_SIZE, INPUT_SIZE):
        return images
    return F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                         align_corners=False, antialias=False)


class FIDInception(nn.Module):
    """The FID Inception network (always in eval mode; parameters frozen)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)  # unused for FID; kept so weights match
        self.weights_name: str | None = None
        self.channels_last = False  # set by use_channels_last()
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True):
        """The network only ever runs with BatchNorm's running statistics."""
        return super().train(False)

    def use_channels_last(self) -> FIDInception:
        """Switch weights and inputs to the channels_last memory format (1.25-1.4x faster on
        the CPU in bench/bench_fid.py; features differ by ~1e-6 from the default layout)."""
        self.to(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed input (B, 3, 299, 299) in [-1, 1] -> pool3 features (B, 2048)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """RGB float images in [0, 1], (B, 3, H, W) -> (B, 2048) float32 features
        (:data:`PREPROCESSING`: resize to 299x299 bilinear, then [0, 1] -> [-1, 1])."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise UsageError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        param = self.Conv2d_1a_3x3.conv.weight
        with torch.inference_mode():
            x = images.to(device=param.device, dtype=param.dtype)
            x = resize_input(x) * 2.0 - 1.0
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self.forward(x).float()


def expected_shapes() -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name -> (shape, dtype) of every tensor the weights file must hold (no allocation)."""
    with torch.device("meta"):
        model = FIDInception()
    return {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}


def default_weights_dir() -> Path:
    from ..registry import mgpe_home

    return mgpe_home() / "weights"


class WeightsNotFound(CheckpointError):
    """The FID Inception weights are not available (there is no download)."""


#: Where the standard FID weights are published (pytorch-fid's release assets).
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               f"{WEIGHTS_PTH}")


def _missing_message(where: Path) -> str:
    return (f"the FID Inception weights are not available: download {WEIGHTS_PTH} (the "
            f"standard FID weights, SHA-256 starting {WEIGHTS_SHA256_PREFIX}) from {WEIGHTS_URL} "
            f"and put it in {where}, or pass its path with --weights (used as distributed; a "
            f".safetensors copy works too)")


def check_state_dict(tensors: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Verify names, shapes and dtypes against the network; returns the tensors without
    ``num_batches_tracked`` entries (which newer exports add). Errors name the first mismatch."""
    tensors = {k: v for k, v in tensors.items() if not k.endswith(".num_batches_tracked")}
    expected = expected_shapes()
    for key, (shape, dtype) in expected.items():
        if key not in tensors:
            raise CheckpointError(f"{source} is not the FID Inception weights: tensor {key!r} "
                                  f"is missing ({len(tensors)} tensors in the file)")
        t = tensors[key]
        if tuple(t.shape) != shape:
            raise CheckpointError(f"{source}: tensor {key!r} has shape {tuple(t.shape)}, "
                                  f"expected {shape}")
        if t.dtype != dtype:
            raise CheckpointError(f"{source}: tensor {key!r} is {t.dtype}, expected {dtype}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise CheckpointError(f"{source} is not the FID Inception weights: unexpected tensor "
                              f"{extra[0]!r} ({len(extra)} unexpected)")
    bad = next((k for k, t in tensors.items() if not bool(torch.isfinite(t).all())), None)
    if bad is not None:
        raise CheckpointError(f"{source}: tensor {bad!r} holds NaN or infinite values")
    return tensors


def find_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file to use: ``path`` if given, else ``$MGPE_HOME/weights/<WEIGHTS_FILE>``."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise WeightsNotFound(
                f"weights file not found: {path} (the FID Inception weights, {WEIGHTS_PTH}, "
                f"SHA-256 starting {WEIGHTS_SHA256_PREFIX}, are published at {WEIGHTS_URL})")
        if path.is_dir():
            raise WeightsNotFound(f"--weights {path} is a folder; expected {WEIGHTS_FILE}")
        return path
    folder = default_weights_dir()
    candidate = folder / WEIGHTS_FILE
    if candidate.is_file():
        return candidate
    if (folder / WEIGHTS_PTH).is_file():
        return folder / WEIGHTS_PTH
    raise WeightsNotFound(_missing_message(folder))


def _looks_like_pickle(path: Path) -> bool:
    if path.suffix.lower() in (".pth", ".pt", ".pkl", ".pickle", ".bin", ".ckpt"):
        return True
    with open(path, "rb") as f:
        head = f.read(2)
    return head == b"PK" or head[:1] == b"\x80"  # torch.save zip archive / raw pickle


def load_inception(path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                   sha256: str | None = None, channels_last: bool = True) -> FIDInception:
    """The FID Inception network with its weights, in eval mode on ``device``.

    ``path``: the published ``.pth`` as it is distributed (read only through the weights-only
    reader, :func:`mgpe_core.convert.pth.read_state_dict`: a file holding anything but tensors is
    refused, never unpickled) or a ``.safetensors`` copy (default: ``$MGPE_HOME/weights/``
    :data:`WEIGHTS_FILE`, else :data:`WEIGHTS_PTH` there). Checks: tensor names, shapes and
    dtypes match the network, values are finite, and, when ``sha256`` (a hex prefix) is given,
    the file's SHA-256 starts with it (the published ``6726825d`` for the ``.pth``).
    ``channels_last``: see :meth:`FIDInception.use_channels_last` (on by default).
    """
    path = find_weights(path)
    try:
        pickled = _looks_like_pickle(path)
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    if sha256:
        prefix = sha256.strip().lower()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            raise UsageError(f"--sha256 {sha256!r}: expected a hexadecimal SHA-256 prefix")
        actual = sha256_file(path)
        if not actual.startswith(prefix):
            raise CheckpointError(f"checksum mismatch for {path}: SHA-256 is {actual[:16]}..., "
                                  f"expected it to start with {prefix}")
    if pickled:
        from ..convert.pth import read_state_dict

        tensors = check_state_dict(read_state_dict(path), str(path))
    else:
        tensors = check_state_dict(load_tensors(path), str(path))
    with torch.device("meta"):  # no random init: the file's tensors become the parameters
        model = FIDInception()
    model.load_state_dict(tensors, strict=True, assign=True)
    model.weights_name = path.name
    model = model.to(device)
    return model.use_channels_last() if channels_last else model


def randomize_(model: FIDInception, seed: int = 0) -> FIDInception:
    """Random weights that keep activations alive through the network (He-normal convs,
    BatchNorm near identity): for tests and benchmarks, never for real FIDs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, _BatchNorm):
                n = m.num_features
                m.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(1.0 + 0.1 * torch.rand(n, generator=gen))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.01)
                m.bias.zero_()
    return model
