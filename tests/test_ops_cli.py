"""Every built-in operation through the real CLI with the tiny model: outputs, JSON, masks,
compare strips, many inputs, variants and input errors."""

import json

import numpy as np
import pytest
from PIL import Image

from mgpe_cli.main import main
from mgpe_core.io import read_image, read_label_map, write_image, write_label_map
from mgpe_core.labels import convert, get_schema
from mgpe_core.metrics.image_metrics import dilate
from mgpe_core.samples import load_sample

M11 = get_schema("mgpe-11")


def run(capsys, *args):
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def photo(tmp_path):
    """sample:0 as a file pair: photo.png + photo.mask.png (celebamask-19 schema)."""
    img, lab = load_sample(0)
    write_image(tmp_path / "photo.png", img)
    write_label_map(tmp_path / "photo.mask.png", lab, get_schema("celebamask-19"))
    return tmp_path / "photo.png"


@pytest.mark.parametrize("args", [
    ["swap-mouth", "sample:0", "--reference", "sample:4"],
    ["swap-eyes", "sample:0", "--reference", "sample:7"],
    ["swap-brows", "sample:0", "--reference", "sample:3"],
    ["swap-nose", "sample:0", "--reference", "sample:5"],
    ["edit-mask", "sample:0", "--new-mask", "sample:1"],
    ["bangs", "sample:1", "--mode", "add"],
    ["bangs", "sample:3", "--mode", "remove"],
    ["style", "sample:1", "--from", "sample:5", "--regions", "hair,mouth"],
    ["style", "sample:1", "--region", "eyes=sample:3", "--region", "skin=sample:7"],
])
def test_every_operation_writes_a_picture(tiny_home, tmp_path, capsys, args):
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "edit", *args, "--model", "tiny", "-o", str(out), "--json",
                            "--save-mask", "--compare")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["operation"] == args[0] and summary["model"] == "tiny"
    assert read_image(out).shape == (256, 256, 3)  # the photo's own size, the edit blended in
    mask, schema = read_label_map(tmp_path / "out.mask.png")
    assert schema.name == "mgpe-11" and mask.shape == (256, 256)
    assert read_image(tmp_path / "out.compare.png").shape[1] > 3 * 256
    # --crop: the model's square crop at its resolution
    code, _, err = run(capsys, "edit", *args, "--model", "tiny", "-o", str(tmp_path / "c.png"),
                       "--crop", "--save-mask")
    assert code == 0, err
    assert read_image(tmp_path / "c.png").shape == (64, 64, 3)
    assert read_label_map(tmp_path / "c.mask.png")[0].shape == (64, 64)


def test_mask_edits_change_the_mask_where_expected(tiny_home, tmp_path, capsys):
    _, lab0 = load_sample(0)
    _, lab4 = load_sample(4)
    code, _, err = run(capsys, "edit", "swap-mouth", "sample:0", "--reference", "sample:4",
                       "--model", "tiny", "--paste-back", "--save-mask", "-o",
                       str(tmp_path / "m.png"))
    assert code == 0, err
    mask, _ = read_label_map(tmp_path / "m.mask.png")
    before = convert(lab0, get_schema("celebamask-19"), M11)
    changed = mask != before
    assert changed.any()
    ys, xs = np.nonzero(changed)
    mouth_rows = np.nonzero(np.isin(before, M11.ids(["u_lip", "l_lip", "mouth"])))[0]
    assert ys.min() >= mouth_rows.min() - 40 and ys.max() <= mouth_rows.max() + 40
    result = read_image(tmp_path / "m.png")
    assert result.shape == (256, 256, 3)  # pasted back at 256 px
    far = ~dilate(changed, 12)  # beyond the feathered edge: the photo's own pixels, exactly
    photo = load_sample(0)[0]
    assert np.array_equal(result[far], photo[far])
    code, _, err = run(capsys, "edit", "swap-mouth", "sample:0", "--reference", "sample:4",
                       "--model", "tiny", "--paste-back", "--whole-image", "-o",
                       str(tmp_path / "w.png"))
    assert code == 0, err
    assert not np.array_equal(read_image(tmp_path / "w.png")[far], photo[far])
    del lab4


def test_mask_to_face_writes_faces_and_grid(tiny_home, tmp_path, capsys):
    out = tmp_path / "faces"
    code, stdout, err = run(capsys, "edit", "mask-to-face", "sample:2", "--styles", "sample:0",
                            "--styles", "sample:3", "--styles", "sample:7", "--model", "tiny",
                            "-o", str(out), "--json")
    assert code == 0, err
    outputs = json.loads(stdout)["outputs"]
    faces = [o["output"] for o in outputs if "output" in o]
    # each face at the mask's own size (sample 2's: 256 px)
    assert len(faces) == 3 and all(read_image(f).shape == (256, 256, 3) for f in faces)
    grid = [o["grid"] for o in outputs if "grid" in o]
    assert len(grid) == 1 and read_image(grid[0]).shape[1] > 4 * 64
    assert len({read_image(f).tobytes() for f in faces}) == 3  # different styles, different faces
    code, _, err = run(capsys, "edit", "mask-to-face", "sample:2", "--styles", "samples",
                       "--model", "tiny", "-o", str(tmp_path / "all"))
    assert code == 0, err
    assert len(list((tmp_path / "all").glob("*.mask-to-face.[0-9][0-9].png"))) == 12


