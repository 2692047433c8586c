"""Component table, window sizes, component masks and exact bounding-box centres."""

import dataclasses

import pytest
import torch

from mgpe_core.components import (
    COMPONENT_NAMES,
    COMPONENTS,
    component_centres,
    component_masks,
    get_component,
    window_size,
)
from mgpe_core.errors import UsageError
from mgpe_core.labels import get_schema

M11 = get_schema("mgpe-11")
C19 = get_schema("celebamask-19")


def test_table_is_data():
    assert COMPONENT_NAMES == ("l_eye", "r_eye", "mouth", "skin", "hair")
    by = {c.name: c for c in COMPONENTS}
    assert set(by["mouth"].classes) == {"u_lip", "mouth", "l_lip"}
    assert set(by["skin"].classes) == {"skin", "l_brow", "r_brow", "nose", "neck"}
    assert [c.kind for c in COMPONENTS] == ["window"] * 3 + ["dense"] * 2
    assert by["skin"].window is None and by["hair"].fallback == (0.5, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        by["hair"].name = "x"
    with pytest.raises(UsageError, match="unknown component"):
        get_component("nose")


def test_window_size_scales_linearly():
    assert window_size("l_eye", 256) == (32, 48)
    assert window_size("r_eye", 256) == (32, 48)
    assert window_size(get_component("mouth"), 256) == (80, 144)
    assert window_size("l_eye", 128) == (16, 24)
    assert window_size("mouth", 128) == (40, 72)
    assert window_size("mouth", 512) == (160, 288)
    assert window_size("l_eye", 64) == (8, 12)
    for res in (8, 16, 96, 100, 200, 1024):
        for name in ("l_eye", "mouth"):
            h, w = window_size(name, res)
            assert h % 2 == 0 and w % 2 == 0 and h >= 2 and w >= 2
    assert window_size("l_eye", 1) == (2, 2)
    with pytest.raises(UsageError, match="dense"):
        window_size("skin", 256)


def _rect(lab, name, y0, y1, x0, x1, schema=M11):
    """Fill rows y0..y1-1, cols x0..x1-1 (all samples)."""
    lab[..., y0:y1, x0:x1] = schema.index(name)


def test_component_masks():
    lab = torch.zeros(2, 32, 40, dtype=torch.long)
    _rect(lab, "skin", 4, 28, 5, 35)
    _rect(lab, "nose", 12, 18, 18, 22)
    _rect(lab, "l_eye", 10, 12, 8, 14)
    _rect(lab, "u_lip", 20, 22, 14, 26)
    _rect(lab, "hair", 0, 4, 0, 40)
    m = component_masks(lab, M11)
    assert m.shape == (2, 5, 32, 40) and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    for k, comp in enumerate(COMPONENTS):
        ids = torch.tensor(M11.ids(comp.classes))
        assert torch.equal(m[:, k].bool(), torch.isin(lab, ids))
    # the components never overlap, and background is in none of them
    assert m.sum(1).max() == 1 and m.sum(1)[lab == 0].sum() == 0
    # schemas with extra classes: classes outside every component are simply in none
    lab19 = torch.full((1, 8, 8), C19.index("eye_g"))
    assert component_masks(lab19, "celebamask-19").sum() == 0


def test_centres_exact_on_rectangles():
    h, w = 64, 80
    lab = torch.zeros(3, h, w, dtype=torch.long)
    _rect(lab[0:1], "skin", 10, 60, 5, 75)
    _rect(lab[0:1], "l_eye", 20, 24, 10, 21)  # rows 20..23, cols 10..20
    _rect(lab[0:1], "r_eye", 21, 26, 50, 60)
    _rect(lab[0:1], "u_lip", 40, 43, 30, 50)  # mouth box: u_lip + mouth + l_lip together
    _rect(lab[0:1], "mouth", 43, 44, 32, 48)
    _rect(lab[0:1], "l_lip", 44, 47, 29, 51)
    _rect(lab[0:1], "l_brow", 5, 8, 4, 12)  # extends the skin box up and left
    _rect(lab[0:1], "hair", 0, 3, 20, 61)
    # sample 1: a different layout, to check samples are independent
    _rect(lab[1:2], "l_eye", 0, 1, 0, 1)  # a single pixel at the corner
    _rect(lab[1:2], "r_eye", h - 2, h, w - 3, w)
    c = component_centres(lab, M11)
    assert c.shape == (3, 5, 2) and c.dtype == torch.float32
    assert c[0].tolist() == [
        [22.0, 15.5],  # (20 + 24) / 2, (10 + 21) / 2
        [23.5, 55.0],
        [43.5, 40.0],  # rows 40..46, cols 29..50
        [32.5, 39.5],  # rows 5..59, cols 4..74
        [1.5, 40.5],
    ]
    assert c[1, 0].tolist() == [0.5, 0.5]
    assert c[1, 1].tolist() == [h - 1.0, w - 1.5]


def test_fallback_centres_when_absent():
    h, w = 100, 200
    lab = torch.zeros(2, h, w, dtype=torch.long)
    _rect(lab[1:], "hair", 10, 20, 30, 50)
    c = component_centres(lab, M11)
    for k, comp in enumerate(COMPONENTS):
        want = [comp.fallback[0] * h, comp.fallback[1] * w]
        assert c[0, k].tolist() == pytest.approx(want)
    assert c[0, 0].tolist() == pytest.approx([47.0, 74.0])
    assert c[0, 2].tolist() == pytest.approx([73.0, 100.0])
    assert c[0, 3].tolist() == [50.0, 100.0]
    assert c[1, 4].tolist() == [15.0, 40.0]  # present in sample 1 only
    assert torch.isfinite(c).all()


def test_centres_follow_a_shift_and_work_in_other_schemas():
    lab = torch.zeros(2, 48, 48, dtype=torch.long)
    lab[0, 10:14, 8:16] = C19.index("l_eye")
    lab[1, 13:17, 11:19] = C19.index("l_eye")
    lab[:, 30:33, 15:30] = C19.index("mouth")
    c = component_centres(lab, C19)
    assert (c[1, 0] - c[0, 0]).tolist() == [3.0, 3.0]
    assert c[0, 2].tolist() == [31.5, 22.5]


def test_neck_takes_the_skin_style_and_glasses_belong_to_no_component():
    """mgpe-13: the neck is in the skin component (a restyled face's neck follows its tone);
    glasses are in none (a face wears them only where its mask has them). mgpe-11 has neither:
    its components are what they were."""
    import torch

    from mgpe_core.components import component_masks
    from mgpe_core.labels import get_schema

    s13, s11 = get_schema("mgpe-13"), get_schema("mgpe-11")
    assert s13.classes[-2:] == ("eye_g", "neck")
    lab = torch.zeros(1, 8, 8, dtype=torch.long)
    lab[0, :2] = s13.index("skin")
    lab[0, 2:4] = s13.index("neck")
    lab[0, 4:6] = s13.index("eye_g")
    masks = component_masks(lab, s13)[0]
    skin = COMPONENT_NAMES.index("skin")
    assert masks[skin, :4].all() and not masks[skin, 4:].any()
    assert not masks[:, 4:6].any()  # glasses: no component
    # CelebAMask-HQ's neck and glasses keep their classes in mgpe-13; mgpe-11 loses both
    c19 = get_schema("celebamask-19")
    import numpy as np

    from mgpe_core.labels import convert

    ids = np.array([[c19.index("neck"), c19.index("eye_g")]], np.uint8)
    assert convert(ids, c19, s13).tolist() == [[s13.index("neck"), s13.index("eye_g")]]
    assert convert(ids, c19, s11).tolist() == [[0, s11.index("skin")]]


def test_colour_masks_hold_the_classes_a_style_colours():
    """loss.region_colour compares the lips without the teeth / mouth interior that share the
    mouth window, and the skin without the brows: the regions mgpe eval measures."""
    import torch

    from mgpe_core.components import colour_masks, component_masks
    from mgpe_core.labels import get_schema

    m11 = get_schema("mgpe-11")
    lab = torch.zeros(1, 4, 4, dtype=torch.long)
    lab[0, 0] = m11.index("u_lip")
    lab[0, 1] = m11.index("mouth")
    lab[0, 2] = m11.index("l_brow")
    lab[0, 3] = m11.index("skin")
    mouth, skin = COMPONENT_NAMES.index("mouth"), COMPONENT_NAMES.index("skin")
    comp, tint = component_masks(lab, m11)[0], colour_masks(lab, m11)[0]
    assert comp[mouth, :2].all() and tint[mouth, 0].all() and not tint[mouth, 1].any()
    assert comp[skin, 2:].all() and not tint[skin, 2].any() and tint[skin, 3].all()
