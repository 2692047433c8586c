"""Label schemas: conversions, one-hot, palette round trips, flips, validation errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mgpe_core.errors import LabelError
from mgpe_core.labels import (
    BUILTIN_SCHEMAS,
    CELEBAMASK_CLASSES,
    LabelSchema,
    convert,
    get_schema,
    merge_parts,
)

C19, M11, M12 = (BUILTIN_SCHEMAS[n] for n in ("celebamask-19", "mgpe-11", "mgpe-12-glasses"))


def test_builtin_schemas_have_expected_classes():
    assert C19.classes == CELEBAMASK_CLASSES and C19.num_classes == 19
    assert M11.classes == (
        "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip", "mouth",
        "l_lip", "hair",
    )
    assert M12.classes[-1] == "eye_g" and M12.num_classes == 12


def test_celebamask_to_mgpe11_sends_accessories_to_background_and_glasses_to_skin():
    labels = np.arange(19, dtype=np.uint8)[None]
    out = convert(labels, C19, M11)[0]
    name = {i: M11.classes[v] for i, v in enumerate(out)}
    for src in ("l_ear", "r_ear", "hat", "ear_r", "neck_l", "neck", "cloth", "background"):
        assert name[CELEBAMASK_CLASSES.index(src)] == "background"
    assert name[CELEBAMASK_CLASSES.index("eye_g")] == "skin"
    for same in ("skin", "nose", "mouth", "u_lip", "l_lip", "hair"):
        assert name[CELEBAMASK_CLASSES.index(same)] == same
    # CelebAMask-HQ's l_ is the subject's left (image right); mgpe-11's l_ is the image's left
    for a, b in (("l_eye", "r_eye"), ("r_eye", "l_eye"), ("l_brow", "r_brow"),
                 ("r_brow", "l_brow")):
        assert name[CELEBAMASK_CLASSES.index(a)] == b
    assert M12.classes[convert(labels, C19, M12)[0][3]] == "eye_g"


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, (7, 9), elements=st.integers(0, 10)))
def test_mgpe11_round_trips_through_celebamask19(labels):
    assert np.array_equal(convert(convert(labels, M11, C19), C19, M11), labels)
    assert np.array_equal(convert(convert(labels, M11, M12), M12, M11), labels)


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, (6, 5), elements=st.integers(0, 18)))
def test_conversion_stays_within_target_schema(labels):
    for dst in BUILTIN_SCHEMAS.values():
        out = convert(labels, C19, dst)
        assert out.dtype == np.uint8 and out.max() < dst.num_classes


def test_one_hot_shape_and_values():
    labels = np.array([[0, 1], [10, 4]], dtype=np.uint8)
    oh = M11.one_hot(labels)
    assert oh.shape == (11, 2, 2) and oh.dtype == np.float32
    assert np.array_equal(oh.argmax(0), labels) and np.all(oh.sum(0) == 1)


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, (8, 8), elements=st.integers(0, 11)))
def test_colorize_decolorize_round_trip(labels):
    assert np.array_equal(M12.decolorize(M12.colorize(labels)), labels)


def test_palette_colours_are_distinct():
    for schema in BUILTIN_SCHEMAS.values():
        assert len({tuple(c) for c in schema.palette}) == schema.num_classes


def test_decolorize_tolerates_mild_noise_and_rejects_foreign_colours():
    labels = np.array([[0, 1, 10]], dtype=np.uint8)
    rgb = M11.colorize(labels).astype(np.int16) + np.array([[[5, -4, 3]]])
    assert np.array_equal(M11.decolorize(np.clip(rgb, 0, 255).astype(np.uint8)), labels)
    with pytest.raises(LabelError, match="not in schema 'mgpe-11'"):
        M11.decolorize(np.full((2, 2, 3), 128, np.uint8))


def test_flip_swaps_left_right_but_not_lower_lip():
    perm = M11.flip_permutation
    assert M11.classes[perm[M11.index("l_eye")]] == "r_eye"
    assert M11.classes[perm[M11.index("r_brow")]] == "l_brow"
    assert perm[M11.index("l_lip")] == M11.index("l_lip")  # lower lip, not left lip
    assert C19.classes[C19.flip_permutation[C19.index("l_ear")]] == "r_ear"
    labels = np.array([[M11.index("l_eye"), 0, M11.index("hair")]], dtype=np.uint8)
    flipped = M11.flip(labels)
    assert flipped.tolist() == [[M11.index("hair"), 0, M11.index("r_eye")]]
    assert np.array_equal(M11.flip(flipped), labels)


def test_validate_names_out_of_range_ids():
    with pytest.raises(LabelError, match=r"ids \[11, 200\] are outside schema 'mgpe-11'"):
        M11.validate(np.array([[0, 11, 200]]))
    with pytest.raises(LabelError, match="2-D"):
        M11.validate(np.zeros((2, 2, 2)))


def test_get_schema_suggests_close_matches():
    with pytest.raises(LabelError, match="Did you mean: mgpe-11"):
        get_schema("mgpe11")
    assert get_schema(M11) is M11
    assert get_schema(M11.to_dict()) == M11


def test_schema_dict_round_trip_and_custom_schema():
    custom = LabelSchema.from_dict({
        "name": "face-hair",
        "classes": ["background", "face", "hair"],
        "source_map": {c: (2 if c == "hair" else 0 if c in ("background", "cloth", "neck",
                       "hat", "neck_l", "ear_r") else 1) for c in CELEBAMASK_CLASSES},
    })
    assert LabelSchema.from_dict(custom.to_dict()) == custom
    labels = np.array([[C19.index("hair"), C19.index("nose"), C19.index("cloth")]], np.uint8)
    assert convert(labels, C19, custom).tolist() == [[2, 1, 0]]
    # back to celebamask: "face" stands for the first source class that maps to it (skin)
    assert convert(np.array([[1, 2]], np.uint8), custom, C19).tolist() == [[1, 13]]


@pytest.mark.parametrize("bad, msg", [
    (dict(classes=("background", "a"), source_map=(0,) * 18), "needs 19 entries"),
    (dict(classes=("background", "a", "a"), source_map=(0,) * 19), "unique"),
    (dict(classes=("background", "a"), source_map=(0,) * 19), "no source class maps to"),
    (dict(classes=("skin", "background"), source_map=(1, 0) + (1,) * 17), "must be 'background'"),
    (dict(classes=("background",), source_map=(0,) * 18 + (3,)), "outside the classes"),
])
def test_invalid_schemas_are_rejected(bad, msg):
    with pytest.raises(LabelError, match=msg):
        LabelSchema("bad", **bad)


def test_merge_parts_uses_standard_order():
    skin = np.ones((4, 4), bool)
    hair = np.zeros((4, 4), bool)
    hair[0] = True
    cloth = np.zeros((4, 4), bool)
    cloth[0, 0] = True
    out = merge_parts({"cloth": cloth, "skin": skin, "hair": hair}, (4, 4))
    assert out[0, 0] == C19.index("cloth") and out[0, 1] == C19.index("hair")
    assert out[2, 2] == C19.index("skin")
