"""Mask edits: the core primitives (transplants, class edits) and the geometry of the swap and
bangs operations (their modules in mgpe_plugins/ops) — exact results on hand-built faces,
and properties (ids in the schema, inputs untouched, changes confined) on random face-like
masks, for every built-in schema."""

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mgpe_core import mask_edit as me
from mgpe_core.errors import LabelError, UsageError
from mgpe_core.labels import BUILTIN_SCHEMAS, CELEBAMASK_CLASSES, LabelSchema, get_schema
from mgpe_plugins.ops import bangs as bangs_op
from mgpe_plugins.ops import swap as swap_op

SCHEMAS = [get_schema(n) for n in ("mgpe-11", "mgpe-12-glasses", "mgpe-13", "celebamask-19")]
M11 = get_schema("mgpe-11")
PARTS = ("hair", "skin", "nose", "l_brow", "r_brow", "l_eye", "r_eye", "u_lip", "mouth", "l_lip")
MOUTH = ("u_lip", "mouth", "l_lip")

# The hand-built 64x64 face (inclusive boxes, drawn in this order).
FACE = {
    "hair": (2, 40, 8, 55),  # top of the head and the sides
    "skin": (13, 56, 14, 49),
    "l_brow": (24, 25, 19, 28),
    "r_brow": (24, 25, 35, 44),
    "l_eye": (28, 30, 20, 27),
    "r_eye": (28, 30, 36, 43),
    "nose": (31, 40, 29, 34),
    "u_lip": (44, 45, 25, 38),
    "l_lip": (46, 48, 25, 38),
}
BANGS = (15, 21, 16, 47)  # inside the forehead region of FACE


def draw(schema, boxes, shape=(64, 64)):
    m = np.zeros(shape, dtype=np.uint8)
    for name, (y0, y1, x0, x1) in boxes.items():
        m[y0:y1 + 1, x0:x1 + 1] = schema.index(name)
    return m


def face(schema, **changes):
    """FACE with parts replaced (a box) or removed (None)."""
    boxes = {**FACE, **changes}
    return draw(schema, {k: v for k, v in boxes.items() if v is not None})


def bangs_face(schema):
    m = face(schema)
    y0, y1, x0, x1 = BANGS
    m[y0:y1 + 1, x0:x1 + 1] = schema.index("hair")
    return m


