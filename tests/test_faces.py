"""The real-photo pipeline's library (mgpe_core.faces): framings, alignment, paste-back, face
finding on a real photo (skimage's astronaut) and on built-in samples placed at known rotations,
scales and shifts, EXIF orientation, the landmark parser and `mgpe faces`.

Tests that need MediaPipe (the ``photos`` extra) skip without it, except under CI=true, where
a missing extra is a failure: CI installs every extra its tests use."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mgpe_core.errors import MgpeError, UsageError
from mgpe_core.faces import scenes
from mgpe_core.faces.align import Aligned, align_face, similarity_transform
from mgpe_core.faces.framing import (
    CELEBA_HQ,
    MGPE_SYNTH,
    Framing,
    framing_for,
    mask_points,
    measure_sample_framing,
)
from mgpe_core.faces.paste import paste_back
from mgpe_core.faces.warp import apply, warp_affine
from mgpe_core.samples import load_sample


class _Points:
    """A face given by its three points (what align_face reads)."""

    def __init__(self, points):
        self.eyes, self.mouth = np.asarray(points[:2]), np.asarray(points[2])


# -- framings --------------------------------------------------------------------------------------


def test_mgpe_synth_framing_is_measured_from_the_samples():
    measured = measure_sample_framing()
    assert np.allclose(measured.points(1), MGPE_SYNTH.points(1), atol=2e-4)
    raw = measure_sample_framing(symmetric=False)  # symmetrising moved nothing far
    assert np.allclose(raw.points(1), MGPE_SYNTH.points(1), atol=0.01)
    # the mouth is the corners' midpoint: the lips' centroid lies lower (open mouths)
    assert measure_sample_framing(mouth="centroid").mouth[1] > MGPE_SYNTH.mouth[1] + 0.005


def test_celeba_hq_framing_follows_the_published_alignment():
    """Karras et al.'s recipe on a face whose eye-to-mouth / eye-to-eye ratio is 1/0.9 (where
    both terms of the side agree): the eyes and mouth land on CELEBA_HQ's points."""
    le, re_ = np.array([400.0, 300.0]), np.array([480.0, 300.0])
    mouth = np.array([440.0, 300.0 + 80.0 / 0.9])
    eye_avg = (le + re_) / 2
    eye_to_eye, eye_to_mouth = re_ - le, mouth - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    c = eye_avg + eye_to_mouth * 0.1
    side = 2 * np.hypot(*x)
    top_left = c - side / 2
    got = [(p - top_left) / side for p in (le, re_, mouth)]
    assert np.allclose(got, CELEBA_HQ.points(1), atol=1e-4)


def test_framing_for_reads_a_model_config_defensively():
    from mgpe_core.registry import find_model, read_model_config

    assert framing_for(None) is MGPE_SYNTH
    builtin = read_model_config(find_model("mgpe-synth-128").path)
    assert framing_for(builtin) is MGPE_SYNTH  # no framing entry: trained on mgpe-synth
    assert framing_for({"framing": "celeba-hq"}) is CELEBA_HQ
    custom = {"eyes": [[0.3, 0.4], [0.7, 0.4]], "mouth": [0.5, 0.8]}
    got = framing_for({"config": {"model": {"resolution": 256, "framing": custom}}})
    assert got.to_dict() == custom

    class Typed:
        framing = "celeba-hq"
    assert framing_for(Typed()) is CELEBA_HQ
    from mgpe_core.model.config import MgpeConfig  # the typed config's model.framing

    assert framing_for(MgpeConfig.from_dict({"model": {"framing": "celeba-hq"}})) is CELEBA_HQ
    assert framing_for(MgpeConfig.from_dict({})) is MGPE_SYNTH
    with pytest.raises(UsageError, match="celeba-hq"):
        framing_for({"framing": "celeba"})
    with pytest.raises(MgpeError, match="eyes"):
        framing_for({"framing": {"eyes": [[0.3, 0.4]], "mouth": [0.5]}})
    with pytest.raises(MgpeError, match="image-left"):
        Framing(((0.7, 0.4), (0.3, 0.4)), (0.5, 0.8))


