"""Part mask reading: the fast decoder gives PIL's grey levels, other formats and bad files go
through PIL, and nearest sampling picks nearest_indices' pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mgpe_core.data import mask_png
from mgpe_core.data.mask_png import nearest_indices, read_grey_mask, sample_nearest
from mgpe_core.errors import ImageReadError


@pytest.fixture
def grey():
    rng = np.random.default_rng(0)
    arr = np.zeros((40, 56), np.uint8)
    arr[5:30, 10:50] = 255
    arr[12:16] = rng.integers(0, 256, (4, 56))  # not only 0 / 255
    return arr


def _save(tmp_path, img: Image.Image, name="m.png", **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


def _pil_levels(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def test_eight_bit_grey_masks_take_the_fast_path(tmp_path, grey, monkeypatch):
    if mask_png._fast_decoder() is None:
        pytest.skip("kornia_rs not installed")
    path = _save(tmp_path, Image.fromarray(grey))

    def no_pil(data, path):
        raise AssertionError("PIL was used")

    monkeypatch.setattr(mask_png, "_decode_with_pil", no_pil)
    got = read_grey_mask(path)
    assert got.shape == (40, 56) and got.dtype == np.uint8
    assert np.array_equal(got, grey)


@pytest.mark.parametrize("convert", ["RGB", "1", "P", "I;16", "LA"])
def test_other_formats_give_pils_grey_levels(tmp_path, grey, convert):
    img = Image.fromarray(grey)
    img = img.convert(convert) if convert != "I;16" else Image.fromarray(grey.astype(np.uint16))
    path = _save(tmp_path, img)
    assert mask_png._grey8_shape(path.read_bytes()) is None  # not the fast path's format
    assert np.array_equal(read_grey_mask(path), _pil_levels(path))


def test_only_plain_eight_bit_grey_headers_qualify(tmp_path, grey):
    data = _save(tmp_path, Image.fromarray(grey)).read_bytes()
    assert mask_png._grey8_shape(data) == (40, 56)
    interlaced = data[:28] + b"\x01" + data[29:]  # IHDR's interlace byte (Adam7)
    assert mask_png._grey8_shape(interlaced) is None
    assert mask_png._grey8_shape(b"GIF89a" + data[6:]) is None
    assert mask_png._grey8_shape(data[:20]) is None


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_masks_are_a_clear_error(tmp_path, grey, damage):
    path = _save(tmp_path, Image.fromarray(grey))
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:  # a byte inside the compressed pixels
        i = data.index(b"IDAT") + 10
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=f"corrupt part mask {path}"):
        read_grey_mask(path)


def test_missing_and_non_image_files(tmp_path):
    with pytest.raises(ImageReadError, match="cannot read part mask"):
        read_grey_mask(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(ImageReadError, match="not an image"):
        read_grey_mask(tmp_path / "text.png")


@pytest.mark.parametrize("src_h, src_w, size", [
    (512, 512, 256), (512, 512, 128), (512, 512, 96), (48, 48, 30), (40, 56, 64), (7, 9, 3),
    (32, 32, 32),
])
def test_sample_nearest_picks_nearest_indices(src_h, src_w, size):
    arr = np.arange(src_h * src_w, dtype=np.int64).reshape(src_h, src_w)
    want = arr[np.ix_(nearest_indices(src_h, size), nearest_indices(src_w, size))]
    got = sample_nearest(arr, size)
    assert got.shape == (size, size)
    assert np.array_equal(got, want)