def box_mask(box, shape=(64, 64)):
    m = np.zeros(shape, dtype=bool)
    if box is not None:
        y0, y1, x0, x1 = box
        m[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
    return m


def shifted(box, dy, dx):
    y0, y1, x0, x1 = box
    return y0 + dy, y1 + dy, x0 + dx, x1 + dx


def check_output(out, inp, schema):
    assert out.shape == inp.shape and out.dtype == np.uint8
    assert out.max() < schema.num_classes
    assert out is not inp


# -- boxes -----------------------------------------------------------------------------------


def test_part_box_and_centre():
    m = face(M11)
    lips = M11.ids(MOUTH)
    assert me.part_box(m, lips) == (44, 48, 25, 38)
    assert me.part_centre(m, lips) == (46.5, 32.0)
    assert me.part_box(m, M11.index("nose")) == (31, 40, 29, 34)
    assert me.part_box(m, M11.index("mouth")) is None
    assert me.part_centre(m, []) is None


def test_changed_region():
    a = face(M11)
    b = a.copy()
    b[3, 20] = 0
    assert np.argwhere(me.changed_region(a, b)).tolist() == [[3, 20]]
    with pytest.raises(LabelError, match="shapes differ"):
        me.changed_region(a, a[:10])


# -- transplants -----------------------------------------------------------------------------

REF_MOUTH = {  # an open mouth, 2 px higher and 2 px left of the photo's
    "u_lip": (40, 41, 22, 37),
    "mouth": (42, 45, 24, 35),
    "l_lip": (46, 48, 22, 37),
}


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_swap_mouth_exact(schema):
    photo = face(schema)
    ref = face(schema, u_lip=None, l_lip=None)
    for name, b in REF_MOUTH.items():
        ref[b[0]:b[1] + 1, b[2]:b[3] + 1] = schema.index(name)
    before = photo.copy()
    out = swap_op.swap_mouth(photo, ref, schema)
    check_output(out, photo, schema)
    assert np.array_equal(photo, before)  # input untouched

    # photo mouth box (44, 48, 25, 38), centre (46.5, 32); reference (40, 48, 22, 37), centre
    # (44.5, 30): shift (2, 2)
    ids = schema.ids(MOUTH)
    assert me.part_box(out, ids) == (42, 50, 24, 39)
    assert me.part_centre(out, ids) == me.part_centre(photo, ids)
    expected = photo.copy()
    expected[np.isin(photo, ids)] = schema.index("skin")
    for name, b in REF_MOUTH.items():
        expected[b[0] + 2:b[1] + 3, b[2] + 2:b[3] + 3] = schema.index(name)
    assert np.array_equal(out, expected)
    # old mouth pixels not covered by the new mouth became skin
    old = np.isin(photo, ids) & ~np.isin(out, ids)
    assert old.sum() == 8 and (out[old] == schema.index("skin")).all()
    # nothing outside old box ∪ new box changed
    inside = box_mask((44, 48, 25, 38)) | box_mask((42, 50, 24, 39))
    assert np.array_equal(out[~inside], photo[~inside])


def test_swap_mouth_closed_reference_and_scale():
    photo = face(M11, u_lip=None, l_lip=None)
    for name, b in REF_MOUTH.items():
        photo[b[0]:b[1] + 1, b[2]:b[3] + 1] = M11.index(name)
    ref = face(M11)  # closed: no inner mouth
    out = swap_op.swap_mouth(photo, ref, M11)
    assert not (out == M11.index("mouth")).any()
    assert me.part_box(out, M11.ids(MOUTH)) == (42, 46, 23, 36)  # ref box shifted by (-2, -2)
    # match_size: the reference mouth (14 px wide) is scaled to the photo's (16 px)
    out = swap_op.swap_mouth(photo, ref, M11, match_size=True)
    y0, y1, x0, x1 = me.part_box(out, M11.ids(MOUTH))
    assert (x0, x1) == (22, 37) and y1 - y0 + 1 in (5, 6)
    assert not (out == M11.index("mouth")).any()


def test_transplant_scale_about_centre():
    photo = face(M11)
    ref = face(M11, nose=(10, 11, 50, 51))  # a 2x2 nose, elsewhere
    out = me.transplant(photo, ref, ["nose"], M11, scale=2.0)
    assert me.part_box(out, M11.index("nose")) == (34, 37, 30, 33)
    assert me.part_centre(out, M11.index("nose")) == me.part_centre(photo, M11.index("nose"))
    with pytest.raises(UsageError, match="not both"):
        me.transplant(photo, ref, ["nose"], M11, scale=2.0, match_size=True)
    with pytest.raises(UsageError, match="align"):
        me.transplant(photo, ref, ["nose"], M11, align="top")


def test_transplant_overwrite_rule_and_clipping():
    photo = face(M11)
    ref = face(M11, nose=(20, 44, 27, 36))  # a long nose: reaches the brows' row and the lips
    out = swap_op.swap_nose(photo, ref, M11)
    nose = out == M11.index("nose")
    # pasted only over skin (and the old nose): eyes, lips and brows are kept
    for name in ("l_eye", "r_eye", "u_lip", "l_brow"):
        assert np.array_equal(out == M11.index(name), photo == M11.index(name))
    assert nose.any() and not (nose & (photo == M11.index("u_lip"))).any()
    # allowing lips to be overwritten lets the nose cover them
    out2 = me.transplant(photo, ref, ["nose"], M11, overwrite=("skin", "nose", "u_lip"))
    assert (out2[44, 27:37] == M11.index("nose")).all()
    # a component shifted partly outside the image is clipped, not wrapped
    photo_edge = face(M11, nose=(60, 63, 0, 3))
    out3 = swap_op.swap_nose(photo_edge, ref, M11)  # shift (30, -30): rows 50.., columns ..6
    nose3 = out3 == M11.index("nose")
    assert nose3.any() and not (nose3 & ~box_mask((50, 63, 0, 6))).any()


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_swap_eyes_each_at_its_own_centre(schema):
    photo = face(schema)
    ref = face(schema, l_eye=(27, 31, 18, 27), r_eye=(26, 29, 37, 44))
    out = swap_op.swap_eyes(photo, ref, schema)
    check_output(out, photo, schema)
    le, re_ = schema.index("l_eye"), schema.index("r_eye")
    # l_eye: ref centre (29.5, 23) -> photo (29.5, 24): shift (0, 1)
    assert me.part_box(out, le) == (27, 31, 19, 28)
    assert (out[27:32, 19:29] == le).all()
    # r_eye: ref centre (28, 41) -> photo (29.5, 40): shift (round(1.5) = 2, -1)
    assert me.part_box(out, re_) == (28, 31, 36, 43)
    changed = me.changed_region(photo, out)
    allowed = box_mask((27, 31, 19, 28)) | box_mask((28, 31, 36, 43)) | box_mask((28, 30, 20, 27))
    assert not (changed & ~allowed).any()


def test_swap_eyes_reference_lacking_or_photo_lacking():
    photo = face(M11)
    with pytest.raises(LabelError, match=r"reference mask has no l_eye, r_eye"):
        swap_op.swap_eyes(photo, face(M11, l_eye=None, r_eye=None), M11)
    with pytest.raises(LabelError, match=r"reference mask has no r_eye"):
        swap_op.swap_eyes(photo, face(M11, r_eye=None), M11)
    with pytest.raises(LabelError, match=r"reference mask has no nose"):
        swap_op.swap_nose(photo, face(M11, nose=None), M11)
    # the photo lacks its left eye: the reference's is pasted where it is (no shift)
    ref = face(M11, l_eye=(27, 31, 16, 25))
    out = swap_op.swap_eyes(face(M11, l_eye=None), ref, M11)
    assert me.part_box(out, M11.index("l_eye")) == (27, 31, 16, 25)


def test_swap_brows_and_reference_of_another_size():
    photo = face(M11)
    ref = face(M11, l_brow=(22, 24, 17, 29), r_brow=(23, 23, 34, 45))
    out = swap_op.swap_brows(photo, ref, M11)
    assert me.part_box(out, M11.index("l_brow")) == (24, 26, 18, 30)  # shift (2, 1)
    assert me.part_box(out, M11.index("r_brow")) == (25, 25, 34, 45)  # shift (2, 0)
    big = np.kron(ref, np.ones((2, 2), dtype=np.uint8))  # the same layout at 128 px
    assert np.array_equal(swap_op.swap_brows(photo, big, M11), out)


def tiny_schema():
    keep = ("background", "skin", "hair", "u_lip", "l_lip")
    smap = tuple(keep.index(c) if c in keep else 0 for c in CELEBAMASK_CLASSES)
    return LabelSchema("tiny", keep, smap)


def test_missing_classes_name_schema_and_class():
    tiny = tiny_schema()
    m = np.zeros((8, 8), dtype=np.uint8)
    m[1:8] = 1
    m[5, 2:6], m[6, 2:6] = 3, 4
    with pytest.raises(LabelError, match=r"mouth_open needs class 'mouth'.*'tiny'"):
        me.mouth_open(m, tiny, 2)
    with pytest.raises(LabelError, match=r"'l_eye', 'r_eye'.*schema 'tiny'"):
        swap_op.swap_eyes(m, m, tiny)
    # the lips alone are swapped in a schema without an inner-mouth class
    ref = np.zeros_like(m)
    ref[4, 1:7], ref[5, 1:7] = 3, 4
    out = swap_op.swap_mouth(m, ref, tiny)
    assert me.part_box(out, [3, 4]) == (5, 6, 1, 6)
    with pytest.raises(LabelError, match="ids"):
        bangs_op.add_bangs(np.full((4, 4), 9, np.uint8), tiny)


# -- bangs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_forehead_region(schema):
    fh = bangs_op.forehead_region(face(schema), schema)
    # brows' top 24, chin 57: thirds 17; crown 2: halfway 11 -> the smaller: rows 13..23
    assert (fh.top, fh.bottom, fh.height, fh.x0, fh.x1, fh.crown) == (13, 24, 11, 14, 49, 2)
    region = fh.mask((64, 64))
    assert region[23, 14:50].all() and not region[23, 13] and not region[23, 50]
    assert not region[13, 14] and region[13, 31]  # rounded upper corners
    assert not region[:13].any() and not region[24:].any()
    # the same region after adding or removing bangs
    assert bangs_op.forehead_region(bangs_face(schema), schema) == fh
    added = bangs_op.add_bangs(face(schema), schema, depth=1.0)
    assert bangs_op.forehead_region(added, schema) == fh


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_add_bangs_drawn(schema):
    photo = face(schema)
    before = photo.copy()
    skin, hair = schema.index("skin"), schema.index("hair")
    out, info = bangs_op.add_bangs_info(photo, schema)
    check_output(out, photo, schema)
    assert np.array_equal(photo, before) and info["source"] == "drawn"
    changed = me.changed_region(photo, out)
    assert info["changed"] == changed.sum() > 50
    assert (photo[changed] == skin).all() and (out[changed] == hair).all()
    rows, cols = np.nonzero(changed)
    assert rows.min() == 13 and rows.max() < 24 - 3  # depth 0.6 of 11 rows: not to the brows
    assert cols.min() >= 14 and cols.max() <= 49
    # depth 1: the lowest hair row is just above the brows
    deep = me.changed_region(photo, bangs_op.add_bangs(photo, schema, depth=1.0))
    assert np.nonzero(deep)[0].max() == 23
    assert deep.sum() > changed.sum()
    # the lower edge is wavy, and deterministic
    low = [np.nonzero(changed[:, x])[0].max() for x in range(20, 44)]
    assert len(set(low)) > 1
    assert np.array_equal(out, bangs_op.add_bangs(photo, schema))
    # add, then remove: the original forehead skin is back
    for m in (out, bangs_op.add_bangs(photo, schema, depth=1.0)):
        assert np.array_equal(bangs_op.remove_bangs(m, schema), photo)
    with pytest.raises(UsageError, match="depth"):
        bangs_op.add_bangs(photo, schema, depth=0)


def test_add_bangs_hangs_from_the_hair_on_a_tall_forehead():
    photo = face(M11, hair=(2, 40, 8, 55), skin=(6, 56, 14, 49))  # skin above the region
    out = bangs_op.add_bangs(photo, M11)
    changed = me.changed_region(photo, out)
    assert (out[6:13, 14:50] == M11.index("hair")).all()  # no strip of skin above the fringe
    assert (photo[changed] == M11.index("skin")).all() and np.nonzero(changed)[0].max() < 24


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_add_bangs_from_reference(schema):
    photo = face(schema)
    ref = bangs_face(schema)
    out, info = bangs_op.add_bangs_info(photo, schema, reference=ref)
    assert info["source"] == "reference"
    # same geometry: the reference's bangs (its hair inside its arched forehead region) are
    # copied as they are
    region = bangs_op.forehead_region(ref, schema).mask(ref.shape)
    want = np.where(region & (ref == schema.index("hair")), ref, photo)
    assert np.array_equal(out, want)
    # a reference whose whole face is 3 px lower and 2 px to the right gives the same bangs
    moved = np.zeros_like(ref)
    moved[3:, 2:] = ref[:-3, :-2]
    assert np.array_equal(bangs_op.add_bangs(photo, schema, reference=moved), want)
    # a reference without bangs: the drawn fringe
    out, info = bangs_op.add_bangs_info(photo, schema, reference=face(schema))
    assert info["source"].startswith("drawn")
    assert np.array_equal(out, bangs_op.add_bangs(photo, schema))


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_remove_bangs(schema):
    m = bangs_face(schema)
    before = m.copy()
    out = bangs_op.remove_bangs(m, schema)
    check_output(out, m, schema)
    assert np.array_equal(m, before)
    # the bangs inside the arched forehead region become skin; the rectangle's upper corners
    # (outside the arch) stay hair, as temples do; side and top hair unchanged
    region = bangs_op.forehead_region(m, schema).mask(m.shape)
    want = np.where(region & (m == schema.index("hair")), face(schema), m)
    assert np.array_equal(out, want)
    assert not np.array_equal(out, face(schema))  # the corners: an arch, not a square
    rows = np.flatnonzero(region.any(1))
    assert region[rows[0]].sum() < region[rows[-1]].sum() / 2  # narrow at the top
    # no hair on the forehead: an unchanged copy
    plain = face(schema)
    out = bangs_op.remove_bangs(plain, schema)
    assert np.array_equal(out, plain) and out is not plain


def test_forehead_from_eyes_and_errors():
    m = face(M11, l_brow=None, r_brow=None)
    fh = bangs_op.forehead_region(m, M11)
    # eyes' top 28, chin 57: 28 - round(0.2 * 29) = 22
    assert fh.bottom == 22
    out = bangs_op.add_bangs(m, M11, depth=1.0)
    assert np.nonzero(me.changed_region(m, out))[0].max() == 21
    with pytest.raises(LabelError, match="neither eyebrows nor eyes"):
        bangs_op.add_bangs(face(M11, l_brow=None, r_brow=None, l_eye=None, r_eye=None), M11)
    with pytest.raises(LabelError, match="no skin"):
        bangs_op.remove_bangs(face(M11, skin=None), M11)
    with pytest.raises(LabelError, match="reference mask has neither"):
        bangs_op.add_bangs(m, M11, reference=face(M11, l_brow=None, r_brow=None, l_eye=None,
                                            r_eye=None))


# -- small class edits -----------------------------------------------------------------------


def test_mouth_open():
    m = face(M11)
    out = me.mouth_open(m, M11, 3)
    check_output(out, m, M11)
    lip, mouth = M11.index("l_lip"), M11.index("mouth")
    assert me.part_box(out, lip) == (49, 51, 25, 38)
    assert me.part_box(out, mouth) == (46, 48, 25, 38)
    assert (out[44:46, 25:39] == M11.index("u_lip")).all()
    changed = me.changed_region(m, out)
    assert not (changed & ~box_mask((46, 51, 25, 38))).any()
    # a big opening leaves a gap (former skin) that becomes mouth too; the chin is not moved
    out = me.mouth_open(m, M11, 10)
    assert (out[46:56, 25:39] == mouth).all() and (out[56, 25:39] == lip).all()
    assert (out[57:] == m[57:]).all()
    assert np.array_equal(me.mouth_open(m, M11, 0), m)
    with pytest.raises(LabelError, match="no lower lip"):
        me.mouth_open(face(M11, l_lip=None), M11, 2)
    with pytest.raises(UsageError):
        me.mouth_open(m, M11, -1)


def test_replace_and_dilate_class():
    m = face(M11)
    hair, skin = M11.index("hair"), M11.index("skin")
    out = me.replace_class(m, M11, "hair", "skin", region=(0, 9, 0, 63))
    assert (out[:10] != hair).all() and np.array_equal(out[10:], m[10:])
    mask = np.zeros(m.shape, bool)
    mask[:, :32] = True
    out = me.replace_class(m, M11, "l_eye", "skin", region=mask)
    assert not (out == M11.index("l_eye")).any()
    with pytest.raises(UsageError, match="region"):
        me.replace_class(m, M11, "hair", "skin", region="top")

    out = me.dilate_class(m, M11, "mouth", 2)
    assert np.array_equal(out, m)  # no mouth pixels to grow
    out = me.dilate_class(m, M11, "l_lip", 2)
    changed = me.changed_region(m, out)
    assert (m[changed] == skin).all() and (out[changed] == M11.index("l_lip")).all()
    assert me.part_box(out, M11.index("l_lip")) == (45, 50, 23, 40)
    assert out[50, 23] == skin and out[45, 24] != skin  # a disk, not a square
    assert (out[44:46, 25:39] == M11.index("u_lip")).all()  # not grown into the upper lip
    out = me.dilate_class(m, M11, "l_lip", 2, into=("skin", "u_lip"))
    assert (out[44:46, 25:39] == M11.index("l_lip")).all()


# -- properties on random face-like masks ----------------------------------------------------


@st.composite
def random_boxes(draw_, schema):
    """Boxes anywhere (partly outside the image too), each part absent one time in five."""
    h, w = draw_(st.integers(6, 40)), draw_(st.integers(6, 40))
    m = np.zeros((h, w), dtype=np.uint8)
    for name in PARTS:
        if draw_(st.integers(0, 4)) == 0:
            continue
        y0, x0 = draw_(st.integers(-3, h - 1)), draw_(st.integers(-3, w - 1))
        bh, bw = draw_(st.integers(1, h)), draw_(st.integers(1, w))
        m[max(y0, 0):y0 + bh, max(x0, 0):x0 + bw] = schema.index(name)
    return m


@st.composite
def jittered_face(draw_, schema):
    """FACE at a random size, each part moved a little (to the borders too), one time in six
    absent; sometimes bangs and an open mouth."""
    h, w = draw_(st.integers(20, 64)), draw_(st.integers(20, 64))
    boxes = dict(FACE)
    if draw_(st.booleans()):
        boxes = {**{k: v for k, v in boxes.items() if k in ("hair", "skin")}, "bangs": BANGS,
                 **{k: v for k, v in boxes.items() if k not in ("hair", "skin")}}
    if draw_(st.booleans()):
        boxes["mouth"] = (45, 46, 27, 36)
    m = np.zeros((h, w), dtype=np.uint8)
    for name, (y0, y1, x0, x1) in boxes.items():
        if draw_(st.integers(0, 5)) == 0:
            continue
        dy, dx = draw_(st.integers(-4, 4)), draw_(st.integers(-4, 4))
        ys = [max(round(v * h / 64) + dy, 0) for v in (y0, y1 + 1)]
        xs = [max(round(v * w / 64) + dx, 0) for v in (x0, x1 + 1)]
        m[ys[0]:ys[1], xs[0]:xs[1]] = schema.index("hair" if name == "bangs" else name)
    return m


@st.composite
def face_like(draw_, schema=None):
    schema = schema or draw_(st.sampled_from(SCHEMAS))
    return schema, draw_(st.one_of(random_boxes(schema), jittered_face(schema)))


@st.composite
def photo_and_reference(draw_):
    schema, photo = draw_(face_like())
    _, ref = draw_(face_like(schema))
    return schema, photo, ref


FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _resized(ref, shape):
    return me.resize_nearest(ref, shape) if ref.shape != shape else ref


@FAST
@given(photo_and_reference(), st.sampled_from(["swap_mouth", "swap_nose", "swap_eyes",
                                               "swap_brows"]))
def test_prop_transplant_is_local(case, fn):
    schema, photo, ref = case
    names = {"swap_mouth": [MOUTH], "swap_nose": [("nose",)],
             "swap_eyes": [("l_eye",), ("r_eye",)], "swap_brows": [("l_brow",), ("r_brow",)]}[fn]
    p0, r0 = photo.copy(), ref.copy()
    rref = _resized(ref, photo.shape)
    if any(me.part_box(rref, schema.ids(n)) is None for n in names):
        event("reference lacks the component")
        with pytest.raises(LabelError, match="reference mask has no"):
            getattr(swap_op, fn)(photo, ref, schema)
        return
    out = getattr(swap_op, fn)(photo, ref, schema)
    check_output(out, photo, schema)
    assert np.array_equal(photo, p0) and np.array_equal(ref, r0)
    allowed = np.zeros(photo.shape, bool)
    comp_ids = []
    for n in names:
        ids = schema.ids(n)
        comp_ids += ids
        old, rb = me.part_box(photo, ids), me.part_box(rref, ids)
        if old is None:
            dy = dx = 0
        else:
            (py, px), (ry, rx) = me.box_centre(old), me.box_centre(rb)
            dy, dx = np.floor(py - ry + 0.5), np.floor(px - rx + 0.5)
        allowed |= box_mask(old, photo.shape) | box_mask(shifted(rb, int(dy), int(dx)),
                                                         photo.shape)
    changed = me.changed_region(photo, out)
    event(f"transplant changed pixels: {bool(changed.any())}")
    assert not (changed & ~allowed).any()
    keep = [schema.index("skin"), *comp_ids]
    if fn == "swap_eyes" and "eye_g" in schema.classes:
        keep.append(schema.index("eye_g"))
    assert np.isin(photo[changed], keep).all()
    assert np.isin(out[changed], [schema.index("skin"), *comp_ids]).all()


def _forehead_or_none(m, schema):
    try:
        return bangs_op.forehead_region(m, schema)
    except LabelError:
        assert me.part_box(m, schema.index("skin")) is None or me.part_box(
            m, schema.ids(("l_brow", "r_brow", "l_eye", "r_eye"))) is None
        return None


@FAST
@given(face_like(), st.sampled_from([0.3, 0.6, 1.0]))
def test_prop_add_bangs(case, depth):
    schema, m = case
    m0 = m.copy()
    fh = _forehead_or_none(m, schema)
    if fh is None:
        event("no forehead")
        with pytest.raises(LabelError):
            bangs_op.add_bangs(m, schema, depth=depth)
        return
    out = bangs_op.add_bangs(m, schema, depth=depth)
    check_output(out, m, schema)
    assert np.array_equal(m, m0)
    changed = me.changed_region(m, out)
    event(f"add_bangs changed pixels: {bool(changed.any())}")
    assert (m[changed] == schema.index("skin")).all()
    assert (out[changed] == schema.index("hair")).all()
    assert not (changed & ~fh.head(m.shape)).any()  # rows crown..brow top, face columns
    above = fh.head(m.shape) & (m == schema.index("skin"))
    above[fh.top:] = False
    event(f"skin above the region: {bool(above.any())}")
    if not above.any():
        assert not (changed & ~fh.mask(m.shape)).any()
        if bangs_op.has_bangs(out, schema):
            assert np.array_equal(bangs_op.remove_bangs(out, schema),
                                  bangs_op.clear_forehead(m, schema))


@FAST
@given(face_like())
def test_prop_remove_bangs(case):
    schema, m = case
    m0 = m.copy()
    fh = _forehead_or_none(m, schema)
    if fh is None:
        with pytest.raises(LabelError):
            bangs_op.remove_bangs(m, schema)
        return
    out = bangs_op.remove_bangs(m, schema)
    check_output(out, m, schema)
    assert np.array_equal(m, m0)
    changed = me.changed_region(m, out)
    event(f"remove_bangs changed pixels: {bool(changed.any())}")
    if not bangs_op.has_bangs(m, schema):  # a bare forehead keeps its hairline
        assert not changed.any()
    assert (m[changed] == schema.index("hair")).all()
    assert (out[changed] == schema.index("skin")).all()
    assert not (changed & ~fh.mask(m.shape)).any()
    assert np.array_equal(bangs_op.remove_bangs(out, schema), out)  # idempotent


@FAST
@given(face_like(), st.integers(0, 8))
def test_prop_mouth_open(case, amount):
    schema, m = case
    m0 = m.copy()
    lip = schema.index("l_lip")
    box = me.part_box(m, lip)
    if box is None:
        with pytest.raises(LabelError, match="no lower lip"):
            me.mouth_open(m, schema, amount)
        return
    out = me.mouth_open(m, schema, amount)
    check_output(out, m, schema)
    assert np.array_equal(m, m0)
    changed = me.changed_region(m, out)
    allowed = box_mask((box[0], box[1] + amount, 0, m.shape[1] - 1), m.shape)
    allowed &= (m == lip).any(0)[None, :]
    assert not (changed & ~allowed).any()
    assert np.isin(m[changed], schema.ids(("skin", "mouth", "l_lip"))).all()
    assert np.isin(out[changed], schema.ids(("mouth", "l_lip"))).all()


@FAST
@given(face_like(), st.integers(0, 3), st.sampled_from(PARTS))
def test_prop_dilate_and_replace(case, radius, name):
    schema, m = case
    m0 = m.copy()
    out = me.dilate_class(m, schema, name, radius, into=("skin", "background"))
    check_output(out, m, schema)
    assert np.array_equal(m, m0)
    changed = me.changed_region(m, out)
    assert np.isin(m[changed], schema.ids(("skin", "background"))).all()
    assert (out[changed] == schema.index(name)).all()
    src = np.argwhere(m == schema.index(name))
    for p in np.argwhere(changed):  # every new pixel lies within radius of the class
        assert ((src - p) ** 2).sum(1).min() <= radius * radius

    out = me.replace_class(m, schema, name, "skin", region=(2, 5, 1, 30))
    changed = me.changed_region(m, out)
    assert not (changed & ~box_mask((2, 5, 1, 30), m.shape)).any()
    assert (m[changed] == schema.index(name)).all()


def test_every_builtin_schema_is_covered():
    assert {s.name for s in SCHEMAS} == set(BUILTIN_SCHEMAS)


def test_swap_eyes_over_glasses():
    schema = get_schema("mgpe-12-glasses")
    glasses = (26, 32, 17, 46)
    boxes = {**FACE, "eye_g": glasses, "l_eye": FACE["l_eye"], "r_eye": FACE["r_eye"]}
    boxes = {k: boxes[k] for k in ("hair", "skin", "eye_g", "l_eye", "r_eye", "l_brow",
                                   "r_brow", "nose", "u_lip", "l_lip")}
    photo = draw(schema, boxes)
    ref = face(schema, l_eye=(27, 31, 18, 27), r_eye=(27, 31, 36, 45))
    out = swap_op.swap_eyes(photo, ref, schema)
    assert me.part_box(out, schema.index("l_eye")) == (27, 31, 19, 28)  # pasted over the glasses
    assert me.part_box(out, schema.index("r_eye")) == (27, 31, 35, 44)
    changed = me.changed_region(photo, out)
    assert np.isin(photo[changed], schema.ids(("skin", "eye_g", "l_eye", "r_eye"))).all()