# -- geometry without a detector -------------------------------------------------------------------


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (3, 2))
    th, s, t = math.radians(23), 1.7, np.array([12.0, -5.0])
    rot = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    m = similarity_transform(src, src @ rot.T + t)
    assert np.allclose(m, np.hstack([rot, t[:, None]]), atol=1e-9)
    # mirrored targets: still a rotation (determinant > 0), never a reflection
    m = similarity_transform(src, src * [-1, 1])
    assert np.linalg.det(m[:, :2]) > 0


def test_warp_identity_and_integer_shift_are_exact():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    same = warp_affine(img, np.array([[1.0, 0, 0], [0, 1.0, 0]]), (40, 50))
    assert np.array_equal(same, img)
    shifted = warp_affine(img, np.array([[1.0, 0, 3], [0, 1.0, -2]]), (40, 50))
    assert np.array_equal(shifted[0:38, 3:50], img[2:40, 0:47])


def test_shrinking_a_lot_is_antialiased():
    """A 1-px checkerboard shrunk 8x: antialiased it is a flat gray, point-sampled it aliases."""
    board = ((np.indices((800, 800)).sum(0) % 2) * 255).astype(np.uint8)
    board = np.repeat(board[..., None], 3, axis=2)
    m = np.array([[0.125, 0.0, 0.3], [0.0, 0.125, 0.7]])
    good = warp_affine(board, m, (90, 90)).astype(float)
    bad = warp_affine(board, m, (90, 90), antialias=False).astype(float)
    assert abs(good.mean() - 127.5) < 3 and good.std() < 3
    assert bad.std() > 20


def _placed(index=3, hw=(600, 800), centre=(420.0, 300.0), scale=1.3, angle=20.0):
    image, labels = load_sample(index)
    canvas = scenes.background(hw, seed=index)
    points = scenes.place_face(canvas, image, labels, centre, scale, angle)
    return canvas, points


def test_align_face_puts_the_points_on_the_framing():
    canvas, points = _placed()
    aligned = align_face(canvas, _Points(points), 128, MGPE_SYNTH)
    assert isinstance(aligned, Aligned) and aligned.image.shape == (128, 128, 3)
    moved = aligned.to_crop(points)
    # a similarity cannot fit three points exactly: the residual is the face's own proportions
    assert np.abs(moved - np.asarray(MGPE_SYNTH.points(128))).max() < 4.0
    assert aligned.residual < 3.0
    assert np.allclose(aligned.to_photo(moved), points, atol=1e-9)
    assert not aligned.outside.any()  # the face is well inside the photo
    assert abs(abs(aligned.rotation_degrees) - 20) < 3  # the placement's roll is undone
    # the crop is the sample itself, uprighted and rescaled: compare with the sample's own
    # alignment (same framing) away from the tile's edges
    image, labels = load_sample(3)
    own = align_face(image, _Points(mask_points(labels)), 128, MGPE_SYNTH)
    diff = np.abs(own.image.astype(int) - aligned.image.astype(int))[20:108, 20:108]
    assert diff.mean() < 6


def test_align_face_near_the_border_pads_and_flags_outside():
    canvas, points = _placed(centre=(60.0, 300.0), scale=1.0, angle=0.0)
    aligned = align_face(canvas, _Points(points), 128, MGPE_SYNTH)
    out = aligned.outside
    assert out.any() and not out.all()
    # flagged pixels are exactly those whose centre maps beyond the photo's left edge
    yy, xx = np.mgrid[0:128, 0:128] + 0.5
    px = apply(aligned.inverse, np.stack([xx.ravel(), yy.ravel()], 1))
    assert np.array_equal(out.ravel(), (px[:, 0] < 0) | (px[:, 0] >= 800) | (px[:, 1] < 0)
                          | (px[:, 1] >= 600))
    with pytest.raises(UsageError, match="pad"):
        align_face(canvas, _Points(points), 128, MGPE_SYNTH, pad="wrap")


def _edited(aligned):
    crop = aligned.image.copy()
    region = np.zeros((aligned.size, aligned.size), bool)
    region[80:100, 40:90] = True  # about the mouth at 128 px
    crop[region] = 255 - crop[region]
    return crop, region


