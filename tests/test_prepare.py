"""`mgpe data prepare` / `mgpe data check` on small folders in the exact CelebAMask-HQ layout."""

import json
import sys

import numpy as np
import pytest
from PIL import Image

from mgpe_cli.main import main
from mgpe_core import process_pool
from mgpe_core.data.check import check_prepared
from mgpe_core.data.mask_png import nearest_indices
from mgpe_core.data.prepare import (
    merge_parts_resized,
    prepare_dataset,
    split_ids,
)
from mgpe_core.errors import MgpeError
from mgpe_core.io import read_image, read_label_map
from mgpe_core.labels import CELEBAMASK_CLASSES, convert, get_schema, merge_parts, other_side

PART_BOXES = {  # (y0, y1, x0, x1) as fractions: a crude face, enough to exercise the merge
    "skin": (0.2, 0.9, 0.25, 0.75), "hair": (0.05, 0.35, 0.2, 0.8),
    "l_eye": (0.45, 0.52, 0.33, 0.43), "r_eye": (0.45, 0.52, 0.57, 0.67),
    "nose": (0.5, 0.65, 0.45, 0.55), "u_lip": (0.7, 0.74, 0.4, 0.6),
    "l_lip": (0.74, 0.78, 0.4, 0.6), "neck": (0.85, 1.0, 0.4, 0.6), "cloth": (0.93, 1.0, 0.1, 0.9),
}


