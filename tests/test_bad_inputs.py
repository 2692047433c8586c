"""Bad input through the real CLI: one clear message, the right exit code, no traceback, and no
output file left behind. Each case is a row of docs/errors.md."""

import errno
import os

import numpy as np
import pytest
from PIL import Image

from mgpe_cli.main import main
from mgpe_core.io import read_image, write_image, write_label_map
from mgpe_core.labels import get_schema
from mgpe_core.samples import load_sample

C19 = get_schema("celebamask-19")


def run(capsys, *args):
    code = main(list(args))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap.out, cap.err


@pytest.fixture
def files(tmp_path):
    img, lab = load_sample(0)
    write_image(tmp_path / "photo.png", img)
    write_label_map(tmp_path / "photo.mask.png", lab, C19)
    return tmp_path, img, lab



def edit(*extra):
    return ["edit", "style", *extra, "--from", "sample:1", "--model", "tiny"]


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("RGBA", ".png"), ("I;16", ".png"),
                                          ("CMYK", ".jpg"), ("P", ".png")])
def test_other_image_modes_are_converted(tiny_home, files, capsys, mode, suffix):
    tmp, img, lab = files
    pic = Image.fromarray(img)
    if mode == "I;16":
        pic = Image.fromarray(img[..., 1].astype(np.uint16) * 257)
    else:
        pic = pic.convert(mode)
    pic.save(tmp / f"odd{suffix}")
    write_label_map(tmp / "odd.mask.png", lab, C19)
    code, _, err = run(capsys, *edit(str(tmp / f"odd{suffix}"), "-o", str(tmp / "o.png")))
    assert code == 0, err
    assert read_image(tmp / "o.png").shape == img.shape  # the photo's own size


