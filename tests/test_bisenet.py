"""BiSeNet face parser: the network against the reference arrays, the safe ``.pth`` reader and the
converter, on stand-in weights built with the reference README's weight rule (the released
weights are never shipped)."""

from __future__ import annotations

import json
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from mgpe_core.errors import MgpeError
from mgpe_core.testing import read_table, reference_dir, rule_tensor, table_shape

REF = reference_dir("bisenet-face-parsing")
pytestmark = [pytest.mark.skipif(not REF.is_dir(), reason="reference fixtures not available"),
              pytest.mark.usefixtures("one_thread")]
FILE = "79999_iter.pth"
TOL = 1e-4
TIE = 1e-4


def _table(name: str) -> list[list[str]]:
    return read_table(REF / name)


@pytest.fixture(scope="module")
def rule_state() -> OrderedDict:
    sd = OrderedDict()
    for name, shape, dtype in _table("keys.tsv"):
        arr = rule_tensor(FILE, name, table_shape(shape))
        assert str(arr.dtype) == dtype, name
        sd[name] = torch.from_numpy(arr)
    return sd


@pytest.fixture(scope="module")
def net(rule_state):
    from mgpe_core.model.bisenet import BiSeNet

    model = BiSeNet().eval()
    model.load_state_dict(rule_state, strict=True)
    return model


def _save_like_release(state: dict, path: Path) -> None:
    """Legacy (pre-1.6) format, storages tagged ``cuda:0`` as the GPU-trained release's are."""
    import torch.serialization as ser

    original = ser.location_tag
    ser.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(state, path, _use_new_zipfile_serialization=False)
    finally:
        ser.location_tag = original


@pytest.fixture(scope="module")
def release_file(rule_state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("release") / FILE
    _save_like_release(rule_state, path)
    return path


def _input(folder: str, name: str = "input.png") -> torch.Tensor:
    from PIL import Image

    from mgpe_core.model.bisenet import normalize

    rgb = np.array(Image.open(REF / folder / name).convert("RGB"))
    return normalize(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)


def _top2_margin(logits: np.ndarray) -> np.ndarray:
    top = np.sort(logits[0], axis=0)
    return top[-1] - top[-2]


def _png(folder: str, name: str) -> np.ndarray:
    from PIL import Image

    return np.array(Image.open(REF / folder / name))


def _compare_argmax(pred: np.ndarray, ref_ids: np.ndarray, ref_logits: np.ndarray) -> int:
    """Exact except at near-ties of the stored logits; returns how many pixels differ there."""
    differ = pred != ref_ids
    ties = _top2_margin(ref_logits) < TIE
    assert not (differ & ~ties).any(), f"{int((differ & ~ties).sum())} argmax pixels differ"
    return int(differ.sum())


# -- the weight rule ---------------------------------------------------------------------------


def test_weight_rule_matches_check_table(rule_state):
    rows = _table("weights_rule_check.tsv")
    assert len(rows) == len(rule_state) == 191
    for file, name, first, total in rows:
        assert file == FILE
        t = rule_state[name].numpy()
        assert t.reshape(-1)[0] == pytest.approx(float(first), rel=1e-6, abs=1e-9), name
        assert t.astype(np.float64).sum() == pytest.approx(float(total), rel=1e-6, abs=1e-6), name


def test_weight_rule_content_digest(rule_state):
    import hashlib

    stats = json.loads((REF / "stats.json").read_text())
    h = hashlib.sha256()
    for t in rule_state.values():
        h.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes())
    assert h.hexdigest() == stats["file"]["content_sha256"]


# -- stage 1: the network --------------------------------------------------------------------


def test_state_dict_keys_are_the_release_keys():
    from mgpe_core.model.bisenet import BiSeNet

    sd = BiSeNet().state_dict()
    rows = _table("keys.tsv")
    assert list(sd) == [r[0] for r in rows]
    assert [tuple(v.shape) for v in sd.values()] == [table_shape(r[1]) for r in rows]


