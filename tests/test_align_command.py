"""`mgpe align`: a folder of ordinary photos -> the CelebAMask-HQ layout `mgpe data prepare`
reads (mgpe_core.faces.dataset).

The folder is made here: the astronaut (a real photo), two built-in samples placed on larger
canvases at known transforms (one in a sub-folder), a picture holding the astronaut and a
sample (two faces), a picture without a face, a corrupt file and a text file. Tests that find
faces need the photos extra (the ``mp`` fixture: skipped without it, failed under CI=true)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mgpe_cli.main import main
from mgpe_core.faces import scenes
from mgpe_core.faces.framing import MGPE_SYNTH
from mgpe_core.faces.warp import apply
from mgpe_core.io import read_image, write_image
from mgpe_core.labels import CELEBAMASK_CLASSES
from mgpe_core.samples import load_sample

SIZE = 128
#: The photos in sorted order, and the ids --face 0 gives them (the no-face, corrupt and text
#: files get none).
ORDER = ["astronaut.png", "sample5.jpg", "sub/sample2.jpg", "two.png"]
PART = re.compile(r"^CelebAMask-HQ-mask-anno/(\d+)/(\d{5})_([a-z_]+)\.png$")
IMAGE = re.compile(r"^CelebA-HQ-img/(\d+)\.(jpg|png)$")


@pytest.fixture(scope="module")
def photos(astronaut, tmp_path_factory):
    """The photo folder, and the true eye and mouth points of the placed samples."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    write_image(root / "astronaut.png", astronaut)
    truth = {}
    for name, index, centre, scale, angle in (("sample5.jpg", 5, (380.0, 300.0), 1.4, -12.0),
                                               ("sub/sample2.jpg", 2, (450.0, 330.0), 1.7, 9.0)):
        canvas = scenes.background((640, 860), seed=index)
        truth[name] = scenes.place_face(canvas, *load_sample(index), centre, scale, angle)
        write_image(root / name, canvas)
    two = scenes.background((600, 900), seed=3)
    two[:512, :512] = astronaut
    scenes.place_face(two, *load_sample(7), (700.0, 300.0), 0.6, 5.0)
    write_image(root / "two.png", two)
    write_image(root / "empty.png", scenes.background((480, 640), seed=11))
    jpeg = (root / "sample5.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 4])  # a cut JPEG
    (root / "notes.txt").write_text("not a photo: ignored\n")
    return root, truth


def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err, cap.err
    return code, cap.out, cap.err


def files_of(out):
    """{relative path: mtime_ns} of every file under ``out``."""
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns
            for p in sorted(out.rglob("*")) if p.is_file()}


