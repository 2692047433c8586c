"""mgpe-synth: procedural portraits with exact CelebAMask-HQ labels."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mgpe_core.errors import MgpeError
from mgpe_core.labels import CELEBAMASK_CLASSES, merge_parts, other_side
from mgpe_core.synth import render_face, render_scene, sample_attributes, write_dataset
from mgpe_core.synth.writer import face_attributes, face_rng

ALWAYS = {"skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "u_lip",
          "l_lip", "neck", "cloth"}
ATTRIBUTE_NAMES = ["skin_tone", "hair_color", "hair_color_name", "hair_style", "iris_color",
                   "iris_color_name", "brow_shape", "lip_color", "mouth_state", "beard",
                   "glasses", "earrings", "background", "pose", "lighting"]


def expected_parts(attrs: dict) -> set[str]:
    parts = set(ALWAYS)
    if attrs["hair_style"] != "bald":
        parts.add("hair")
    if attrs["glasses"]:
        parts.add("eye_g")
    if attrs["mouth_state"] != "closed":
        parts.add("mouth")
    if attrs["earrings"]:
        parts.add("ear_r")
    return parts


def find_face(seed: int, want, limit: int = 400) -> dict:
    """The first face (attributes only: cheap) of ``seed`` for which ``want(attrs)`` holds."""
    for k in range(limit):
        attrs = face_attributes(seed, k)
        if want(attrs):
            return attrs
    raise AssertionError("no such face in the first ids")


def folder_bytes(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean() + 0.5, xs.mean() + 0.5]) / mask.shape[0]


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tmp_path):
    a = write_dataset(tmp_path / "a", count=5, size=64, seed=3, workers=1)
    write_dataset(tmp_path / "b", count=5, size=64, seed=3, workers=1)
    done = []
    write_dataset(tmp_path / "c", count=5, size=64, seed=3, workers=2, chunk=2,
                  progress=done.append)
    fa, fb, fc = (folder_bytes(tmp_path / d) for d in "abc")
    assert len(fa) > 5 * 10
    assert fa == fb
    assert fa == fc
    assert sum(done) == 5 and len(done) == 3  # chunks of 2, 2, 1
    assert a["count"] == 5 and a["faces_per_second"] > 0


def test_different_seeds_and_ids_differ():
    base = render_face(face_attributes(0, 0), 64)[0]
    assert not np.array_equal(base, render_face(face_attributes(1, 0), 64)[0])
    assert not np.array_equal(base, render_face(face_attributes(0, 1), 64)[0])
    assert face_attributes(0, 5) == sample_attributes(face_rng(0, 5))


def test_attributes_round_trip_through_json_render_identically():
    attrs = face_attributes(4, 2)
    again = json.loads(json.dumps(attrs))
    im1, p1 = render_face(attrs, 96)
    im2, p2 = render_face(again, 96)
    assert np.array_equal(im1, im2)
    assert p1.keys() == p2.keys() and all(np.array_equal(p1[k], p2[k]) for k in p1)


# -- sizes and geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128, 257, 512])
def test_sizes(size):
    attrs = face_attributes(2, 3)
    image, parts = render_face(attrs, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    assert parts and all(m.shape == (size, size) and m.dtype == bool for m in parts.values())
    assert set(parts) <= set(CELEBAMASK_CLASSES[1:])
    assert all(m.any() for m in parts.values())  # absent parts are left out, not empty


def test_same_face_at_two_sizes_has_the_same_layout():
    attrs = face_attributes(5, 1)
    small = render_face(attrs, 128)[1]
    large = render_face(attrs, 256)[1]
    assert small.keys() == large.keys()
    for name in ("l_eye", "r_eye", "nose", "u_lip", "skin"):
        assert np.abs(centroid(small[name]) - centroid(large[name])).max() < 1.5 / 128, name
    frac_small = np.mean(merge_parts(small, (128, 128)) == 1)
    frac_large = np.mean(merge_parts(large, (256, 256)) == 1)
    assert abs(frac_small - frac_large) < 0.01


def test_components_sit_where_aligned_crops_expect_them():
    """At 256 px, eyes fit 32x48 windows and the mouth fits 80x144, around their centres."""
    for k in range(12):
        attrs = face_attributes(9, k)
        parts = render_face(attrs, 256)[1]
        for names, (h, w) in ((["l_eye"], (32, 48)), (["r_eye"], (32, 48)),
                              (["u_lip", "l_lip", "mouth"], (80, 144))):
            m = np.zeros((256, 256), bool)
            for n in names:
                m |= parts.get(n, False)
            ys, xs = np.nonzero(m)
            cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
            assert ys.max() + 1 - ys.min() <= h - 8 and xs.max() + 1 - xs.min() <= w - 8
            assert 0.4 < cy / 256 < 0.8 and 0.25 < cx / 256 < 0.75
        eye_y = (centroid(parts["l_eye"])[0] + centroid(parts["r_eye"])[0]) / 2
        mouth_y = centroid(parts["u_lip"] | parts["l_lip"])[0]
        assert 0.40 < eye_y < 0.55 and 0.64 < mouth_y < 0.80
        face_h = np.nonzero(np.any(parts["skin"], axis=1))[0]
        assert 0.5 < (face_h.max() - face_h.min()) / 256 < 0.75
        # Image-left / image-right.
        assert centroid(parts["l_eye"])[1] < 0.5 < centroid(parts["r_eye"])[1]
        assert centroid(parts["l_brow"])[1] < 0.5 < centroid(parts["r_brow"])[1]
        assert centroid(parts["l_ear"])[1] < 0.5 < centroid(parts["r_ear"])[1]


# -- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_parts_equal_the_painters_top_layer(seed):
    for k in range(8):
        scene = render_scene(face_attributes(seed, k), 128)
        merged = merge_parts(scene.parts, (128, 128))
        assert np.array_equal(merged, scene.top), (seed, k)


def test_long_hair_in_front_of_the_neck_is_cut_out_of_the_neck_mask():
    attrs = find_face(0, lambda a: a["hair_style"] == "long")
    scene = render_scene(attrs, 256)
    hair_on_top = scene.top == CELEBAMASK_CLASSES.index("hair")
    assert not (scene.parts["neck"] & hair_on_top).any()
    # Locks cover part of the neck shape: without the cut, the merge would say neck there.
    bare_neck = render_scene(dict(attrs, hair_style="bald"), 256).parts["neck"]
    assert (bare_neck & hair_on_top).sum() > 20
    assert np.array_equal(merge_parts(scene.parts, (256, 256)), scene.top)


def test_glasses_lenses_show_the_eyes_frames_hide_them():
    attrs = find_face(1, lambda a: a["glasses"])
    scene = render_scene(attrs, 256)
    merged = merge_parts(scene.parts, (256, 256))
    eye_g = CELEBAMASK_CLASSES.index("eye_g")
    assert (merged == eye_g).sum() > 200
    # The eyes stay visible through clear lenses (the eye_g part covers them too).
    for name in ("l_eye", "r_eye"):
        assert (scene.parts[name] & scene.parts["eye_g"]).sum() > 0.8 * scene.parts[name].sum()
    # Glasses change only pixels near the eyes; parts far away are untouched.
    plain = render_scene(dict(attrs, glasses=False), 256)
    assert np.array_equal(plain.parts["u_lip"], scene.parts["u_lip"])
    assert "eye_g" not in plain.parts


def test_labels_agree_with_the_picture():
    """Background pixels have the background colour; eye pixels are lighter than the skin."""
    attrs = find_face(3, lambda a: a["background"]["kind"] == "solid")
    image, parts = render_face(attrs, 128)
    merged = merge_parts(parts, (128, 128))
    bg = image[merged == 0].astype(float)
    assert np.abs(bg - attrs["background"]["colors"][0]).max(axis=1).mean() < 12
    skin = image[merged == 1].astype(float).mean(0)
    assert skin.sum() > image[merged == CELEBAMASK_CLASSES.index("u_lip")].mean(0).sum() * 0.9
    assert np.abs(skin - attrs["skin_tone"]).max() < 45


# -- attribute effects ------------------------------------------------------------------------


def test_attribute_effects_are_visible():
    bald = find_face(0, lambda a: a["hair_style"] == "bald")
    assert "hair" not in render_face(bald, 96)[1]
    hairy = find_face(0, lambda a: a["hair_style"] != "bald" and not a["glasses"])
    assert "hair" in render_face(hairy, 96)[1]
    assert "eye_g" not in render_face(hairy, 96)[1]
    assert "eye_g" in render_face(find_face(0, lambda a: a["glasses"]), 96)[1]
    assert "mouth" in render_face(find_face(0, lambda a: a["mouth_state"] == "open"), 96)[1]
    assert "mouth" not in render_face(find_face(0, lambda a: a["mouth_state"] == "closed"), 96)[1]
    assert "ear_r" in render_face(find_face(0, lambda a: a["earrings"]), 96)[1]
    open_mouth = render_face(find_face(0, lambda a: a["mouth_state"] == "open"), 128)[1]
    smile = render_face(find_face(0, lambda a: a["mouth_state"] == "smile"), 128)[1]
    assert open_mouth["mouth"].sum() > 2 * smile["mouth"].sum()


def test_hair_colour_matches_the_recorded_one():
    for k in range(6):
        attrs = find_face(k, lambda a: a["hair_style"] != "bald")
        image, parts = render_face(attrs, 128)
        mean = image[parts["hair"]].astype(float).mean(0)
        assert np.abs(mean - attrs["hair_color"]).max() < 45, (k, attrs["hair_color_name"])


def test_beard_darkens_the_lower_face_but_stays_skin():
    attrs = find_face(0, lambda a: a["beard"] and a["beard_density"] > 0.6)
    with_beard = render_scene(attrs, 128)
    without = render_scene(dict(attrs, beard=False), 128)
    assert with_beard.parts.keys() == without.parts.keys()
    assert all(np.array_equal(with_beard.parts[k], without.parts[k]) for k in without.parts)
    chin = with_beard.parts["skin"].copy()
    chin[: int(0.78 * 128)] = False
    assert chin.sum() > 50
    dark = with_beard.image[chin].astype(float).mean()
    assert dark < without.image[chin].astype(float).mean() - 5
    eye_rows = without.image[: int(0.45 * 128)]
    assert np.array_equal(eye_rows, with_beard.image[: int(0.45 * 128)])


def test_lipstick_is_opt_in_and_changes_only_the_lips(tmp_path):
    from mgpe_core.metrics.image_metrics import dilate
    from mgpe_core.synth.attributes import LIPSTICK_SHADES

    plain = [face_attributes(7, k) for k in range(300)]
    assert all("lipstick" not in a for a in plain)  # the default draws nothing: as before
    assert [face_attributes(7, k, 0.0) for k in range(5)] == plain[:5]
    painted = [face_attributes(7, k, 0.5) for k in range(300)]
    worn = [a["lipstick"] for a in painted]
    assert 0.4 < np.mean([w is not None for w in worn]) < 0.6
    assert {w for w in worn if w} == set(LIPSTICK_SHADES)
    for a, b in zip(plain, painted, strict=True):
        # everything but the lips is the same face
        assert {k: v for k, v in a.items() if k != "lip_color"} == {
            k: v for k, v in b.items() if k not in ("lip_color", "lipstick")}
        assert (a["lip_color"] == b["lip_color"]) == (b["lipstick"] is None)

    # lip colour no longer follows the skin tone: R^2 of a linear fit from skin to lips
    def r2(faces):
        skin = np.array([f["skin_tone"] for f in faces], float)
        lips = np.array([f["lip_color"] for f in faces], float)
        x = np.c_[skin, np.ones(len(skin))]
        resid = lips - x @ np.linalg.lstsq(x, lips, rcond=None)[0]
        return 1 - (resid ** 2).sum() / ((lips - lips.mean(0)) ** 2).sum()
    assert r2(plain) > 0.8 and r2([face_attributes(7, k, 1.0) for k in range(300)]) < 0.3

    # rendered: the lips take the shade, the rest of the picture is unchanged
    k = next(i for i, w in enumerate(worn) if w == "plum")
    before, parts = render_face(plain[k], 128)
    after, parts_after = render_face(painted[k], 128)
    lips = parts["u_lip"] | parts["l_lip"]
    assert all(np.array_equal(parts[n], parts_after[n]) for n in parts)
    near = dilate(lips, 3)  # the lips and the anti-aliased pixels around them
    assert np.array_equal(before[~near], after[~near])
    assert np.abs(after[lips].astype(float).mean(0) - before[lips].astype(float).mean(0)).max() > 20

    out = tmp_path / "faces"
    write_dataset(out, count=2, size=64, seed=7, lipstick=0.5)
    settings_written = json.loads((out / "synth.json").read_text())
    assert settings_written["lipstick"] == 0.5
    recs = [json.loads(line) for line in (out / "attributes.jsonl").read_text().splitlines()]
    assert [r["lipstick"] for r in recs] == worn[:2]
    with pytest.raises(MgpeError, match="made with lipstick 0.5, not 0.0"):
        write_dataset(out, count=1, size=64, seed=7, start=2)
    with pytest.raises(MgpeError, match="between 0 and 1"):
        write_dataset(tmp_path / "x", count=1, size=64, seed=0, lipstick=1.5)


def test_sampled_attributes_cover_every_value():
    rng = np.random.default_rng(0)
    draws = [sample_attributes(rng) for _ in range(400)]
    assert {d["hair_style"] for d in draws} == {"short", "long", "bangs", "bald"}
    assert {d["mouth_state"] for d in draws} == {"closed", "smile", "open"}
    assert {d["brow_shape"] for d in draws} == {"straight", "arched", "angled"}
    assert {d["iris_color_name"] for d in draws} == {"brown", "blue", "green", "gray"}
    assert {d["hair_color_name"] for d in draws} == {"black", "brown", "blond", "red", "gray"}
    assert {d["background"]["kind"] for d in draws} == {"solid", "gradient"}
    assert 0.15 < np.mean([d["beard"] for d in draws]) < 0.35
    assert 0.1 < np.mean([d["glasses"] for d in draws]) < 0.3
    assert 0.02 < np.mean([d["hair_style"] == "bald" for d in draws]) < 0.15
    assert all(abs(d["pose"]["rotation"]) <= 8 and 0.9 <= d["pose"]["scale"] <= 1.1
               for d in draws)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(0, 100_000))
def test_property_every_expected_part_is_present_and_labels_are_valid(seed, k):
    attrs = face_attributes(seed, k)
    scene = render_scene(attrs, 128)
    assert set(scene.parts) == expected_parts(attrs)
    merged = merge_parts(scene.parts, (128, 128))
    assert merged.max() <= 18
    assert np.array_equal(merged, scene.top)


# -- the dataset on disk -----------------------------------------------------------------------


def test_celebamask_layout_on_disk(tmp_path):
    out = tmp_path / "faces"
    summary = write_dataset(out, count=3, size=64, seed=1, start=1999, image_format="png")
    assert summary["count"] == 3 and summary["size"] == 64
    for k in (1999, 2000, 2001):
        img = Image.open(out / "CelebA-HQ-img" / f"{k}.png")
        assert img.size == (64, 64) and img.mode == "RGB"
    records = [json.loads(line) for line in (out / "attributes.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [1999, 2000, 2001]
    for rec in records:
        k = rec["id"]
        assert all(name in rec for name in ATTRIBUTE_NAMES)
        assert rec["seed"]["seed"] == 1 and rec["seed"]["index"] == k
        assert {"shift_x", "shift_y", "scale", "rotation"} <= set(rec["pose"])
        assert {"angle", "strength"} <= set(rec["lighting"])
        sub = out / "CelebAMask-HQ-mask-anno" / str(k // 2000)
        files = sorted(p.name for p in sub.glob(f"{k:05d}_*.png"))
        assert files == sorted(f"{k:05d}_{name}.png" for name in rec["parts"])
        assert set(rec["parts"]) == expected_parts(rec)
        for name in rec["parts"]:
            m = Image.open(sub / f"{k:05d}_{name}.png")
            assert m.mode == "L" and m.size == (64, 64)
            values = set(np.unique(np.asarray(m)).tolist())
            assert values <= {0, 255} and 255 in values
        # The files hold exactly what the renderer makes, its image-sided names turned into the
        # dataset's (l_eye = the subject's left, on the image's right).
        _, parts = render_face(face_attributes(1, k), 64)
        for name, mask in parts.items():
            on_disk = sub / f"{k:05d}_{other_side(name)}.png"
            assert np.array_equal(np.asarray(Image.open(on_disk)) > 0, mask)
        for name in ("l_eye", "l_brow", "l_ear"):  # by geometry, not by id
            if name in rec["parts"]:
                xs = np.nonzero(np.asarray(Image.open(sub / f"{k:05d}_{name}.png")))[1]
                assert xs.mean() > 32, f"{name} should lie on the image's right"
    meta = json.loads((out / "synth.json").read_text())
    assert meta["generator"] == "mgpe-synth" and meta["count"] == 3 and meta["size"] == 64
    assert meta["seed"] == 1 and meta["image_format"] == "png" and "version" in meta
    assert meta["sides"] == "subject"
    assert not list(out.rglob("*.tmp"))


def test_extending_and_rewriting_a_folder(tmp_path):
    out = tmp_path / "faces"
    write_dataset(out, count=2, size=64, seed=0)
    write_dataset(out, count=2, size=64, seed=0, start=2)
    ids = [json.loads(line)["id"] for line in (out / "attributes.jsonl").read_text().splitlines()]
    assert ids == [0, 1, 2, 3]
    assert json.loads((out / "synth.json").read_text())["count"] == 4
    assert sorted(p.name for p in (out / "CelebA-HQ-img").iterdir()) == [
        "0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    # Re-render face 0 with another seed: no part file of the old face may survive.
    write_dataset(out, count=1, size=64, seed=99, start=0, image_format="png")
    rec = json.loads((out / "attributes.jsonl").read_text().splitlines()[0])
    assert rec["seed"]["seed"] == 99
    names = sorted(p.name for p in (out / "CelebAMask-HQ-mask-anno" / "0").glob("00000_*"))
    assert names == sorted(f"00000_{n}.png" for n in rec["parts"])
    assert not (out / "CelebA-HQ-img" / "0.jpg").exists()
    with pytest.raises(MgpeError, match="px"):
        write_dataset(out, count=1, size=96, seed=0)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(MgpeError, match="format"):
        write_dataset(tmp_path, count=1, size=64, seed=0, image_format="gif")
    with pytest.raises(MgpeError, match="size"):
        write_dataset(tmp_path, count=1, size=4, seed=0)


def test_import_is_cheap():
    code = ("import sys, mgpe_core.synth; "
            "print(sorted(m for m in ('torch', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