@pytest.mark.parametrize("folder", ["synthetic-1", "synthetic-2"])
def test_reference_arrays_at_256(net, folder):
    taps: dict = {}
    x = _input(folder)
    with torch.no_grad():
        net.heads(x, taps=taps)
        logits = net(x).numpy()
    compared = 0
    for key, value in taps.items():
        path = REF / folder / f"{key}.npy"
        if path.exists():
            ref = np.load(path)
            assert value.shape == ref.shape, key
            diff = float(np.abs(value.numpy() - ref).max())
            assert diff < TOL, f"{key}: max abs diff {diff}"
            compared += 1
    assert compared == (9 if folder == "synthetic-1" else 3)
    ref_logits = np.load(REF / folder / "logits.npy")
    assert float(np.abs(logits - ref_logits).max()) < TOL
    near = _compare_argmax(logits[0].argmax(0), _png(folder, "parsing.png"), ref_logits)
    assert near == 0  # measured: no near-tie flipped


@pytest.mark.parametrize("folder", ["synthetic-1", "synthetic-2"])
def test_reference_arrays_at_512(net, folder):
    """test.py's own path: the PIL-bilinear 512x512 picture, main head, argmax."""
    from mgpe_core.model.bisenet import upsample_logits

    x = _input(folder, "input_512.png")
    with torch.no_grad():
        main, _, _ = net.heads(x, aux=False)
        logits = net(x)
    ref = np.load(REF / folder / "conv_out_512.npy")
    assert float(np.abs(main.numpy() - ref).max()) < TOL
    ref_logits = upsample_logits(torch.from_numpy(ref), (512, 512)).numpy()
    assert float(np.abs(logits.numpy() - ref_logits).max()) < TOL
    near = _compare_argmax(logits[0].argmax(0).numpy(), _png(folder, "parsing_512.png"),
                           ref_logits)
    assert near == 0


def test_input_512_is_pil_bilinear_of_input():
    from PIL import Image

    img = Image.open(REF / "synthetic-1" / "input.png").convert("RGB")
    ours = np.array(img.resize((512, 512), Image.BILINEAR))
    assert np.array_equal(ours, _png("synthetic-1", "input_512.png"))


def test_size_must_be_divisible_by_32(net):
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.zeros(1, 3, 100, 96))
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 64, 96)).shape == (1, 19, 64, 96)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_reference(net, rule_state):
    from mgpe_core.model.bisenet import BiSeNet

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    gpu = BiSeNet().eval()
    gpu.load_state_dict(rule_state)
    gpu = gpu.cuda()
    for folder in ("synthetic-1", "synthetic-2"):
        with torch.no_grad():
            logits = gpu(_input(folder).cuda()).cpu().numpy()
        ref = np.load(REF / folder / "logits.npy")
        assert float(np.abs(logits - ref).max()) < TOL
        _compare_argmax(logits[0].argmax(0), _png(folder, "parsing.png"), ref)


# -- stage 2: safe reading -------------------------------------------------------------------


def test_release_like_file_needs_map_location(release_file):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the cuda:0 tag loads without map_location")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(release_file, weights_only=True)


def test_read_state_dict_release_like(release_file, rule_state):
    from mgpe_core.convert.pth import read_state_dict

    sd = read_state_dict(release_file)
    assert list(sd) == list(rule_state)
    assert all(sd[k].device.type == "cpu" and torch.equal(sd[k], rule_state[k]) for k in sd)


def test_read_state_dict_strips_module_prefix(tmp_path, rule_state):
    from mgpe_core.convert.pth import read_state_dict

    path = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in list(rule_state.items())[:3]}, path)
    assert list(read_state_dict(path)) == list(rule_state)[:3]


