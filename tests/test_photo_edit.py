"""`mgpe edit` on ordinary photos, end to end: faces found and aligned, the edit pasted back at
the photo's size with every pixel outside the edited region bit-identical; several faces, none,
too small, EXIF-rotated pictures. Uses the real photo scikit-image ships (the astronaut) and the
built-in samples placed into larger canvases."""

import json

import numpy as np
import pytest
from PIL import Image

from mgpe_cli.main import main
from mgpe_core.faces import scenes
from mgpe_core.io import read_image, read_label_map, write_image
from mgpe_core.samples import load_sample


def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap.out, cap.err


@pytest.fixture
def two_faces(mp, astronaut, tmp_path):
    """A 900 x 600 picture: the astronaut (her face about 105 px wide) on the left and sample 2
    (its face about 70 px wide, turned 12 degrees) on the right."""
    canvas = scenes.background((600, 900), seed=3)
    canvas[:512, :512] = astronaut
    image, labels = load_sample(2)
    scenes.place_face(canvas, image, labels, centre=(700, 300), scale=0.55, angle_degrees=12)
    path = tmp_path / "two.jpg"
    write_image(path, canvas)
    return path


def changed_box(before, after):
    changed = (before != after).any(2)
    ys, xs = np.nonzero(changed)
    return changed, (xs.min(), ys.min(), xs.max(), ys.max())


def test_a_real_photo_keeps_its_size_and_every_unedited_pixel(mp, astronaut, tiny_home,
                                                               tmp_path, capsys):
    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "edit", "swap-mouth", photo, "--reference", "sample:6",
                            "--model", "tiny", "-o", out, "--save-mask", "--json", "--compare")
    assert code == 0, err
    edited = read_image(out)
    assert edited.shape == astronaut.shape
    changed, (x0, y0, x1, y1) = changed_box(astronaut, edited)
    # only around the mouth (the astronaut's is near x 230, y 150 of 512): the rest is the
    # photo, bit for bit
    assert changed.sum() < 0.05 * changed.size
    assert 150 < x0 and x1 < 320 and 100 < y0 and y1 < 220
    mask, schema = read_label_map(out.with_name("out.mask.png"))
    assert mask.shape == astronaut.shape[:2]  # the mask followed, at the photo's size
    assert (mask == schema.index("u_lip")).any()
    assert read_image(out.with_name("out.compare.png")).shape[1] > 2 * 256
    summary = json.loads(stdout)
    assert summary["outputs"][0]["output"] == str(out)

    # --crop: the aligned crop at the model's resolution
    code, _, err = run(capsys, "edit", "swap-mouth", photo, "--reference", "sample:6",
                       "--model", "tiny", "-o", tmp_path / "crop.png", "--crop")
    assert code == 0, err
    assert read_image(tmp_path / "crop.png").shape == (64, 64, 3)


def test_pick_one_face_or_all(two_faces, tiny_home, tmp_path, capsys):
    photo = read_image(two_faces)
    results = {}
    for choice in ("0", "1", "all"):
        out = tmp_path / f"face-{choice}.png"
        code, _, err = run(capsys, "edit", "style", two_faces, "--from", "sample:5",
                           "--regions", "skin", "--face", choice, "--model", "tiny", "-o", out)
        assert code == 0, err
        edited = read_image(out)
        assert edited.shape == photo.shape
        results[choice] = (photo != edited).any(2)
    left, right = (results["0"][:, :560].any(), results["0"][:, 560:].any())
    assert left and not right  # face 0, the largest: the astronaut on the left
    assert results["1"][:, 560:].any() and not results["1"][:, :512].any()
    assert results["all"][:, :560].any() and results["all"][:, 560:].any()
    code, _, err = run(capsys, "edit", "style", two_faces, "--from", "sample:5", "--face", "2",
                       "--model", "tiny", "-o", tmp_path / "none.png")
    assert code == 1 and "has 2 faces (0 = the largest); --face 2 does not exist" in err
    assert not (tmp_path / "none.png").exists()