def make_layout(root, ids, img_size=96, mask_size=48, skip_part=None):
    """Write photos (JPEG, img_size) and part masks (mask_size) for the given ids."""
    (root / "CelebA-HQ-img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in ids:
        sub = root / "CelebAMask-HQ-mask-anno" / str(k // 2000)
        sub.mkdir(parents=True, exist_ok=True)
        shift = (k % 5) * 0.01
        for name, (y0, y1, x0, x1) in PART_BOXES.items():
            if name == skip_part:
                continue
            m = np.zeros((mask_size, mask_size), np.uint8)
            m[int((y0 + shift) * mask_size):int((y1 + shift) * mask_size),
              int(x0 * mask_size):int(x1 * mask_size)] = 255
            Image.fromarray(m).save(sub / f"{k:05d}_{name}.png")
        photo = rng.integers(0, 255, (img_size, img_size, 3), dtype=np.uint8)
        Image.fromarray(photo).save(root / "CelebA-HQ-img" / f"{k}.jpg", quality=90)


def reference_labels(root, k, size, schema):
    """The straightforward way: merge at mask resolution, then PIL nearest resize."""
    sub = root / "CelebAMask-HQ-mask-anno" / str(k // 2000)
    parts = {}
    for name in CELEBAMASK_CLASSES[1:]:
        p = sub / f"{k:05d}_{name}.png"
        if p.exists():
            parts[name] = np.asarray(Image.open(p).convert("L")) > 127
    merged = merge_parts(parts, next(iter(parts.values())).shape)
    resized = np.asarray(Image.fromarray(merged).resize((size, size), Image.Resampling.NEAREST))
    return convert(resized, get_schema("celebamask-19"), get_schema(schema))


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "celeba"
    make_layout(root, range(0, 6))
    make_layout(root, [2001])  # second mask sub-folder
    return root


def test_prepare_writes_folder_matching_reference_merge(source, tmp_path):
    out = tmp_path / "prep"
    summary = prepare_dataset(source, out, size=32, schema="mgpe-11")
    assert summary["prepared"] == 7 and not summary["skipped"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"]["name"] == "mgpe-11" and manifest["size"] == 32
    assert manifest["splits"] == {"train": 6, "test": 1}
    for k in (0, 3, 2001):
        labels, schema = read_label_map(out / "labels" / f"{k:05d}.png")
        assert schema.name == "mgpe-11"
        assert np.array_equal(labels, reference_labels(source, k, 32, "mgpe-11"))
        assert read_image(out / "images" / f"{k:05d}.png").shape == (32, 32, 3)
    assert (out / "splits" / "test.txt").read_text() == "2001\n"


def test_nearest_indices_match_pil():
    for src, dst in [(512, 256), (48, 32), (30, 64), (7, 3)]:
        ramp = np.arange(src, dtype=np.int32)[None]  # mode "I": no wrap-around
        pil = np.asarray(Image.fromarray(ramp).resize((dst, 1), Image.Resampling.NEAREST))[0]
        assert np.array_equal(ramp[0, nearest_indices(src, dst)], pil), (src, dst)


def test_merge_parts_resized_samples_nearest_indices_at_every_size(source):
    """Also at sizes where PIL's fixed-point nearest resize differs at exact ties (48 -> 9,
    30, 40 px), the labels follow nearest_indices: they equal merging at mask resolution and
    sampling those pixels."""
    sub = source / "CelebAMask-HQ-mask-anno" / "0"
    parts = {n: sub / f"00001_{n}.png" for n in PART_BOXES}
    masks = {n: np.asarray(Image.open(p)) > 127 for n, p in parts.items()}
    merged = merge_parts(masks, (48, 48))
    for size in (9, 16, 30, 32, 40, 48, 64, 96):
        idx = nearest_indices(48, size)
        assert np.array_equal(merge_parts_resized(parts, size), merged[np.ix_(idx, idx)]), size


def test_one_bit_and_rgb_part_masks_are_read(source):
    sub = source / "CelebAMask-HQ-mask-anno" / "0"
    want = merge_parts_resized({"skin": sub / "00000_skin.png", "nose": sub / "00000_nose.png"},
                               32)
    Image.open(sub / "00000_skin.png").convert("1").save(sub / "00000_skin.png")
    Image.open(sub / "00000_nose.png").convert("RGB").save(sub / "00000_nose.png")
    got = merge_parts_resized({"skin": sub / "00000_skin.png", "nose": sub / "00000_nose.png"},
                              32)
    assert np.array_equal(got, want) and set(np.unique(got)) == {0, 1, 2}


def test_bad_faces_are_reported_and_skipped(source, tmp_path):
    data = (source / "CelebA-HQ-img" / "1.jpg").read_bytes()
    (source / "CelebA-HQ-img" / "1.jpg").write_bytes(data[: len(data) // 3])  # corrupt JPEG
    (source / "CelebA-HQ-img" / "2.jpg").unlink()  # masks but no photo
    for p in (source / "CelebAMask-HQ-mask-anno" / "0").glob("00003_*.png"):  # empty mask
        Image.fromarray(np.zeros((48, 48), np.uint8)).save(p)
    for p in (source / "CelebAMask-HQ-mask-anno" / "0").glob("00004_hair.png"):  # missing part
        p.unlink()
    summary = prepare_dataset(source, tmp_path / "p", size=32)
    assert set(summary["skipped"]) == {1, 2, 3}
    assert "corrupt" in summary["skipped"][1] and summary["skipped"][2] == "missing photo"
    assert "empty mask" in summary["skipped"][3]
    assert summary["prepared"] == 4
    labels, _ = read_label_map(tmp_path / "p" / "labels" / "00004.png")
    assert CELEBAMASK_CLASSES.index("hair") not in labels  # a missing part is just absent
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert set(manifest["skipped"]) == {"1", "2", "3"}


def test_resume_skips_verified_and_redoes_damaged(source, tmp_path):
    out = tmp_path / "p"
    prepare_dataset(source, out, size=32)
    first = (out / "labels" / "00005.png").read_bytes()
    again = prepare_dataset(source, out, size=32)
    assert again["reused"] == 7 and again["prepared"] == 7
    (out / "labels" / "00005.png").write_bytes(b"garbage")
    (out / "images" / "00000.png").unlink()
    third = prepare_dataset(source, out, size=32, workers=2, chunk=2)
    assert third["reused"] == 5
    assert (out / "labels" / "00005.png").read_bytes() == first
    with pytest.raises(MgpeError, match="use a new output folder"):
        prepare_dataset(source, out, size=64)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_parallel_output_equals_sequential(source, tmp_path, monkeypatch, start):
    monkeypatch.setattr(process_pool, "start_method", lambda: start)
    prepare_dataset(source, tmp_path / "a", size=32, workers=1)
    prepare_dataset(source, tmp_path / "b", size=32, workers=2, chunk=2)
    for sub in ("images", "labels", "splits"):
        for f in sorted((tmp_path / "a" / sub).iterdir()):
            assert f.read_bytes() == (tmp_path / "b" / sub / f.name).read_bytes()


def test_workers_fork_only_where_torch_is_not_loaded(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "torch", object())
    assert process_pool.start_method() == "spawn"
    monkeypatch.delitem(sys.modules, "torch")
    assert process_pool.start_method() == "fork"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert process_pool.start_method() == "spawn"


def test_split_rules():
    full = split_ids(list(range(27995, 28005)))
    assert full["train"] == list(range(27995, 28000)) and full["test"] == list(range(28000, 28005))
    small = split_ids(list(range(100)))
    assert len(small["test"]) == 7 and small["test"] == list(range(93, 100))
    assert split_ids([5]) == {"train": [5], "test": []}


def test_check_reports_ok_and_problems(source, tmp_path):
    out = tmp_path / "p"
    prepare_dataset(source, out, size=32, schema="mgpe-11")
    report = check_prepared(out)
    assert report["ok"] and report["faces"] == {"train": 6, "test": 1, "checked": 7}
    fractions = {c["name"]: c["pixel_fraction"] for c in report["classes"]}
    assert abs(sum(fractions.values()) - 1) < 1e-3 and fractions["skin"] > 0.05
    # break it: an id outside the schema, a missing photo
    Image.fromarray(np.full((32, 32), 40, np.uint8)).save(out / "labels" / "00000.png")
    (out / "images" / "00001.png").unlink()
    report = check_prepared(out)
    assert not report["ok"]
    assert set(report["problems"]) == {"invalid label map", "missing image"}


def test_cli_prepare_and_check(source, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["data", "prepare", str(source), str(out), "--size", "32", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["prepared"] == 7
    assert main(["data", "check", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    (out / "labels" / "00002.png").unlink()
    assert main(["data", "check", str(out)]) == 1
    assert "missing label map: 1" in capsys.readouterr().err


def test_prepare_synth_folder_gives_exact_labels_and_reports_damage(tmp_path):
    """End to end on mgpe-synth output: labels equal the renderer's parts merged, and a missing
    part, a corrupt JPEG and an empty mask are handled as documented."""
    from mgpe_core.synth import render_face, write_dataset
    from mgpe_core.synth.writer import face_attributes

    src = tmp_path / "synth"
    write_dataset(src, count=6, size=64, seed=3)
    anno = src / "CelebAMask-HQ-mask-anno" / "0"
    (anno / "00001_nose.png").unlink()  # missing part
    data = (src / "CelebA-HQ-img" / "2.jpg").read_bytes()
    (src / "CelebA-HQ-img" / "2.jpg").write_bytes(data[:200])  # corrupt JPEG
    for p in anno.glob("00003_*.png"):  # empty mask
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(p)
    summary = prepare_dataset(src, tmp_path / "p", size=64, workers=2, chunk=2)
    assert set(summary["skipped"]) == {2, 3} and summary["prepared"] == 4
    for k in (0, 1, 4, 5):
        _, parts = render_face(face_attributes(3, k), 64)
        if k == 1:
            parts.pop("nose")
        # the renderer names sides by the image; the dataset (and celebamask-19) by the subject
        want = merge_parts({other_side(n): m for n, m in parts.items()}, (64, 64))
        got, _ = read_label_map(tmp_path / "p" / "labels" / f"{k:05d}.png")
        assert np.array_equal(got, want), k
    assert check_prepared(tmp_path / "p")["ok"]