@pytest.mark.parametrize("scale", [0.6, 1.3, 4.0])
def test_paste_back_changes_only_the_feathered_region(scale):
    canvas, points = _placed(scale=scale, hw=(700, 900) if scale < 4 else (1400, 1800),
                             centre=(450.0, 350.0) if scale < 4 else (900.0, 700.0))
    aligned = align_face(canvas, _Points(points), 128, MGPE_SYNTH)
    crop, region = _edited(aligned)
    out = paste_back(canvas, aligned, crop, region)
    assert out.shape == canvas.shape and out.dtype == np.uint8
    changed = np.any(out != canvas, axis=2)
    assert changed.sum() > 0.5 * region.sum() * min(1.0, 1 / aligned.scale ** 2)
    # every changed photo pixel maps into the region grown by the feather's reach (2 * 2 px
    # at 128 px) plus two pixels of bilinear support and rounding
    from mgpe_core.morphology import dilate, erode

    reach = dilate(region, 2 * 2 + 2)
    ys, xs = np.nonzero(changed)
    c = np.floor(aligned.to_crop(np.stack([xs + 0.5, ys + 0.5], 1))).astype(int)
    inside = (c >= 0).all(1) & (c < 128).all(1)
    assert inside.all() and reach[c[:, 1], c[:, 0]].all()  # elsewhere: bit-identical
    # inside the region the edit shows: those photo pixels moved toward the inverted crop
    core = erode(region, 3)
    ys, xs = np.nonzero(core)
    centre = aligned.to_photo(np.stack([xs + 0.5, ys + 0.5], 1)).astype(int)
    before = canvas[centre[:, 1], centre[:, 0]].astype(int)
    after = out[centre[:, 1], centre[:, 0]].astype(int)
    assert np.abs(after - (255 - before)).mean() < np.abs(after - before).mean()


def test_paste_back_of_the_unedited_crop_is_nearly_invisible():
    canvas, points = _placed()
    aligned = align_face(canvas, _Points(points), 256, MGPE_SYNTH)
    out = paste_back(canvas, aligned, aligned.image, np.ones((256, 256), bool))
    changed = np.any(out != canvas, axis=2)
    assert changed.sum() > 10000  # the whole crop's footprint was blended ...
    assert np.abs(out.astype(int) - canvas.astype(int))[changed].mean() < 4  # ... invisibly


def test_paste_back_refuses_mismatched_inputs():
    canvas, points = _placed()
    aligned = align_face(canvas, _Points(points), 128, MGPE_SYNTH)
    crop, region = _edited(aligned)
    with pytest.raises(UsageError, match="photo"):
        paste_back(canvas[:, :-1], aligned, crop, region)
    with pytest.raises(UsageError, match="edited crop"):
        paste_back(canvas, aligned, crop[:64], region)
    with pytest.raises(UsageError, match="region_mask"):
        paste_back(canvas, aligned, crop, region[:64])
    assert np.array_equal(paste_back(canvas, aligned, crop, np.zeros_like(region)), canvas)


# -- the detector ----------------------------------------------------------------------------------


def test_missing_mediapipe_says_which_extra(monkeypatch):
    from mgpe_cli.main import main
    from mgpe_core.faces import detect

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(detect.MissingExtra, match=r"pip install 'mgpe\[photos\]'"):
        detect.find_faces(np.zeros((64, 64, 3), np.uint8))
    assert main(["faces", "sample:0"]) == 2


