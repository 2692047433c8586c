"""Masks in the forms CelebAMask-HQ ships them, and left/right pinned by geometry.

CelebAMask-HQ's ``l_eye`` is the subject's left eye, on the image's right; mgpe-11's ``l_eye``
lies on the image's left. Every check here asks *where* a class lies, never which id it has.
"""

import numpy as np
import pytest
from PIL import Image

from mgpe_cli.main import main
from mgpe_core.errors import LabelError
from mgpe_core.io import read_label_map, write_image
from mgpe_core.labels import PALETTE, convert, get_schema
from mgpe_core.operations import OpContext
from mgpe_core.samples import load_sample

C19, M11 = get_schema("celebamask-19"), get_schema("mgpe-11")


def mean_x(labels, schema, name) -> float:
    return float(np.nonzero(labels == schema.index(name))[1].mean())


def sample_files(tmp_path, size=256):
    """Sample 0's photo at 256 px and its CelebAMask-HQ labels as the dataset has them."""
    image, labels19 = load_sample(0)
    write_image(tmp_path / "photo.png", image)
    return image, labels19


def test_celebamask_sides_are_the_subjects():
    image, labels19 = load_sample(0)
    width = labels19.shape[1]
    for name in ("l_eye", "l_brow"):  # the subject's left: on the image's right
        assert mean_x(labels19, C19, name) > width / 2
        assert mean_x(labels19, C19, "r" + name[1:]) < width / 2
    m11 = convert(labels19, C19, M11)
    for name in ("l_eye", "l_brow"):  # mgpe-11: on the image's left
        assert mean_x(m11, M11, name) < width / 2
    # the lower lip is not a side: it stays the lower lip, below the upper one
    ys = np.nonzero(m11 == M11.index("l_lip"))[0].mean()
    assert ys > np.nonzero(m11 == M11.index("u_lip"))[0].mean()
    assert (m11 == M11.index("l_lip")).sum() == (labels19 == C19.index("l_lip")).sum()


def test_unnamed_id_map_needs_its_schema(tmp_path):
    _, labels19 = sample_files(tmp_path)
    Image.fromarray(labels19).save(tmp_path / "photo.mask.png")  # plain ids, no schema text
    with pytest.raises(LabelError, match=r"outside schema 'mgpe-11'.*--mask-schema NAME"):
        OpContext(M11).portrait(str(tmp_path / "photo.png"))
    got = OpContext(M11, mask_schema="celebamask-19").portrait(str(tmp_path / "photo.png"))
    assert mean_x(got.labels, M11, "l_eye") < 128 < mean_x(got.labels, M11, "r_eye")


def test_official_colour_mask_at_half_size_is_recognised(tmp_path):
    """CelebAMask-HQ's colour masks (its palette: ears and neck have colours mgpe-11 lacks) at
    512 px beside 1024 px photos: here 128 px beside the 256 px sample."""
    _, labels19 = sample_files(tmp_path)
    colours = np.asarray([PALETTE[name] for name in C19.classes], np.uint8)
    small = labels19[::2, ::2]
    assert (small == C19.index("neck")).any()  # a colour outside mgpe-11's palette
    Image.fromarray(colours[small]).save(tmp_path / "photo.mask.png")
    got = OpContext(M11).portrait(str(tmp_path / "photo.png"))
    assert got.labels.shape == (256, 256)
    assert mean_x(got.labels, M11, "l_eye") < 128 < mean_x(got.labels, M11, "r_eye")
    np.testing.assert_array_equal(got.labels[::2, ::2], convert(small, C19, M11))


def test_mask_of_another_aspect_ratio_is_refused(tmp_path):
    _, labels19 = sample_files(tmp_path)
    Image.fromarray(labels19[:, :200]).save(tmp_path / "photo.mask.png")
    with pytest.raises(LabelError, match=r"is 200x256 but the image is 256x256: their aspect "
                                         r"ratios differ"):
        OpContext(M11, mask_schema="celebamask-19").portrait(str(tmp_path / "photo.png"))


def test_masks_in_the_forms_people_have(tiny_home, tmp_path, capsys):
    """Through the CLI: an unnamed half-size id map is refused with a hint, then edited with
    --mask-schema; the mask used keeps the subject's left eye on the image's right."""
    _, labels19 = sample_files(tmp_path)
    Image.fromarray(labels19[::2, ::2]).save(tmp_path / "ids.png")
    args = ["edit", "swap-mouth", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "ids.png"),
            "--reference", "sample:4", "--model", "tiny", "-o", str(tmp_path / "out.png"),
            "--save-mask"]
    assert main(args) == 1
    assert "--mask-schema NAME" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
    assert main([*args, "--mask-schema", "celebamask-19"]) == 0, capsys.readouterr().err
    used, schema = read_label_map(tmp_path / "out.mask.png")
    half = used.shape[1] / 2
    assert mean_x(used, schema, "l_eye") < half < mean_x(used, schema, "r_eye")
    assert main([*args, "--mask-schema", "celebamask-91"]) == 2
    assert "Did you mean: celebamask-19" in capsys.readouterr().err
