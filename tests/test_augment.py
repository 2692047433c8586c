"""Device augmentation: exact labels, image/mask alignment, left/right flip, determinism."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mgpe_core.data.augment import PortraitAugment
from mgpe_core.errors import UsageError
from mgpe_core.labels import convert, get_schema
from mgpe_core.testing import synthetic_face_labels

M11 = get_schema("mgpe-11")
C19 = get_schema("celebamask-19")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
STRONG = dict(degrees=25, translate=0.1, scale=(0.75, 1.25))


def faces(b: int, size: int, schema=M11, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    labs = [convert(synthetic_face_labels(rng, size), C19, schema) for _ in range(b)]
    return torch.from_numpy(np.stack(labs).astype(np.int64))


def coded_image(labels: torch.Tensor, schema, seed: int = 0, symmetric: bool = False):
    """An image whose colour is a function of the label: random code per class id.

    ``symmetric``: l_X and r_X share a code, so the left/right id swap of a flip keeps the
    colour-label agreement. Background is black (-1), the affine padding colour.
    """
    g = torch.Generator().manual_seed(seed)
    code = torch.rand(schema.num_classes, 3, generator=g) * 2 - 1
    if symmetric:
        perm = torch.from_numpy(schema.flip_permutation)
        code = torch.where((perm < torch.arange(len(perm)))[:, None], code[perm], code)
    code[0] = -1
    return code[labels].permute(0, 3, 1, 2).contiguous(), code


def nearest_code(image: torch.Tensor, code: torch.Tensor):
    """(distance, id) of the nearest code per pixel; with shared codes, the lowest such id."""
    d = ((image.float().permute(0, 2, 3, 1)[..., None, :] - code) ** 2).sum(-1).sqrt()
    return d.min(-1)


def canonical(labels: torch.Tensor, schema) -> torch.Tensor:
    """Ids with each l_X/r_X pair merged into the lower id (what a symmetric code can tell)."""
    perm = torch.from_numpy(schema.flip_permutation).to(labels.device)
    return torch.minimum(perm, torch.arange(len(perm), device=labels.device))[labels]


def interior(labels: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3x3 neighbourhood has one label (away from part edges)."""
    lf = labels.float()[:, None]
    return (F.max_pool2d(lf, 3, 1, 1) == -F.max_pool2d(-lf, 3, 1, 1))[:, 0]


@pytest.mark.parametrize("device", DEVICES)
def test_default_augment_shapes_and_ranges(device):
    torch.manual_seed(0)
    lab = faces(4, 64).to(device)
    img = (torch.rand(4, 3, 64, 64) * 2 - 1).to(device)
    aug = PortraitAugment("mgpe-11").to(device)
    out, lab2 = aug(img, lab)
    assert out.shape == img.shape and out.dtype == torch.float32 and out.device == img.device
    assert lab2.shape == lab.shape and lab2.dtype == torch.int64
    assert out.min() >= -1 and out.max() <= 1
    assert set(lab2.unique().tolist()) <= set(range(11))
    assert not torch.equal(out, img)
    assert all("flip_perm" not in k for k in aug.state_dict())  # not saved in checkpoints


def test_flip_swaps_left_right_exactly():
    lab = faces(3, 48)
    img = torch.rand(3, 3, 48, 48) * 2 - 1
    perm = torch.from_numpy(M11.flip_permutation)
    for aug in (PortraitAugment(M11, flip_p=1.0, affine=None, jitter=None),
                PortraitAugment(M11, flip_p=1.0, p_affine=0.0, p_jitter=0.0)):
        out, lab2 = aug(img, lab)
        assert torch.equal(out, img.flip(-1))
        assert torch.equal(lab2, perm[lab.flip(-1)])
        le, re = M11.index("l_eye"), M11.index("r_eye")
        assert torch.equal(lab2 == le, (lab == re).flip(-1))
        assert torch.equal(lab2 == re, (lab == le).flip(-1))
        assert torch.equal(lab2 == M11.index("l_lip"), (lab == M11.index("l_lip")).flip(-1))
        # the image-left eye stays image-left after the swap
        xs = torch.nonzero(lab2[0] == le)[:, 1].float().mean()
        assert xs < 24
    # all off: identity
    none = PortraitAugment(M11, flip_p=0.0, affine=None, jitter=None)
    out, lab2 = none(img, lab)
    assert torch.equal(out, img) and torch.equal(lab2, lab)


def test_flip_only_some_samples():
    torch.manual_seed(1)
    lab = faces(16, 32)
    img = torch.rand(16, 3, 32, 32) * 2 - 1
    out, lab2 = PortraitAugment(M11, flip_p=0.5, affine=None, jitter=None)(img, lab)
    flipped = [not torch.equal(out[i], img[i]) for i in range(16)]
    assert 0 < sum(flipped) < 16
    perm = torch.from_numpy(M11.flip_permutation)
    for i, f in enumerate(flipped):
        want = perm[lab[i].flip(-1)] if f else lab[i]
        assert torch.equal(lab2[i], want)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["fp32", "bf16-input", "autocast"])