def test_faces_of_the_astronaut(mp, astronaut):
    from mgpe_core.faces.detect import MESH_POINTS, find_faces

    faces = find_faces(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.8 and f.landmarks.shape == (MESH_POINTS, 2)
    x0, y0, x1, y1 = f.box
    for p in (*f.eyes, f.mouth):
        assert x0 < p[0] < x1 and y0 < p[1] < y1
    assert f.eyes[0][0] < f.eyes[1][0]  # image-left first
    assert f.mouth[1] > f.eyes.mean(0)[1] + 0.6 * f.eye_distance
    assert 30 < f.eye_distance < 60 and abs(f.roll_degrees) < 10
    coarse = find_faces(astronaut, mesh=False)[0]  # the detector's key points only
    assert coarse.landmarks is None
    assert np.abs(coarse.eyes - f.eyes).max() < 0.15 * f.eye_distance


@pytest.mark.parametrize("angle,scale", [(-30, 2.0), (15, 1.2), (30, 0.8)])
def test_the_astronaut_turned_and_scaled_is_found_at_the_same_place(mp, astronaut, angle, scale):
    """The astronaut's eyes, found upright, moved with the placement: where find_faces must
    find them again (eye error after alignment, % of the eye distance)."""
    from mgpe_core.faces.detect import find_faces

    ref = find_faces(astronaut)[0]
    true = np.vstack([ref.eyes, ref.mouth[None]])
    hw = (900, 1200)
    m = scenes.placement(512, (640.0, 430.0), scale, angle)
    canvas = scenes.background(hw, seed=5)
    pixels = warp_affine(astronaut, m, hw, pad="edge")
    cover = warp_affine(np.ones((512, 512), np.float32), m, hw, pad="zero") > 0.5
    canvas[cover] = pixels[cover]
    faces = find_faces(canvas)
    assert len(faces) == 1
    aligned = align_face(canvas, faces[0], 256, MGPE_SYNTH)
    err = scenes.eye_error_after_alignment(apply(m, true), aligned, MGPE_SYNTH)
    assert err.max() < 3.0, err


def test_samples_at_known_poses_are_found_and_aligned(mp):
    """Every built-in sample, rotated (up to 30 degrees), scaled and moved on a larger canvas:
    all found, eye error after alignment under 3 % of the eye distance on average."""
    from mgpe_core.faces.detect import find_faces

    angles = [-30, -20, -10, 0, 10, 20, 30]
    scales = [0.6, 1.0, 1.8]
    rng = np.random.default_rng(7)
    errors, found = [], 0
    for i in range(12):
        angle, scale = angles[i % 7], scales[i % 3]
        hw = (720, 960)
        centre = (rng.uniform(0.3, 0.7) * hw[1], rng.uniform(0.3, 0.7) * hw[0])
        canvas, points = _placed(i, hw, centre, scale, angle)
        faces = find_faces(canvas)
        if not faces:
            continue
        found += 1
        aligned = align_face(canvas, faces[0], 128, MGPE_SYNTH)
        errors += list(scenes.eye_error_after_alignment(points, aligned, MGPE_SYNTH))
    assert found == 12
    assert np.mean(errors) < 3.0 and np.max(errors) < 6.0, errors


def test_two_faces_are_found_largest_first(mp, astronaut):
    from mgpe_core.faces.detect import find_faces

    canvas = scenes.background((700, 1300), seed=2)
    big = scenes.place_face(canvas, *load_sample(2), (380.0, 350.0), 1.8, 8.0)
    small = scenes.place_face(canvas, *load_sample(9), (1000.0, 330.0), 1.0, -12.0)
    faces = find_faces(canvas)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    for face, true in zip(faces, (big, small), strict=True):
        assert np.abs(face.eyes - true[:2]).max() < 0.1 * face.eye_distance
    # a real photo beside a drawn face: both, the larger (astronaut at 1.5x) first
    canvas = scenes.background((800, 1400), seed=4)
    m = scenes.placement(512, (1000.0, 400.0), 1.5, 0.0)
    pixels = warp_affine(astronaut, m, (800, 1400))
    cover = warp_affine(np.ones((512, 512), np.float32), m, (800, 1400), pad="zero") > 0.5
    canvas[cover] = pixels[cover]
    drawn = scenes.place_face(canvas, *load_sample(0), (250.0, 400.0), 0.9, 0.0)
    faces = find_faces(canvas)
    assert len(faces) == 2
    assert faces[0].eyes[0][0] > 700 and faces[1].eyes[0][0] < 400
    assert np.abs(faces[1].eyes - drawn[:2]).max() < 0.1 * faces[1].eye_distance


def test_no_face_gives_an_empty_list(mp):
    from mgpe_core.faces.detect import find_faces

    rng = np.random.default_rng(3)
    assert find_faces(np.full((480, 640, 3), 128, np.uint8)) == []
    assert find_faces(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8), tiles=2) == []
    assert find_faces(scenes.background((720, 960), seed=1)) == []
    with pytest.raises(UsageError, match="RGB"):
        find_faces(np.zeros((10, 10, 4), np.uint8))