def _corrupt(tmp):
    data = (tmp / "photo.png").read_bytes()
    (tmp / "cut.png").write_bytes(data[: len(data) // 3])
    return tmp / "cut.png"


def _fake(tmp):
    (tmp / "fake.jpg").write_text("GIF89a? no, just text")
    return tmp / "fake.jpg"


def _size_mismatch(tmp):
    write_image(tmp / "small.png", read_image(tmp / "photo.png")[:150, :200])
    write_label_map(tmp / "small.mask.png", load_sample(0)[1], C19)
    return tmp / "small.png"


def _bad_ids(tmp):
    write_image(tmp / "ids.png", read_image(tmp / "photo.png"))
    Image.fromarray(np.full((256, 256), 99, np.uint8)).save(tmp / "ids.mask.png")
    return tmp / "ids.png"


def _unknown_schema(tmp):
    from PIL.PngImagePlugin import PngInfo

    write_image(tmp / "sch.png", read_image(tmp / "photo.png"))
    info = PngInfo()
    info.add_text("mgpe-schema", "helen-11")
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp / "sch.mask.png", pnginfo=info)
    return tmp / "sch.png"


def _empty_mask(tmp):
    write_image(tmp / "empty.png", read_image(tmp / "photo.png"))
    write_label_map(tmp / "empty.mask.png", np.zeros((256, 256), np.uint8), C19)
    return tmp / "empty.png"


@pytest.mark.parametrize("make, code, message", [
    (lambda t: t / "missing.png", 1, "image not found"),
    (_corrupt, 1, "truncated or corrupt"),
    (_fake, 1, "not an image"),
    (_size_mismatch, 1, "is 256x256 but the image is 200x150: their aspect ratios differ"),
    (_bad_ids, 1, "ids [99] are outside schema 'mgpe-11'"),
    (_unknown_schema, 1, "unknown schema 'helen-11'"),
    (_empty_mask, 1, "has no face (background only)"),
])
def test_bad_photo_or_mask(tiny_home, files, capsys, no_model_load, make, code, message):
    tmp, _, _ = files
    path = make(tmp)
    got, _, err = run(capsys, *edit(str(path), "-o", str(tmp / "out.png")))
    assert got == code, err
    assert message in err
    assert not (tmp / "out.png").exists()


@pytest.mark.parametrize("op", [
    ["swap-mouth", "--reference", "sample:0"], ["swap-eyes", "--reference", "sample:0"],
    ["swap-brows", "--reference", "sample:0"], ["swap-nose", "--reference", "sample:0"],
    ["bangs", "--mode", "add"], ["bangs", "--mode", "remove"],
    ["style", "--from", "sample:0", "--regions", "eyes,hair,mouth"],
    ["edit-mask", "--new-mask", "sample:11"],
])
def test_missing_components_in_every_op(tiny_home, files, capsys, op):
    """A photo with closed eyes (no eye classes), no hair and no inner mouth still edits, or
    fails with a message naming what is missing."""
    tmp, img, lab = files
    lab = lab.copy()
    for name in ("l_eye", "r_eye", "hair", "mouth"):
        lab[lab == C19.index(name)] = C19.index("skin") if name != "hair" else 0
    write_image(tmp / "partial.png", img)
    write_label_map(tmp / "partial.mask.png", lab, C19)
    code, _, err = run(capsys, "edit", op[0], str(tmp / "partial.png"), *op[1:], "--model",
                       "tiny", "-o", str(tmp / "p.png"))
    if code == 0:
        assert read_image(tmp / "p.png").shape == img.shape
    else:
        assert code in (1, 2) and err.strip().count("\n") == 0 and "Error:" in err


def test_output_folder_missing_or_not_writable(tiny_home, files, capsys):
    tmp, _, _ = files
    code, _, err = run(capsys, *edit("sample:0", "-o", str(tmp / "no" / "such" / "o.png")))
    assert code == 1 and "folder" in err and "does not exist" in err
    locked = tmp / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("running as a user that can write anywhere")
        code, _, err = run(capsys, *edit("sample:0", "-o", str(locked / "o.png")))
        assert code == 1 and "cannot write" in err
    finally:
        os.chmod(locked, 0o700)


def test_disk_full_leaves_no_partial_file(tiny_home, files, capsys, monkeypatch):
    tmp, _, _ = files
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    code, _, err = run(capsys, *edit("sample:0", "-o", str(tmp / "full.png")))
    assert code == 1 and "No space left on device" in err
    assert sorted(p.name for p in tmp.iterdir()) == ["photo.mask.png", "photo.png"]


@pytest.mark.slow
def test_huge_image_is_handled(tiny_home, tmp_path, capsys):
    img, lab = load_sample(2)
    big = np.asarray(Image.fromarray(img).resize((6000, 6000), Image.Resampling.BILINEAR))
    Image.fromarray(big).save(tmp_path / "huge.jpg", quality=70)
    write_label_map(tmp_path / "huge.mask.png",
                    np.asarray(Image.fromarray(lab).resize((6000, 6000),
                                                           Image.Resampling.NEAREST)), C19)
    del big
    code, _, err = run(capsys, *edit(str(tmp_path / "huge.jpg"), "--paste-back", "-o",
                                     str(tmp_path / "huge-out.jpg")))
    assert code == 0, err
    with Image.open(tmp_path / "huge-out.jpg") as out:
        assert out.size == (6000, 6000)


@pytest.mark.parametrize("args, code, message", [
    (["edit", "nope", "x"], 2, "No such operation 'nope'"),
    (["edit", "style", "sample:0", "--from", "sample:1", "--model", "mgpe-synth-12"], 2,
     "unknown model 'mgpe-synth-12'"),
    (["edit", "style", "sample:0", "--from", "sample:1", "--model", "tiny", "--variant", "big"],
     2, "model tiny has no variant 'big' (its variants: default, eye-mask)"),
    (["train", "--out", "x", "--dry-run", "--set", "model.width=wide"], 1,
     "model.width: expected a number, got 'wide'"),
    (["train", "--out", "x", "--dry-run", "--set", "model.colour=1"], 1,
     "unknown key 'colour'"),
])
def test_unknown_names_and_bad_config(tiny_home, tmp_path, capsys, no_model_load, args, code,
                                      message):
    got, _, err = run(capsys, *args, *(["-o", str(tmp_path / "o.png")] if args[0] == "edit"
                                       and args[1] != "nope" else []))
    assert got == code, err
    assert message in err
