"""Batched crops and placement: exact copies, zero outside, gradients, box crops."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mgpe_core.model.crops import (
    crop_boxes,
    crop_windows,
    mask_boxes,
    place_windows,
    window_origin,
)


def _reference_crop(img, centre, size):
    """Loop-and-slice reference with zero padding."""
    c, H, W = img.shape
    oy, ox = (int(v) for v in window_origin(torch.tensor([centre], dtype=torch.float32),
                                             size)[0])
    out = torch.zeros(c, *size)
    for i in range(size[0]):
        for j in range(size[1]):
            y, x = oy + i, ox + j
            if 0 <= y < H and 0 <= x < W:
                out[:, i, j] = img[:, y, x]
    return out


@settings(max_examples=40, deadline=None)
@given(cy=st.floats(-6, 40), cx=st.floats(-6, 40), h=st.sampled_from([2, 4, 6]),
       w=st.sampled_from([4, 6, 10]))
def test_crop_windows_matches_reference_near_borders(cy, cx, h, w):
    img = torch.arange(2 * 32 * 36, dtype=torch.float32).reshape(1, 2, 32, 36)
    img = torch.cat([img, -img])
    centres = torch.tensor([[cy, cx], [cx % 32, cy % 36]], dtype=torch.float32)
    out = crop_windows(img, centres, (h, w))
    for b in range(2):
        assert torch.equal(out[b], _reference_crop(img[b], centres[b].tolist(), (h, w)))


@settings(max_examples=40, deadline=None)
@given(cy=st.floats(-4, 20), cx=st.floats(-4, 20))
def test_place_is_inverse_of_crop_inside_the_window(cy, cx):
    feats = torch.rand(1, 3, 4, 6) + 1
    canvas = place_windows(feats, torch.tensor([[cy, cx]]), (16, 16))
    assert canvas.shape == (1, 3, 16, 16)
    back = crop_windows(canvas, torch.tensor([[cy, cx]]), (4, 6))
    visible = back != 0
    assert torch.equal(back[visible], feats[visible])
    # everything outside the window is zero, and every visible feature pixel appears once
    assert int((canvas != 0).sum()) == int(visible.sum())


def test_place_puts_features_at_known_position_and_passes_gradients():
    feats = torch.ones(2, 1, 2, 4, requires_grad=True)
    canvas = place_windows(feats, torch.tensor([[5.0, 6.0], [1.0, 2.0]]), (8, 10))
    ys, xs = torch.nonzero(canvas[0, 0], as_tuple=True)
    assert ys.tolist() == [4] * 4 + [5] * 4 and xs.tolist() == [4, 5, 6, 7] * 2
    ys, xs = torch.nonzero(canvas[1, 0], as_tuple=True)
    assert set(ys.tolist()) == {0, 1} and set(xs.tolist()) == {0, 1, 2, 3}
    canvas.sum().backward()
    assert torch.equal(feats.grad, torch.ones_like(feats))


def test_crop_boxes_identity_box_is_exact_and_scales():
    img = torch.rand(1, 3, 16, 16)
    same = crop_boxes(img, torch.tensor([[4.0, 2.0, 12.0, 14.0]]), (8, 12))
    assert torch.allclose(same, img[:, :, 4:12, 2:14], atol=1e-6)
    half = crop_boxes(img, torch.tensor([[0.0, 0.0, 16.0, 16.0]]), (8, 8))
    assert torch.allclose(half, torch.nn.functional.avg_pool2d(img, 2), atol=1e-6)


def test_mask_boxes_follow_the_mask_and_fall_back():
    masks = torch.zeros(2, 32, 32, dtype=torch.bool)
    masks[0, 10:14, 8:20] = True  # 4 x 12 eye
    boxes = mask_boxes(masks, torch.tensor([[0.0, 0.0], [16.0, 20.0]]), aspect=2 / 3,
                       margin=0.25)
    y0, x0, y1, x1 = boxes[0].tolist()
    assert abs((y0 + y1) / 2 - 12) < 1e-5 and abs((x0 + x1) / 2 - 14) < 1e-5
    assert abs((x1 - x0) - 15) < 1e-4 and abs((y1 - y0) / (x1 - x0) - 2 / 3) < 1e-5
    y0, x0, y1, x1 = boxes[1].tolist()
    assert abs((y0 + y1) / 2 - 16) < 1e-5 and abs((x0 + x1) / 2 - 20) < 1e-5
