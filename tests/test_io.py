"""Reading pictures of every common kind, label-map files that name their schema, atomic writes."""

import os

import numpy as np
import pytest
from PIL import Image

from mgpe_core.errors import ImageReadError, LabelError, MgpeError
from mgpe_core.io import (
    atomic_write,
    read_image,
    read_json,
    read_label_map,
    write_image,
    write_json,
    write_label_map,
)
from mgpe_core.labels import get_schema

M11 = get_schema("mgpe-11")


def _rgb(h=6, w=5):
    return (np.arange(h * w * 3).reshape(h, w, 3) % 251).astype(np.uint8)


def test_png_round_trip_exact(tmp_path):
    rgb = _rgb()
    write_image(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "I;16", "P", "LA"])
def test_other_modes_are_converted_to_rgb(tmp_path, mode):
    img = Image.fromarray(_rgb()).convert(mode) if mode != "I;16" else Image.fromarray(
        (np.arange(30).reshape(6, 5) * 2000).astype(np.uint16))
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    img.save(path)
    out = read_image(path)
    assert out.shape == (6, 5, 3) and out.dtype == np.uint8
    if mode == "I;16":  # 16-bit scaled to 8 bits, not clipped
        assert out[..., 0].max() == round(58000 * 255 / 65535)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "t.png")
    out = read_image(tmp_path / "t.png")
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[1, 1]) == (255, 255, 255)


def test_bad_images_give_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="image not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "fake.jpg").write_text("this is not a jpeg")
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(tmp_path / "fake.jpg")
    write_image(tmp_path / "full.jpg", np.full((64, 64, 3), 100, np.uint8))
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(tmp_path / "cut.jpg")


def test_label_map_names_its_schema(tmp_path):
    labels = (np.arange(20).reshape(4, 5) % 11).astype(np.uint8)
    write_label_map(tmp_path / "m.png", labels, M11)
    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "L" and img.info["mgpe-schema"] == "mgpe-11"
    back, schema = read_label_map(tmp_path / "m.png")
    assert schema == M11 and np.array_equal(back, labels)
    with pytest.raises(LabelError, match="is in schema 'mgpe-11', not 'celebamask-19'"):
        read_label_map(tmp_path / "m.png", "celebamask-19")


def test_plain_id_png_needs_a_schema_and_is_validated(tmp_path):
    Image.fromarray(np.array([[0, 3], [10, 12]], np.uint8)).save(tmp_path / "ids.png")
    with pytest.raises(LabelError, match="does not name its label schema"):
        read_label_map(tmp_path / "ids.png")
    with pytest.raises(LabelError, match=r"ids \[12\] are outside schema 'mgpe-11'"):
        read_label_map(tmp_path / "ids.png", "mgpe-11")
    labels, _ = read_label_map(tmp_path / "ids.png", "celebamask-19")
    assert labels.tolist() == [[0, 3], [10, 12]]


def test_colour_mask_is_read_back(tmp_path):
    labels = np.array([[0, 1, 2], [10, 4, 5]], np.uint8)
    Image.fromarray(M11.colorize(labels)).save(tmp_path / "c.png")
    back, schema = read_label_map(tmp_path / "c.png", "mgpe-11")
    assert np.array_equal(back, labels) and schema == M11
    # a palette ("P" mode) picture too
    Image.fromarray(M11.colorize(labels)).convert("P", palette=Image.Palette.ADAPTIVE).save(
        tmp_path / "p.png")
    assert np.array_equal(read_label_map(tmp_path / "p.png", "mgpe-11")[0], labels)


def test_unknown_schema_in_file_is_reported(tmp_path):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("mgpe-schema", "martian-7")
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "u.png", pnginfo=info)
    with pytest.raises(LabelError, match="unknown schema 'martian-7'"):
        read_label_map(tmp_path / "u.png")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_write_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MgpeError, match="does not exist"):
        write_image(tmp_path / "nope" / "a.png", _rgb())


def test_json_round_trip_and_errors(tmp_path):
    write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert read_json(tmp_path / "a.json") == {"x": [1, 2]}
    (tmp_path / "b.json").write_text("{nope")
    with pytest.raises(MgpeError, match="not valid JSON"):
        read_json(tmp_path / "b.json", "config")


def test_json_text_keeps_plain_lists_on_one_line_and_reads_back_the_same(tmp_path):
    """A 3x3 weight map is three lines, a colour one; nested containers still indent; the
    text json.loads reads is the value written (keys as json.dumps writes them)."""
    import json

    from mgpe_core.io import json_text, write_json

    value = {"map": [[1.0, -0.5, 0.25], [0, 1, 0], [0, 0, 1]], "rgb": [255, 128, 0],
             "names": ["a", "b"], "empty": [], "none": {}, "mixed": [{"k": None}, [True]],
             "n": 3, 7: "int key"}
    text = json_text(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    lines = text.splitlines()
    assert '  "rgb": [255, 128, 0],' in lines and '  "names": ["a", "b"],' in lines
    assert lines[1:6] == ['  "map": [', "    [1.0, -0.5, 0.25],", "    [0, 1, 0],",
                          "    [0, 0, 1]", "  ],"]
    assert '  "7": "int key"' in lines and text.endswith("}\n")
    write_json(tmp_path / "v.json", value)
    assert (tmp_path / "v.json").read_text() == text