def test_files_with_masks_beside_and_many_inputs(tiny_home, photo, tmp_path, capsys):
    second = tmp_path / "second.jpg"
    img, lab = load_sample(5)
    write_image(second, img)
    Image.fromarray(M11.colorize(convert(lab, get_schema("celebamask-19"), M11))).save(
        tmp_path / "second.mask.png")  # a colour-coded mask in the model's palette
    out = tmp_path / "outdir"
    code, stdout, err = run(capsys, "edit", "style", str(photo), str(second), "--from",
                            "sample:3", "--regions", "hair", "--model", "tiny", "-o", str(out),
                            "--json")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["photo.style.png", "second.style.png"]


def test_photo_without_mask_is_parsed(tiny_home, tmp_path, capsys):
    img, _ = load_sample(6)
    write_image(tmp_path / "nomask.png", img)
    # the tiny random parser labels every pixel skin: restyle the skin
    code, _, err = run(capsys, "edit", "style", str(tmp_path / "nomask.png"), "--from",
                       "sample:1", "--regions", "skin", "--model", "tiny", "-o",
                       str(tmp_path / "o.png"))
    assert code == 0, err
    # its hair: there is none, so nothing to do, said, and nothing written
    code, _, err = run(capsys, "edit", "style", str(tmp_path / "nomask.png"), "--from",
                       "sample:1", "--regions", "hair", "--model", "tiny", "-o",
                       str(tmp_path / "o3.png"))
    assert code == 1 and "nothing to do" in err and not (tmp_path / "o3.png").exists()
    # a model without a parser: the face mesh labels the photo's face (--parser auto) ...
    code, _, err = run(capsys, "edit", "style", str(tmp_path / "nomask.png"), "--from",
                       "sample:1", "--model", "tiny-noparser", "-o", str(tmp_path / "o1.png"))
    assert code == 0, err
    # ... unless the picture is taken whole: then a mask is needed
    code, _, err = run(capsys, "edit", "style", str(tmp_path / "nomask.png"), "--from",
                       "sample:1", "--model", "tiny-noparser", "--align", "whole", "-o",
                       str(tmp_path / "o2.png"))
    assert code == 2 and "no mask for" in err and not (tmp_path / "o2.png").exists()


def test_variant_eye_mask(tiny_home, tmp_path, capsys):
    code, stdout, err = run(capsys, "edit", "swap-eyes", "sample:0", "--reference", "sample:7",
                            "--variant", "eye-mask", "--model", "tiny", "-o",
                            str(tmp_path / "e.png"), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["model"] == "tiny-eyemask" and summary["eye_window"] == "mask"
    code, _, err = run(capsys, "edit", "swap-eyes", "sample:0", "--reference", "sample:7",
                       "--variant", "eye-mask", "--model", "tiny-noparser", "-o",
                       str(tmp_path / "f.png"))
    assert code == 2 and "has no variant 'eye-mask' (its variants: default)" in err


@pytest.mark.parametrize("args, code, message", [
    (["edit", "swap-mouht", "sample:0"], 2, "Did you mean: swap-mouth"),
    (["edit", "style", "sample:0", "--from", "sample:1", "--model", "nope"], 2,
     "unknown model 'nope'"),
    (["edit", "style", "missing.png", "--from", "sample:1", "--model", "tiny"], 1,
     "image not found: missing.png"),
    (["edit", "style", "sample:99", "--from", "sample:1", "--model", "tiny"], 2,
     "sample:99 does not exist"),
    (["edit", "style", "sample:0", "--regions", "hat", "--from", "sample:1", "--model", "tiny"],
     2, "unknown region"),
    (["edit", "style", "sample:0", "--model", "tiny"], 2, "style needs --from"),
    (["edit", "bangs", "sample:0", "--mode", "sideways", "--model", "tiny"], 2,
     "'sideways' is not one of"),
])
def test_bad_inputs_give_one_clear_message(tiny_home, tmp_path, capsys, args, code, message):
    got, _, err = run(capsys, *args, "-o", str(tmp_path / "x.png"))
    assert got == code, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_edit_help_lists_operations_with_examples(capsys):
    code, out, _ = run(capsys, "edit", "--help")
    assert code == 0
    for op in ("mask-to-face", "swap-mouth", "swap-eyes", "swap-brows", "swap-nose",
               "edit-mask", "bangs", "style"):
        assert op in out
    code, out, _ = run(capsys, "edit", "bangs", "--help")
    assert code == 0 and "Example: mgpe edit bangs" in out and "--crop" in out
    assert "--paste-back" not in out  # the default now: hidden, still accepted


def test_plugins_json_lists_operations(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["swap"]["operations"] == ["swap-mouth", "swap-eyes", "swap-brows", "swap-nose"]
    assert "train" in rows["train_commands"]["registered"]["commands"]


def test_parse_command(tiny_home, tmp_path, capsys):
    code, _, err = run(capsys, "parse", "sample:0", "--model", "tiny", "-o",
                       str(tmp_path / "p.png"), "--color")
    assert code == 0, err
    labels, schema = read_label_map(tmp_path / "p.png")
    assert schema.name == "mgpe-11" and labels.shape == (256, 256)
    assert (tmp_path / "p.color.png").exists()