class Payload:
    """Any pickled object: weights-only loading must refuse it."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("legacy", [False, True])
def test_pickled_object_is_refused(tmp_path, capsys, legacy):
    from mgpe_core.convert import ConvertError
    from mgpe_core.convert.pth import read_state_dict

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "x": Payload()}, path,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ConvertError, match=r"evil\.pth.*weights-only"):
        read_state_dict(path)
    assert "must never run" not in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_raw_pickle_and_garbage_refused(tmp_path):
    from mgpe_core.convert import ConvertError
    from mgpe_core.convert.pth import read_state_dict

    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ConvertError, match="raw.pth"):
        read_state_dict(raw)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(ConvertError, match="junk.pth"):
        read_state_dict(junk)
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(ConvertError, match="not a state dict"):
        read_state_dict(tensor)
    nested = tmp_path / "nested.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}}, nested)
    with pytest.raises(ConvertError, match="'state_dict' is a dict"):
        read_state_dict(nested)


def test_missing_file_refused(tmp_path):
    from mgpe_core.convert.bisenet import convert_bisenet

    with pytest.raises(MgpeError, match="file not found: .*nope.pth"):
        convert_bisenet(tmp_path / "nope.pth", tmp_path / "models", "fp")
    assert not (tmp_path / "models" / "fp").exists()


# -- stage 2: conversion -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(release_file, tmp_path_factory) -> Path:
    from mgpe_core.convert.bisenet import convert_bisenet

    root = tmp_path_factory.mktemp("models")
    return convert_bisenet(release_file, root, "face-parsing")


def test_converted_folder(converted, release_file):
    from mgpe_core.checkpoint import sha256_file

    meta = json.loads((converted / "config.json").read_text())
    assert meta["format"] == "mgpe-model" and meta["kind"] == "parser"
    assert meta["architecture"] == "bisenet" and meta["parser"]["architecture"] == "bisenet"
    assert meta["weights"] == {"parser": "parser.safetensors"}
    assert meta["source"]["sha256"] == sha256_file(release_file)
    assert "MIT" in meta["licence"] and "non-commercial" in meta["licence"]
    assert meta["parser"]["sides"] == "subject"
    assert meta["parser"]["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    # class list in BiSeNet's own order, names as in classes.tsv (CelebAMask-HQ's names)
    rows = _table("classes.tsv")
    assert meta["parser"]["classes"] == [r[1] for r in rows]
    from mgpe_core.labels import CELEBAMASK_CLASSES

    assert [CELEBAMASK_CLASSES.index(c) for c in meta["parser"]["classes"]] == \
        [int(r[3]) for r in rows]
    manifest = json.loads((converted / "manifest.json").read_text())["files"]
    assert set(manifest) == {"config.json", "parser.safetensors"}
    assert all(sha256_file(converted / f) == h for f, h in manifest.items())


def test_converted_reloads_verified_and_matches(converted):
    from mgpe_core.checkpoint import load_tensors
    from mgpe_core.model.bisenet import BiSeNet

    manifest = json.loads((converted / "manifest.json").read_text())["files"]
    state = load_tensors(converted / "parser.safetensors", manifest["parser.safetensors"])
    model = BiSeNet().eval()
    model.load_state_dict(state, strict=True)
    for folder in ("synthetic-1", "synthetic-2"):
        with torch.no_grad():
            logits = model(_input(folder)).numpy()
        ref = np.load(REF / folder / "logits.npy")
        assert float(np.abs(logits - ref).max()) < TOL


def test_existing_folder_needs_overwrite(converted, release_file):
    from mgpe_core.convert import ConvertError
    from mgpe_core.convert.bisenet import convert_bisenet

    before = (converted / "manifest.json").read_bytes()
    with pytest.raises(ConvertError, match="already exists"):
        convert_bisenet(release_file, converted.parent, converted.name)
    assert convert_bisenet(release_file, converted.parent, converted.name,
                           overwrite=True) == converted
    assert (converted / "manifest.json").read_bytes() == before
    assert [p.name for p in converted.parent.iterdir()] == [converted.name]


def _write_and_convert(tmp_path, state):
    from mgpe_core.convert.bisenet import convert_bisenet

    path = tmp_path / FILE
    _save_like_release(state, path)
    convert_bisenet(path, tmp_path / "models", "broken")


@pytest.mark.parametrize("change, message", [
    ("missing", r"missing key ffm\.conv2\.weight"),
    ("extra", r"unexpected key cp\.resnet\.fc\.weight"),
    ("shape", r"key conv_out\.conv_out\.weight has shape 18x256x1x1, expected 19x256x1x1"),
    ("dtype", r"key cp\.resnet\.bn1\.num_batches_tracked has dtype torch\.float32"),
])
def test_conversion_refusals(tmp_path, rule_state, change, message):
    state = OrderedDict(rule_state)
    if change == "missing":
        del state["ffm.conv2.weight"]
    elif change == "extra":
        state["cp.resnet.fc.weight"] = torch.zeros(1000, 512)
    elif change == "shape":
        state["conv_out.conv_out.weight"] = state["conv_out.conv_out.weight"][:18]
    else:
        state["cp.resnet.bn1.num_batches_tracked"] = torch.tensor(0.0)
    with pytest.raises(MgpeError, match=message):
        _write_and_convert(tmp_path, state)
    assert not (tmp_path / "models" / "broken").exists()


def test_pickled_object_file_not_converted(tmp_path, capsys):
    from mgpe_core.convert import ConvertError
    from mgpe_core.convert.bisenet import convert_bisenet

    path = tmp_path / FILE
    torch.save({"cp.resnet.conv1.weight": Payload()}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ConvertError, match="weights-only"):
        convert_bisenet(path, tmp_path / "models", "evil")
    assert "must never run" not in capsys.readouterr().out
    assert not (tmp_path / "models").exists()


# -- stage 3: a parser-only model ----------------------------------------------------------------


def test_load_model_parser_parses_like_test_py(converted):
    from mgpe_core.labels import CELEBAMASK_CLASSES
    from mgpe_core.model.bisenet import BISENET_CLASSES, BiSeNetParser, upsample_logits
    from mgpe_core.registry import load_model_parser

    parser, schema = load_model_parser(str(converted))
    assert isinstance(parser, BiSeNetParser) and parser.schema is schema
    assert schema.classes == BISENET_CLASSES and schema.sides == "subject"
    assert [schema.classes[i] for i in schema.source_map] == list(CELEBAMASK_CLASSES)
    assert not any(p.requires_grad for p in parser.parameters())
    from PIL import Image

    for folder in ("synthetic-1", "synthetic-2"):
        rgb = np.array(Image.open(REF / folder / "input_512.png").convert("RGB"))
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1  # [-1, 1]
        ids = parser.parse(x)
        assert ids.shape == (1, 512, 512)
        ref = np.load(REF / folder / "conv_out_512.npy")
        ref_logits = upsample_logits(torch.from_numpy(ref), (512, 512)).numpy()
        with torch.no_grad():
            assert float(np.abs(parser(x).numpy() - ref_logits).max()) < TOL
        _compare_argmax(ids[0].numpy(), _png(folder, "parsing_512.png"), ref_logits)
        # any size: labels come back at the input's size (resized to 512 inside)
        small = torch.nn.functional.interpolate(x, size=(128, 96), mode="bilinear")
        assert parser.parse(small).shape == (1, 128, 96)
        assert parser.parse(small, mirror=True).shape == (1, 128, 96)


def test_ids_map_to_celebamask_by_name(converted):
    from mgpe_core.labels import convert, get_schema
    from mgpe_core.registry import load_model_parser

    _, schema = load_model_parser(str(converted))
    ids = np.arange(19, dtype=np.uint8)[None]
    mapped = convert(ids, schema, get_schema("celebamask-19"))
    assert mapped[0].tolist() == [int(r[3]) for r in _table("classes.tsv")]


def test_parser_only_model_cannot_edit(converted):
    from mgpe_core.registry import load_model

    with pytest.raises(MgpeError, match="parser only"):
        load_model(str(converted))


def test_cli_convert_list_info_parse(release_file, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from mgpe_cli.main import main
    from mgpe_core.io import read_label_map
    from mgpe_core.labels import get_schema

    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    assert main(["models", "convert", "bisenet-face-parsing", str(release_file),
                 "--name", "face-parsing"]) == 0
    assert main(["models", "convert", "bisenet-face-parsing", str(release_file),
                 "--name", "face-parsing"]) == 2
    assert main(["models", "convert", "bisenet-face-parsing", str(release_file),
                 "--name", "face-parsing", "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "face-*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["kind"], r["has_parser"], r["schema"], r["resolution"])
            for r in rows] == [("face-parsing", "parser", True, "bisenet-19", 512)]
    assert main(["models", "info", "face-parsing", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parser"]["architecture"] == "bisenet"
    assert main(["models", "verify", "face-parsing"]) == 0
    image = REF / "synthetic-1" / "input_512.png"
    out = tmp_path / "m.png"
    assert main(["parse", str(image), "--model", "face-parsing", "-o", str(out)]) == 0
    labels, schema = read_label_map(out)
    assert schema.name == "celebamask-19"
    ours = np.asarray(Image.open(REF / "synthetic-1" / "parsing_512.png"))
    table = np.asarray([int(r[3]) for r in _table("classes.tsv")], dtype=np.uint8)
    ref_logits = np.load(REF / "synthetic-1" / "conv_out_512.npy")
    from mgpe_core.model.bisenet import upsample_logits

    ref_logits = upsample_logits(torch.from_numpy(ref_logits), (512, 512)).numpy()
    differ = labels != table[ours]
    assert not (differ & (_top2_margin(ref_logits) >= TIE)).any()
    out11 = tmp_path / "m11.png"
    assert main(["parse", str(image), "--model", "face-parsing", "--schema", "mgpe-11",
                 "-o", str(out11)]) == 0
    labels11, schema11 = read_label_map(out11)
    assert schema11 == get_schema("mgpe-11")
    from mgpe_core.labels import convert

    assert np.array_equal(labels11, convert(labels, schema, schema11))
    assert main(["edit", "swap-mouth", str(image), "--model", "face-parsing",
                 "-o", str(tmp_path / "e.png")]) != 0


def test_edit_labels_a_photo_with_the_converted_parser(release_file, tiny_home, tmp_path,
                                                       monkeypatch, capsys, mp):
    """`mgpe edit --parser NAME` with a converted BiSeNet: the photo's face crop is labelled by
    it (in its own class order and the subject's left/right), converted to the editing model's
    schema by name; naming the parser as the editing model is a clear usage error."""
    from mgpe_cli.main import main
    from mgpe_core.engine import parse_images
    from mgpe_core.io import read_image, write_image
    from mgpe_core.labels import convert, get_schema
    from mgpe_core.registry import load_model_parser
    from mgpe_core.samples import load_sample

    home = tmp_path / "home"
    import shutil

    shutil.copytree(tiny_home, home)
    monkeypatch.setenv("MGPE_HOME", str(home))
    assert main(["models", "convert", "bisenet-face-parsing", str(release_file),
                 "--name", "fp"]) == 0
    image = load_sample(1)[0]
    write_image(tmp_path / "photo.png", image)
    capsys.readouterr()
    code = main(["edit", "style", str(tmp_path / "photo.png"), "--from", "sample:5",
                 "--regions", "skin", "--model", "fp", "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and "model fp is a face parser, not an editing model" in err
    assert "--parser fp" in err
    # the conversion of its labels: by name, subject's left -> image left
    parser, schema = load_model_parser("fp")
    assert schema.sides == "subject"
    labels = parse_images(parser, [image], 512)[0]
    m11 = convert(labels, schema, get_schema("mgpe-11"))
    for name, other in (("l_eye", "r_eye"), ("r_eye", "l_eye")):
        assert np.array_equal(labels == schema.classes.index(name),
                              m11 == get_schema("mgpe-11").index(other))
    code = main(["edit", "style", str(tmp_path / "photo.png"), "--from", "sample:5",
                 "--regions", "skin", "--model", "tiny", "--parser", "fp", "-o",
                 str(tmp_path / "y.png")])
    err = capsys.readouterr().err
    # random stand-in weights label arbitrary classes: the edit runs, or says there is no skin
    assert code == 0 or (code == 1 and "nothing to do" in err), err
    if code == 0:
        assert read_image(tmp_path / "y.png").shape == image.shape


def test_eval_scores_mask_fidelity_with_the_converted_parser(release_file, tiny_home, tmp_path,
                                                             monkeypatch, capsys):
    """`mgpe eval --parser NAME`: another model's parser labels the outputs (its labels
    converted to the edited model's schema), and the report says which parser scored."""
    import shutil

    from mgpe_cli.main import main

    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    monkeypatch.setenv("MGPE_HOME", str(home))
    assert main(["models", "convert", "bisenet-face-parsing", str(release_file),
                 "--name", "fp"]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", "tiny", "--n", "3", "--parser", "fp", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    fidelity = report["mask_fidelity"]
    assert fidelity["parser"] == "fp"
    assert 0 <= fidelity["parser_on_real"]["mean_iou"] <= 1
    assert main(["eval", "--model", "tiny", "--n", "3", "--parser", "tiny-noparser"]) == 2
    assert "model tiny-noparser ships no parser" in capsys.readouterr().err
