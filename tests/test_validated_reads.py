"""Files mgpe reads are checked before use: pictures by their declared size (before decoding,
a limit raised with MGPE_MAX_PIXELS), a mask's schema text chunks, and every JSON file by its
shape (mgpe_core.json_files). Each case through the real CLI or the library: the exit code, one
message naming the file and the field, never "Internal error"."""
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mgpe_cli.main import main
from mgpe_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mgpe_core.data.prepared import PreparedFolder
from mgpe_core.errors import DatasetError, ImageReadError, LabelError
from mgpe_core.io import read_image, read_label_map, write_image, write_label_map
from mgpe_core.json_files import Fields, read_json_file
from mgpe_core.labels import get_schema
from mgpe_core.samples import load_sample
from mgpe_core.train.runs import RunInfoError, read_run_info

C19 = get_schema("celebamask-19")


def run(capsys, *args):
    code = main(list(args))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Internal error" not in cap.err, cap.err
    return code, cap.out, cap.err


def png_bomb(path: Path, width: int = 40000, height: int = 40000) -> Path:
    """A valid 8-bit grey PNG of width x height zeros that is a few KB on disk."""
    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    comp = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data)
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    return png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")


@pytest.fixture
def files(tmp_path):
    img, lab = load_sample(0)
    write_image(tmp_path / "photo.png", img)
    write_label_map(tmp_path / "photo.mask.png", lab, C19)
    return tmp_path


def test_bomb_is_small_on_disk(bomb):
    assert bomb.stat().st_size < 3_000_000


@pytest.mark.parametrize("reader", [read_image, lambda p: read_label_map(p, "celebamask-19")])
def test_bomb_is_refused_by_the_library_before_decoding(bomb, reader):
    with pytest.raises(ImageReadError, match=r"40000x40000 .*MGPE_MAX_PIXELS"):
        reader(bomb)


def test_bomb_through_the_cli(tiny_home, files, bomb, capsys):
    tmp = files
    cases = [
        ["edit", "style", str(bomb), "--from", "sample:1", "--model", "tiny", "--align", "whole",
         "-o", str(tmp / "out.png")],
        ["edit", "style", str(tmp / "photo.png"), "--mask", str(bomb), "--from", "sample:1",
         "--model", "tiny", "--align", "whole", "-o", str(tmp / "out.png")],
        ["parse", str(bomb), "--model", "tiny", "-o", str(tmp / "out.png")],
    ]
    for args in cases:
        code, _, err = run(capsys, *args)
        assert code == 1, err
        assert str(bomb) in err and "MGPE_MAX_PIXELS" in err, err
        assert err.strip().count("\n") == 0
        assert not (tmp / "out.png").exists()


def test_bomb_in_a_fid_folder(tmp_path, bomb):
    from mgpe_core.io import IMAGE_SUFFIXES  # noqa: F401
    from mgpe_core.metrics import fid

    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "bomb.png").write_bytes(bomb.read_bytes())
    readers = [getattr(fid, n) for n in dir(fid) if n == "read_image"]
    for reader in readers:  # the one reader fid's folders go through
        with pytest.raises(ImageReadError, match="MGPE_MAX_PIXELS"):
            reader(tmp_path / "imgs" / "bomb.png")