def test_exif_rotated_jpeg_is_read_upright(mp, astronaut, tmp_path):
    """A JPEG stored sideways with EXIF orientation 6 ("turn 90 degrees clockwise to view"):
    read_photo gives the upright picture and its face, eyes above mouth."""
    from PIL import Image

    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.photo import exif_orientation, read_photo
    from mgpe_core.io import read_image

    upright = astronaut[:, 40:440]  # 512 x 400: not square, so the shape tells the turn
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # turned 90 degrees anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    assert exif_orientation(path) == 6
    assert read_image(path).shape == upright.shape  # every photo reader turns it upright
    photo = read_photo(path)
    assert photo.shape == upright.shape
    assert np.abs(photo.astype(int) - upright.astype(int)).mean() < 3
    faces = find_faces(photo)
    assert len(faces) == 1
    f = faces[0]
    assert abs(f.roll_degrees) < 15 and f.mouth[1] > f.eyes.mean(0)[1]


# -- the landmark parser ---------------------------------------------------------------------------


def test_landmark_parser_paints_parts_where_the_mesh_puts_them(mp, astronaut):
    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.landmark_parser import parse_landmarks
    from mgpe_core.labels import get_schema

    face = find_faces(astronaut)[0]
    mgpe11, celeba = get_schema("mgpe-11"), get_schema("celebamask-19")
    labels = parse_landmarks(astronaut, face, mgpe11)
    assert labels.shape == astronaut.shape[:2] and labels.dtype == np.uint8

    def at(lab, p):
        return lab[int(p[1]), int(p[0])]

    left, right = face.eyes
    assert at(labels, left) == mgpe11.index("l_eye")  # mgpe-11: l_ is the image's left
    assert at(labels, right) == mgpe11.index("r_eye")
    assert at(labels, face.landmarks[1]) == mgpe11.index("nose")  # mesh point 1: nose tip
    assert at(labels, face.landmarks[0] + (0, 1)) == mgpe11.index("u_lip")
    assert at(labels, face.landmarks[17] - (0, 1)) == mgpe11.index("l_lip")
    cheek = face.landmarks[50]  # mesh point 50: the subject's right cheek
    assert at(labels, cheek) == mgpe11.index("skin")
    above = face.eyes.mean(0) - (0, 1.6 * face.eye_distance)
    assert at(labels, above) == mgpe11.index("hair")
    assert at(labels, (5, 5)) == 0
    for name in ("hair", "skin", "l_brow", "r_brow", "l_lip", "u_lip"):
        assert (labels == mgpe11.index(name)).sum() > 50, name
    # celebamask-19 counts sides from the subject: its l_eye is the image-right eye
    sub = parse_landmarks(astronaut, face, celeba)
    assert at(sub, right) == celeba.index("l_eye") and at(sub, left) == celeba.index("r_eye")
    no_mesh = find_faces(astronaut, mesh=False)[0]
    with pytest.raises(UsageError, match="mesh"):
        parse_landmarks(astronaut, no_mesh, mgpe11)


# -- the command -----------------------------------------------------------------------------------


def test_faces_command(mp, tmp_path, capsys):
    from mgpe_cli.main import main
    from mgpe_core.io import write_image

    canvas = scenes.background((500, 900), seed=6)
    scenes.place_face(canvas, *load_sample(4), (250.0, 250.0), 1.4, 0.0)
    scenes.place_face(canvas, *load_sample(6), (650.0, 260.0), 0.9, 10.0)
    write_image(tmp_path / "two.jpg", canvas)
    assert main(["faces", str(tmp_path / "two.jpg"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in rows] == [0, 1]
    assert rows[0]["eye_distance"] > rows[1]["eye_distance"]
    assert rows[0]["box"][0] < 450 < rows[1]["box"][0]
    assert main(["faces", str(tmp_path / "two.jpg")]) == 0
    out = capsys.readouterr().out
    assert "2 face(s)" in out and "eye distance" in out
    write_image(tmp_path / "flat.png", np.full((200, 300, 3), 90, np.uint8))
    assert main(["faces", str(tmp_path / "flat.png")]) == 1
    assert "no face found" in capsys.readouterr().err
    assert main(["faces", str(tmp_path / "missing.png")]) == 1


def test_faces_help_imports_neither_torch_nor_mediapipe():
    code = ("import sys; from mgpe_cli.main import main; rc = main(['faces', '--help']); "
            "print(sorted(m for m in ('torch', 'mediapipe', 'numpy') if m in sys.modules), rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "[] 0", proc.stdout + proc.stderr