def test_no_face_or_a_tiny_one_is_refused(mp, tiny_home, tmp_path, capsys):
    write_image(tmp_path / "wall.png", scenes.background((300, 400), seed=1))
    code, _, err = run(capsys, "edit", "bangs", tmp_path / "wall.png", "--mode", "add",
                       "--model", "tiny", "-o", tmp_path / "o.png")
    assert code == 1 and "no face found in" in err and "--align whole" in err
    assert not (tmp_path / "o.png").exists()

    for scale, small in ((0.25, True), (0.3, False)):  # eyes about 14.5 and 17 px apart
        canvas = scenes.background((600, 600), seed=2)
        image, labels = load_sample(0)
        scenes.place_face(canvas, image, labels, centre=(300, 300), scale=scale,
                          angle_degrees=0)
        write_image(tmp_path / "far.png", canvas)
        out = tmp_path / f"far-{scale}.png"
        code, _, err = run(capsys, "edit", "style", tmp_path / "far.png", "--from", "sample:5",
                           "--regions", "skin", "--model", "tiny", "-o", out)
        if small:
            assert code == 1 and "too small to edit: its eyes are 1" in err
            assert "at least 16 are needed" in err and not out.exists()
        else:
            assert code == 0, err


def test_exif_rotated_phone_picture_comes_back_upright(mp, astronaut, tiny_home, tmp_path,
                                                       capsys):
    upright = np.ascontiguousarray(astronaut[:, 40:440])
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "edit", "swap-mouth", tmp_path / "phone.jpg", "--reference",
                       "sample:6", "--model", "tiny", "-o", out)
    assert code == 0, err
    edited = read_image(out)
    assert edited.shape == upright.shape
    _, (x0, y0, x1, y1) = changed_box(read_image(tmp_path / "phone.jpg"), edited)
    assert y1 < 0.5 * upright.shape[0]  # the mouth in the upper half: the picture is upright


def test_whole_picture_mode_needs_no_detector(tiny_home, tmp_path, capsys):
    """--align whole: a face crop framed like the model's is edited as before (squared)."""
    image, labels = load_sample(3)
    write_image(tmp_path / "crop.png", image)
    from mgpe_core.io import write_label_map
    from mgpe_core.labels import get_schema

    write_label_map(tmp_path / "crop.mask.png", labels, get_schema("celebamask-19"))
    code, _, err = run(capsys, "edit", "bangs", tmp_path / "crop.png", "--mode", "remove",
                       "--align", "whole", "--model", "tiny", "-o", tmp_path / "o.png")
    assert code == 0, err
    assert read_image(tmp_path / "o.png").shape == image.shape
    code, _, err = run(capsys, "edit", "bangs", tmp_path / "crop.png", "--mode", "remove",
                       "--align", "whole", "--face", "1", "--model", "tiny", "-o",
                       tmp_path / "o2.png")
    assert code == 2 and "do not go with --align whole" in err


def test_parser_choices(mp, astronaut, tiny_home, tmp_path, capsys):
    """--parser: the model's, the face mesh, or another model's parser by name."""
    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    base = ["edit", "style", photo, "--from", "sample:5", "--regions", "skin", "-o"]
    for model, parser in (("tiny-noparser", "tiny"), ("tiny-noparser", "landmarks"),
                          ("tiny", "model")):
        out = tmp_path / f"{model}-{parser}.png"
        code, _, err = run(capsys, *base, out, "--model", model, "--parser", parser)
        assert code == 0, err
        assert read_image(out).shape == astronaut.shape
    for model, parser, message in (
            ("tiny", "tiny-noparser", "--parser tiny-noparser: model tiny-noparser ships no "
                                      "parser"),
            ("tiny-noparser", "model", "--parser model: model tiny-noparser has no parser"),
            ("tiny", "tiyn", "unknown model 'tiyn'")):
        code, _, err = run(capsys, *base, tmp_path / "x.png", "--model", model,
                           "--parser", parser)
        assert code == 2 and message in err and not (tmp_path / "x.png").exists()