def parts_of(out, k):
    """{part name: bool mask} of face ``k`` (checked: 8-bit, 0/255, SIZE x SIZE)."""
    found = {}
    for name in CELEBAMASK_CLASSES[1:]:
        path = out / "CelebAMask-HQ-mask-anno" / str(k // 2000) / f"{k:05d}_{name}.png"
        if path.exists():
            with Image.open(path) as img:
                assert img.mode == "L" and img.size == (SIZE, SIZE)
                m = np.asarray(img)
            assert set(np.unique(m)) <= {0, 255} and m.any()
            found[name] = m == 255
    return found


def centre_x(mask):
    return float(np.nonzero(mask)[1].mean()) + 0.5


@pytest.fixture(scope="module")
def aligned(photos, tmp_path_factory):
    """One run of `mgpe align` with the landmark parser, --face 0 (the default); needs the
    photos extra (the ``mp`` fixture's rule, for a fixture shared by the module)."""
    from conftest import require_mediapipe

    require_mediapipe()
    root, _ = photos
    out = tmp_path_factory.mktemp("aligned") / "out"
    code = main(["align", str(root), str(out), "--size", str(SIZE), "--parser", "landmarks",
                 "--json"])
    return code, out


def test_the_layout_is_what_prepare_reads(aligned, photos, tmp_path, capsys):
    from mgpe_core.data.prepare import prepare_dataset
    from mgpe_core.io import read_json

    code, out = aligned
    assert code == 0
    report = read_json(out / "align.json")
    # ids follow the sorted photo paths; each id's crop and parts, nothing else
    assert [report["faces"][str(k)]["photo"] for k in range(4)] == ORDER
    assert report["count"] == 4 and report["settings"]["size"] == SIZE
    assert report["settings"]["parser"] == "landmarks"
    assert report["settings"]["framing"]["name"] == "mgpe-synth"
    names = [n for n in files_of(out) if not n.startswith(".") and n != "align.json"]
    images = sorted(int(IMAGE.match(n).group(1)) for n in names if IMAGE.match(n))
    assert images == [0, 1, 2, 3]
    for n in names:
        m = PART.match(n)
        assert IMAGE.match(n) or (m and int(m.group(1)) == int(m.group(2)) // 2000
                                  and int(m.group(2)) in images
                                  and m.group(3) in CELEBAMASK_CLASSES), n
    for k in images:
        crop = read_image(out / "CelebA-HQ-img" / f"{k}.jpg")
        assert crop.shape == (SIZE, SIZE, 3)
        parts = parts_of(out, k)
        # what the landmark parser knows, in celebamask-19's names; what it does not, absent
        assert {"skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip",
                "hair"} <= set(parts) <= set(CELEBAMASK_CLASSES) - {"neck", "cloth", "l_ear",
                                                                      "r_ear", "hat", "eye_g"}
        entry = report["faces"][str(k)]
        assert entry["image"] == f"CelebA-HQ-img/{k}.jpg" and sorted(parts) == entry["parts"]
        assert np.asarray(entry["matrix"]).shape == (2, 3) and 0 < entry["score"] <= 1
    # `mgpe data prepare` takes it as it is: every face, none skipped
    summary = prepare_dataset(out, tmp_path / "prepared", size=64, schema="mgpe-11")
    assert summary["prepared"] == 4 and summary["skipped"] == {}
    manifest = read_json(tmp_path / "prepared" / "manifest.json")
    assert manifest["count"] == 4 and manifest["skipped"] == {}
    assert manifest["source"]["sides"] == "subject"


def test_l_eye_is_the_subjects_left_on_the_images_right(aligned):
    """CelebAMask-HQ's convention: l_eye, l_brow are the subject's left, on the image's right."""
    _, out = aligned
    for k in range(4):
        parts = parts_of(out, k)
        for side in ("eye", "brow"):
            assert centre_x(parts["l_" + side]) > SIZE / 2 > centre_x(parts["r_" + side]), k


def test_faces_land_on_the_framing(aligned, photos):
    """The placed samples' true eyes and mouth, moved by the recorded matrix, land on the
    framing's points; and the painted eyes sit there in the written crop."""
    from mgpe_core.io import read_json

    root, truth = photos
    _, out = aligned
    report = read_json(out / "align.json")
    want = np.asarray(MGPE_SYNTH.points(SIZE))
    eye_distance = want[1, 0] - want[0, 0]
    for k, name in ((1, "sample5.jpg"), (2, "sub/sample2.jpg")):
        moved = apply(np.asarray(report["faces"][str(k)]["matrix"]), truth[name])
        assert np.hypot(*(moved - want).T).max() < 0.05 * eye_distance, (name, moved)
        parts = parts_of(out, k)
        image_left = np.nonzero(parts["r_eye"])  # the subject's right eye
        centre = np.array([image_left[1].mean() + 0.5, image_left[0].mean() + 0.5])
        assert np.hypot(*(centre - want[0])) < 0.06 * eye_distance


def test_skipped_photos_are_named_with_reasons(aligned, photos):
    from mgpe_core.io import read_json

    _, out = aligned
    skipped = {s["photo"]: s for s in read_json(out / "align.json")["skipped"]}
    assert set(skipped) == {"broken.jpg", "empty.png"}  # notes.txt is no photo: not listed
    assert skipped["broken.jpg"]["reason"].startswith("unreadable: ")
    assert "truncated or corrupt" in skipped["broken.jpg"]["reason"]
    assert skipped["empty.png"]["reason"] == "no face found"


def test_a_rerun_reuses_everything_and_redoes_only_what_is_missing(aligned, photos, capsys):
    root, _ = photos
    code, out = aligned
    assert code == 0
    before = files_of(out)
    code, stdout, _ = run(capsys, "align", root, out, "--size", SIZE, "--parser", "landmarks",
                          "--json")
    summary = json.loads(stdout)
    assert code == 0 and summary["aligned"] == 0 and summary["reused"] == 6
    assert summary["faces"] == 4 and len(summary["skipped"]) == 2
    assert files_of(out) == before  # nothing rewritten, align.json included
    # a crop gone: only its photo is redone, under the same id
    (out / "CelebA-HQ-img" / "2.jpg").unlink()
    code, stdout, _ = run(capsys, "align", root, out, "--size", SIZE, "--parser", "landmarks",
                          "--json")
    summary = json.loads(stdout)
    assert code == 0 and summary["aligned"] == 1 and summary["reused"] == 5
    after = files_of(out)
    assert set(after) == set(before)
    changed = {n for n in after if after[n] != before[n]}
    assert "CelebA-HQ-img/2.jpg" in changed
    assert changed <= {n for n in after if n.startswith(("CelebA-HQ-img/2.", "CelebAMask-HQ-"
                                                         "mask-anno/0/00002_"))} | {
        ".align-log.jsonl"}
    # other settings are refused: the folder is not mixed
    code, _, err = run(capsys, "align", root, out, "--size", 96, "--parser", "landmarks")
    assert code == 1 and "was aligned with other settings (size 128, not 96)" in err


def test_every_face_and_an_interrupted_run(mp, photos, tmp_path, capsys, monkeypatch):
    """--face all: one id per face, in photo order, largest first; a run stopped after its
    first photos and run again gives the ids and files of an uninterrupted run."""
    from conftest import builtin_schema  # what `mgpe align` writes in by default

    from mgpe_core.faces import dataset
    from mgpe_core.io import read_json

    root, _ = photos
    args = ["--size", SIZE, "--parser", "landmarks", "--face", "all", "--format", "png"]
    code, _, _ = run(capsys, "align", root, tmp_path / "whole", *args)
    assert code == 0
    whole = read_json(tmp_path / "whole" / "align.json")
    faces = [(f["photo"], f["face"]) for f in whole["faces"].values()]
    assert faces == [("astronaut.png", 0), ("sample5.jpg", 0), ("sub/sample2.jpg", 0),
                     ("two.png", 0), ("two.png", 1)]
    assert list(whole["faces"]) == ["0", "1", "2", "3", "4"]
    two = [whole["faces"][k] for k in ("3", "4")]
    assert two[0]["eye_distance"] > two[1]["eye_distance"]  # largest first
    assert two[0]["box"][0] < 512 < two[1]["box"][0]  # the astronaut, then the sample

    calls = []

    def stop_after_two(n):
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    settings = dataset.AlignSettings(SIZE, MGPE_SYNTH, builtin_schema(), face="all",
                                     image_format="png", model="mgpe-synth-128")
    with pytest.raises(KeyboardInterrupt):
        dataset.align_folder(root, tmp_path / "cut", settings, progress=stop_after_two)
    assert 0 < len(list((tmp_path / "cut" / "CelebA-HQ-img").iterdir())) < 5
    code, stdout, _ = run(capsys, "align", root, tmp_path / "cut", *args, "--json")
    assert code == 0 and 0 < json.loads(stdout)["reused"] < 6
    assert read_json(tmp_path / "cut" / "align.json")["faces"] == whole["faces"]
    for k in range(5):
        for rel in (f"CelebA-HQ-img/{k}.png", f"CelebAMask-HQ-mask-anno/0/{k:05d}_skin.png"):
            assert (tmp_path / "cut" / rel).read_bytes() == (tmp_path / "whole" / rel).read_bytes()


def test_the_model_parser_labels_at_its_resolution(mp, photos, tiny_home, tmp_path, capsys,
                                                    monkeypatch):
    """--parser model (auto, the model has one): the model's parser (tiny: 64 px) on each crop
    via Editor.parse, the labels brought to --size (nearest): the part files are exactly that
    label map. The tiny model's random parser labels everything skin, so its scores are
    replaced by bands of brightness (a label map with structure, several classes)."""
    from mgpe_core.data.prepare import merge_parts_resized
    from mgpe_core.engine import Editor
    from mgpe_core.io import read_json
    from mgpe_core.labels import convert, get_schema
    from mgpe_core.model.parser import UNetParser
    from mgpe_core.registry import load_model

    seen = []

    def bands(self, image, mirror=True):
        seen.append(tuple(image.shape))
        return ((image.mean(1) + 1) * 5.5).clamp(0, 10).long()

    monkeypatch.setattr(UNetParser, "parse", bands)
    root, _ = photos
    out = tmp_path / "out"
    code, _, err = run(capsys, "align", root, out, "--size", SIZE, "--model", "tiny",
                       "--format", "png", "-j", 2)
    assert code == 0, err
    report = read_json(out / "align.json")
    assert report["settings"]["parser"] == "model:tiny"
    assert [f["photo"] for f in report["faces"].values()] == ORDER
    assert {s[1:] for s in seen} == {(3, 64, 64)} and sum(s[0] for s in seen) == 4  # batched
    editor = Editor(load_model("tiny"))
    c19 = get_schema("celebamask-19")
    crops = [read_image(out / "CelebA-HQ-img" / f"{k}.png") for k in range(4)]
    for k, labels in enumerate(editor.parse(crops)):
        assert labels.shape == (SIZE, SIZE)
        parts = {n: out / "CelebAMask-HQ-mask-anno" / "0" / f"{k:05d}_{n}.png"
                 for n in CELEBAMASK_CLASSES[1:]}
        written = merge_parts_resized({n: p for n, p in parts.items() if p.exists()}, SIZE)
        assert len(np.unique(written)) >= 4
        assert np.array_equal(written, convert(labels, editor.schema, c19))
        # a 64 px map scaled to 128 px (nearest): constant on 2 x 2 blocks
        for dy, dx in ((0, 1), (1, 0), (1, 1)):
            assert np.array_equal(written[::2, ::2], written[dy::2, dx::2])


def test_a_model_without_parser_takes_the_landmarks(mp, photos, tiny_home, tmp_path, capsys):
    root, _ = photos
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes((root / "astronaut.png").read_bytes())
    code, stdout, _ = run(capsys, "align", one, tmp_path / "out", "--model", "tiny-noparser",
                          "--size", 64, "--json")
    summary = json.loads(stdout)
    assert code == 0 and summary["faces"] == 1 and summary["settings"]["parser"] == "landmarks"
    assert read_image(tmp_path / "out" / "CelebA-HQ-img" / "0.jpg").shape == (64, 64, 3)


def test_no_face_anywhere_is_a_failure_that_says_why(mp, tmp_path, capsys):
    folder = tmp_path / "nofaces"
    folder.mkdir()
    write_image(folder / "wall.png", scenes.background((300, 400), seed=1))
    (folder / "bad.png").write_bytes(b"\x89PNG not really")
    code, _, err = run(capsys, "align", folder, tmp_path / "out", "--parser", "landmarks")
    assert code == 1
    assert "no face aligned from the 2 photo(s)" in err and "wall.png: no face found" in err
    assert "bad.png: unreadable" in err
    report = json.loads((tmp_path / "out" / "align.json").read_text())
    assert report["count"] == 0 and len(report["skipped"]) == 2


@pytest.mark.parametrize("make, extra, fragment", [
    (None, [], "does not exist"),
    ("empty", [], "no photos in folder"),
    ("photo", ["--size", "32"], "32 is not in the range 64<=x<=1024"),
    ("photo", ["--face", "one"], "--face one: give a face index"),
    ("photo", ["--framing", "celeba"], "unknown framing 'celeba'"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, make, extra, fragment):
    folder = tmp_path / "photos"
    if make:
        folder.mkdir()
    if make == "photo":
        write_image(folder / "a.png", np.zeros((64, 64, 3), np.uint8))
    code, _, err = run(capsys, "align", folder, tmp_path / "out", *extra)
    assert code == 2 and fragment in err
    assert not (tmp_path / "out").exists()


def test_align_help_imports_neither_torch_nor_mediapipe():
    code = ("import sys; from mgpe_cli.main import main; rc = main(['align', '--help']); "
            "print(sorted(m for m in ('torch', 'mediapipe', 'numpy') if m in sys.modules), rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "[] 0", proc.stdout + proc.stderr