def test_labels_stay_exact_and_aligned(device, mode):
    lab = faces(6, 96, C19, seed=2).to(device)
    img, code = coded_image(lab.cpu(), C19, symmetric=True)
    img, code = img.to(device), code.to(device)
    aug = PortraitAugment(C19, flip_p=0.5, affine=STRONG, jitter=None, p_affine=1.0).to(device)
    torch.manual_seed(3)
    ref_img, ref_lab = aug(img, lab)
    torch.manual_seed(3)
    if mode == "bf16-input":
        out, lab2 = aug(img.bfloat16(), lab)
        assert out.dtype == torch.bfloat16
    elif mode == "autocast":
        with torch.autocast(device, dtype=torch.bfloat16):
            out, lab2 = aug(img, lab)
        assert out.dtype == torch.float32
    else:
        out, lab2 = ref_img, ref_lab
    assert lab2.dtype == torch.int64
    assert set(lab2.unique().tolist()) <= set(range(C19.num_classes))
    assert torch.equal(lab2, ref_lab)  # same geometry whatever the image dtype
    if mode == "autocast":  # computed in fp32 anyway
        assert torch.equal(out, ref_img)
    assert (out.float() - ref_img).abs().max() < 0.02  # bf16 rounding only
    assert not torch.equal(lab2, lab)
    dist, near = nearest_code(out, code)
    inner = interior(lab2)
    assert inner.float().mean() > 0.7
    lab2c = canonical(lab2, C19)
    assert (near == lab2c)[inner].float().mean() > 0.99
    if mode != "bf16-input":  # pixels carrying an exact code carry the right one
        exact = dist < 1e-3
        assert exact.float().mean() > 0.7
        assert torch.equal(near[exact], lab2c[exact])


def test_outside_the_image_is_background():
    lab = torch.full((4, 64, 64), M11.index("skin"), dtype=torch.long)
    img = torch.ones(4, 3, 64, 64)
    torch.manual_seed(0)
    aug = PortraitAugment(M11, flip_p=0.0, jitter=None, p_affine=1.0,
                          affine=dict(degrees=30, translate=0.2, scale=(0.6, 0.7)))
    out, lab2 = aug(img, lab)
    assert set(lab2.unique().tolist()) == {0, M11.index("skin")}
    assert (lab2[:, 0, 0] == 0).all() and (lab2[:, -1, -1] == 0).all()
    assert (out[:, :, 0, 0] == -1).all()  # the image is padded black
    assert ((lab2 == 0) == (out[:, 0] < 0)).float().mean() > 0.98


def test_translation_moves_both_axes():
    """A scalar ``translate`` shifts along x too (kornia alone would read it as (0, t))."""
    lab = torch.zeros(32, 64, 64, dtype=torch.long)
    lab[:, 24:40, 24:40] = 1
    torch.manual_seed(0)
    aug = PortraitAugment(M11, flip_p=0.0, jitter=None, p_affine=1.0,
                          affine=dict(degrees=0, translate=0.1, scale=(1.0, 1.0)))
    _, lab2 = aug(torch.zeros(32, 3, 64, 64), lab)
    ys, xs = [], []
    for i in range(32):
        nz = torch.nonzero(lab2[i]).float().mean(0)
        ys.append(float(nz[0]))
        xs.append(float(nz[1]))
    assert np.std(xs) > 1 and np.std(ys) > 1
    assert max(abs(x - 31.5) for x in xs) <= 0.1 * 64 + 1


def test_jitter_changes_only_the_image():
    lab = faces(4, 32)
    img, _ = coded_image(lab, M11)
    img = img * 0.5
    torch.manual_seed(0)
    out, lab2 = PortraitAugment(M11, flip_p=0.0, affine=None, p_jitter=1.0)(img, lab)
    assert torch.equal(lab2, lab)
    assert not torch.allclose(out, img) and out.min() >= -1 and out.max() <= 1
    assert (out - img).abs().mean() < 0.2


def test_deterministic_under_a_seed():
    lab = faces(4, 64)
    img = torch.rand(4, 3, 64, 64) * 2 - 1
    aug = PortraitAugment(M11)

    def run(seed):
        torch.manual_seed(seed)
        return aug(img, lab)

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("size,batch", [(64, 1), (128, 3), (512, 2)])
def test_any_resolution_and_batch(size, batch):
    lab = faces(batch, size)
    img, code = coded_image(lab, M11, symmetric=True)
    torch.manual_seed(size)
    out, lab2 = PortraitAugment(M11, jitter=None, p_affine=1.0)(img, lab)
    assert out.shape == (batch, 3, size, size) and lab2.shape == (batch, size, size)
    dist, near = nearest_code(out, code)
    lab2c = canonical(lab2, M11)
    assert (near == lab2c)[interior(lab2)].float().mean() > 0.99
    exact = dist < 1e-3
    assert torch.equal(near[exact], lab2c[exact])


def test_bad_inputs():
    aug = PortraitAugment(M11)
    with pytest.raises(UsageError, match=r"\(B, 3, H, W\)"):
        aug(torch.zeros(2, 1, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(UsageError, match="do not match"):
        aug(torch.zeros(2, 3, 8, 8), torch.zeros(2, 8, 9, dtype=torch.long))
    with pytest.raises(UsageError, match="probability"):
        PortraitAugment(M11, flip_p=2)