def test_raised_limit_lets_a_large_picture_through(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(path)
    monkeypatch.setenv("MGPE_MAX_PIXELS", "1000000")
    with pytest.raises(ImageReadError, match="MGPE_MAX_PIXELS=6000000"):
        read_image(path)
    monkeypatch.setenv("MGPE_MAX_PIXELS", "6000000")
    assert read_image(path).shape == (2000, 3000, 3)
    monkeypatch.setenv("MGPE_MAX_PIXELS", "lots")
    with pytest.raises(Exception, match="MGPE_MAX_PIXELS must be a positive"):
        read_image(path)


def test_bomb_photo_and_part_mask_in_data_prepare(tmp_path, bomb, capsys):
    from test_prepare import make_layout

    root = tmp_path / "celeba"
    make_layout(root, range(0, 4))
    photo = next((root / "CelebA-HQ-img").glob("1.*"))
    photo.unlink()
    (root / "CelebA-HQ-img" / "1.png").write_bytes(bomb.read_bytes())
    part = next((root / "CelebAMask-HQ-mask-anno" / "0").glob("00002_*.png"))
    part.write_bytes(bomb.read_bytes())
    out = tmp_path / "prep"
    for _ in range(2):  # a re-run finishes too
        code, stdout, err = run(capsys, "data", "prepare", str(root), str(out), "--size", "32",
                                "--json")
        assert code == 0, err
        summary = json.loads(stdout)
        assert summary["prepared"] == 2
        assert set(summary["skipped"]) == {"1", "2"}
        assert "MGPE_MAX_PIXELS" in summary["skipped"]["1"]
        assert "part mask" in summary["skipped"]["2"] and "40000x40000" in summary["skipped"]["2"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["skipped"]) == {"1", "2"}


def _mask_with_chunks(path: Path, **chunks) -> Path:
    _, lab = load_sample(0)
    info = PngInfo()
    for k, v in chunks.items():
        info.add_text(k.replace("_", "-"), v)
    Image.fromarray(lab.astype(np.uint8), mode="L").save(path, pnginfo=info)
    return path


@pytest.mark.parametrize("classes, message", [
    ("[not json", "mgpe-classes text chunk is not valid JSON"),
    ('{"a": 1}', "mgpe-classes text chunk: expected a list"),
    ('["background", 3]', r"mgpe-classes text chunk: \[1\]: expected a string"),
    ("null", "mgpe-classes text chunk: expected a list, got null"),
    ("[]", "expected 1 to 256 class names"),
])
def test_malformed_schema_chunks(tiny_home, files, capsys, classes, message):
    mask = _mask_with_chunks(files / "photo.mask.png", mgpe_schema="celebamask-19",
                             mgpe_classes=classes)
    with pytest.raises(LabelError, match=message):
        read_label_map(mask)
    code, _, err = run(capsys, "edit", "style", str(files / "photo.png"), "--from", "sample:1",
                       "--model", "tiny", "--align", "whole", "-o", str(files / "out.png"))
    assert code == 1 and str(mask) in err and "mgpe-classes" in err, err


def test_read_json_file_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "x.json"
    shape = Fields({"size": int, "names": list[str], "splits": dict[str, int]},
                   required=("size",))
    for text, message in [
        ("null", "expected an object, got null"),
        ('{"size": "9"}', "size: expected an integer, got '9'"),
        ('{"size": 9, "names": ["a", 1]}', r"names\[1\]: expected a string"),
        ('{"size": 9, "splits": {"train": null}}', "splits.train: expected an integer, got null"),
        ("{}", "size: missing"),
        ('{"size": 9', "is not valid JSON"),
        (b"\xff\xfe", "is not valid JSON"),
    ]:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(Exception, match=message) as info:
            read_json_file(path, "thing", shape)
        assert f"thing {path}" in str(info.value)
    path.write_text('{"size": 9, "extra": [1]}')
    assert read_json_file(path, "thing", shape) == {"size": 9, "extra": [1]}


def _prepared(tmp_path) -> Path:
    from mgpe_core.testing import make_prepared_folder as make

    return make(tmp_path / "prep", 3).root


@pytest.mark.parametrize("change, message", [
    (lambda m: None, "expected an object, got null"),
    (lambda m: {**m, "size": "256"}, "size: expected an integer, got '256'"),
    (lambda m: {**m, "splits": {"train": "x"}}, "splits.train: expected an integer"),
    (lambda m: {**m, "schema": 7}, "schema: expected str or dict, got 7"),
    (lambda m: {**m, "schema": {"name": 3}}, "schema"),
    (lambda m: {**m, "source": []}, "source: expected an object"),
    (lambda m: {**m, "image_suffix": None}, "image_suffix: expected a string, got null"),
])
def test_manifest_with_wrong_types(tmp_path, capsys, change, message):
    root = _prepared(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps(change(manifest)))
    with pytest.raises(DatasetError, match=message) as info:
        PreparedFolder(root)
    assert str(root / "manifest.json") in str(info.value)
    code, _, err = run(capsys, "data", "check", str(root))
    assert code == 1 and str(root / "manifest.json") in err, err


def test_checkpoint_sidecar_null_or_wrong_types(tmp_path, capsys):
    import torch

    sidecar = save_checkpoint(tmp_path / "ck", 5, {"ema.w": torch.zeros(2)}, {"config": {}})
    good = json.loads(sidecar.read_text())
    for value, message in [
        (None, "is not an mgpe checkpoint sidecar"),
        ([1], "is not an mgpe checkpoint sidecar"),
        ({**good, "step": "5"}, "step: expected an integer, got '5'"),
        ({**good, "tensors_sha256": None}, "tensors_sha256: expected a string, got null"),
        ({**good, "config": None}, "config: expected an object, got null"),
        ({k: v for k, v in good.items() if k != "tensors_sha256"}, "tensors_sha256: missing"),
    ]:
        sidecar.write_text(json.dumps(value))
        with pytest.raises(CheckpointError, match=message) as info:
            load_checkpoint(sidecar)
        assert str(sidecar) in str(info.value)
    sidecar.write_text("null")
    code, _, err = run(capsys, "models", "import", str(sidecar), "--name", "x")
    assert code == 1 and str(sidecar) in err, err


@pytest.mark.parametrize("text, message", [
    ('{"data": "/x", "pars', "is not valid JSON"),
    ("", "is not valid JSON"),
    ("null", "expected a JSON object"),
    ('{"world_size": "2"}', "'world_size' should be a int"),
])
def test_truncated_or_malformed_run_json(tmp_path, text, message):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(RunInfoError, match=message) as info:
        read_run_info(tmp_path)
    assert str(tmp_path / "run.json") in str(info.value)
