"""mgpe_core.tensors: pixels <-> tensors, bit-identical to the expressions it replaced."""

import warnings

import numpy as np
import pytest
import torch

from mgpe_core.errors import UsageError
from mgpe_core.tensors import images_to_tensor, labels_to_tensor, tensor_to_images


def every_value_image() -> np.ndarray:
    """(2, 16, 8, 3) uint8 holding each of the 256 values in every channel."""
    v = np.arange(256, dtype=np.uint8).reshape(2, 16, 8)
    return np.stack([v, v[:, ::-1], 255 - v], axis=-1)


def old_signed(arr):  # the copies in engine.py / evaluate.py
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def old_to_images(t):  # the copies in engine.py / trainer.py
    return ((t.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu(
    ).numpy()


def test_round_trip_is_exact_for_every_value():
    arr = every_value_image()
    back = tensor_to_images(images_to_tensor(arr))
    assert back.dtype == np.uint8 and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_signed_and_unit_ranges_match_the_old_expressions_bit_for_bit():
    arr = every_value_image()
    signed = images_to_tensor(arr)
    assert signed.dtype == torch.float32 and signed.shape == (2, 3, 16, 8)
    assert torch.equal(signed, old_signed(arr))
    assert signed.min() == -1 and signed.max() == 1
    assert signed.stride() == old_signed(arr).stride()  # same (channels-last) memory layout
    unit = images_to_tensor(arr, value_range="unit")
    old_unit = torch.from_numpy(arr[0]).permute(2, 0, 1)[None].float().div_(255.0)  # fid.py
    assert torch.equal(unit[:1], old_unit)
    assert unit.min() == 0 and unit.max() == 1
    expected = (np.arange(256, dtype=np.float32) / np.float32(127.5)) - np.float32(1)
    assert np.array_equal(np.sort(signed[:, 0].flatten().numpy()), expected)


def test_one_image_a_list_and_a_stack_give_the_same_batch():
    arr = every_value_image()
    one = images_to_tensor(arr[0])
    assert one.shape == (1, 3, 16, 8)
    assert torch.equal(one, images_to_tensor([arr[0]]))
    assert torch.equal(images_to_tensor(list(arr)), images_to_tensor(arr))
    # as Editor.parse converted one photo: permute, then a batch axis
    single = torch.from_numpy(arr[0]).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    assert torch.equal(one, single)


def test_read_only_and_mirrored_arrays_convert_without_warnings():
    arr = every_value_image()[0]
    ro = arr.copy()
    ro.flags.writeable = False
    mirrored = arr[:, ::-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(images_to_tensor(ro), images_to_tensor(arr))
        x = images_to_tensor(mirrored, device="cpu")
    assert torch.equal(x, images_to_tensor(np.ascontiguousarray(mirrored)))
    assert ro.flags.writeable is False  # the input is never touched


def exact_half(x: int) -> float:
    """A float32 t with (t + 1) * 127.5 == x + 0.5 exactly (in float32): a rounding tie."""
    t0 = np.float32((x + 0.5) / 127.5 - 1)
    for direction in (np.float32(np.inf), np.float32(-np.inf)):
        t = t0
        for _ in range(20):
            if float((torch.tensor([t], dtype=torch.float32) + 1) * 127.5) == x + 0.5:
                return float(t)
            t = np.nextafter(t, direction)
    raise AssertionError(f"no float32 tie near {x}.5")


def test_tensor_to_images_clamps_and_rounds_half_to_even():
    ties = [64, 65, 100, 101, 200, 201]
    values = [exact_half(x) for x in ties] + [0.0, -5.0, -1.0, 1.0, 7.0, -0.999, 0.999]
    t = torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)
    got = tensor_to_images(t)[0, 0, :, 0]
    assert got.dtype == np.uint8
    assert list(got[:6]) == [64, 66, 100, 102, 200, 202]  # x.5 -> the even neighbour
    assert got[6] == 128  # 0 -> 127.5 -> 128
    assert list(got[7:11]) == [0, 0, 255, 255]  # clamped to [-1, 1]
    assert list(got[11:]) == [0, 255]  # 0.1275 rounds down, 254.87 up


def test_tensor_to_images_matches_the_old_expression_on_random_outputs():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(3, 3, 9, 7, generator=g) * 1.2
    np.testing.assert_array_equal(tensor_to_images(t), old_to_images(t))
    half = t.to(torch.bfloat16)  # generator outputs under autocast
    np.testing.assert_array_equal(tensor_to_images(half), old_to_images(half))


def test_labels_to_tensor():
    lab = np.arange(12, dtype=np.uint8).reshape(3, 4)
    one = labels_to_tensor(lab)
    assert one.dtype == torch.int64 and one.shape == (1, 3, 4)
    assert torch.equal(one[0], torch.from_numpy(lab.astype(np.int64)))
    both = labels_to_tensor([lab, lab[::-1]], device="cpu")
    assert both.shape == (2, 3, 4)
    assert torch.equal(both, torch.from_numpy(np.stack([lab, lab[::-1]])).long())


@pytest.mark.parametrize("call, message", [
    (lambda: images_to_tensor(np.zeros((4, 4, 3), np.float32)), "uint8"),
    (lambda: images_to_tensor(np.zeros((4, 4, 4), np.uint8)), r"\(H, W, 3\)"),
    (lambda: images_to_tensor(np.zeros((4, 4), np.uint8)), r"\(H, W, 3\)"),
    (lambda: images_to_tensor([]), "no images"),
    (lambda: images_to_tensor([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)]),
     "different sizes"),
    (lambda: images_to_tensor(np.zeros((4, 4, 3), np.uint8), value_range="0-255"),
     "value_range '0-255'"),
    (lambda: tensor_to_images(torch.zeros(3, 4, 4)), r"\(N, C, H, W\)"),
    (lambda: labels_to_tensor(np.zeros((4, 4), np.float32)), "integer"),
    (lambda: labels_to_tensor(np.zeros((2, 2, 4, 4), np.uint8)), "integer"),
])
def test_bad_inputs_raise_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()
