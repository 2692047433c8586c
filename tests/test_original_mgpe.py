"""The authors' MGPE release as the ``original`` architecture: its networks and test-time path
against the reference arrays, and the strict converter, on stand-in weights built with the
reference README's weight rule (the released weights are never shipped).

The stand-in weights (11 files, about 655 MB) are built once per module; the tests that need them
are marked slow."""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from mgpe_core.errors import MgpeError
from mgpe_core.testing import read_table, reference_dir, rule_tensor, table_shape

REF = reference_dir("original-mgpe")
pytestmark = [pytest.mark.skipif(not REF.is_dir(), reason="reference fixtures not available"),
              pytest.mark.usefixtures("one_thread")]
TOL = 1e-4
DEMOS = ("demo-173angry", "demo-9248hair1")


_table = read_table


def rule_state(label: str) -> OrderedDict:
    file = f"latest_net_{label}.pth"
    sd = OrderedDict()
    for name, shape, dtype in _table(REF / "keys" / f"latest_net_{label}.tsv"):
        arr = rule_tensor(file, name, table_shape(shape))
        assert str(arr.dtype) == dtype, name
        sd[name] = torch.from_numpy(arr)
    return sd


@pytest.fixture(scope="module")
def rule_states() -> dict[str, OrderedDict]:
    from mgpe_core.model.original import USED_FILES

    return {label: rule_state(label) for label in USED_FILES}


@pytest.fixture(scope="module")
def model(rule_states):
    from mgpe_core.model.original import OriginalMGPE

    net = OriginalMGPE()
    net.load_state_dict({f"{lb}.{k}": v for lb, sd in rule_states.items() for k, v in sd.items()},
                        strict=True)
    return net.eval()


def _demo_faces(demo: str):
    from mgpe_core.model.original import prepare_face, read_face

    folder = REF / demo
    src = prepare_face(*read_face(folder / "source_image.png", folder / "source_label.png"))
    tgt = prepare_face(*read_face(folder / "target_image.png", folder / "target_label.png"))
    return src, tgt


def _compare(demo: str, taps: dict) -> dict[str, float]:
    """Max abs difference per stored float array (every one must be among ``taps``)."""
    exact = {"l_eye_encoder_input", "r_eye_encoder_input", "mouth_encoder_input"}
    diffs = {}
    for path in sorted((REF / demo).glob("*.npy")):
        key = path.stem
        if key.endswith(("_centres", "_enlarged")):
            continue
        assert key in taps, f"{demo}: no output for {key}"
        ours, ref = taps[key].numpy(), np.load(path)
        assert ours.shape == ref.shape, key
        if key in exact:
            assert np.array_equal(ours, ref), f"{demo}: {key} differs"
            diffs[key] = 0.0
        else:
            diffs[key] = float(np.abs(ours - ref).max())
            assert diffs[key] < TOL, f"{demo}: {key}: max abs diff {diffs[key]}"
    return diffs


# -- preprocessing (no weights) ----------------------------------------------------------------


def test_nearest_index_is_pils():
    from mgpe_core.model.original import nearest_index

    ref = np.load(REF / "enlarge_nearest_index.npy")
    ours = nearest_index(256, 281)
    assert np.array_equal(ours, ref)
    assert ours[140] == 127  # the running-sum tie
    simple = np.floor((np.arange(281) + 0.5) * 256 / 281).astype(np.int64)
    assert (ours != simple).sum() == 1


@pytest.mark.parametrize("demo", DEMOS)
def test_centres_and_enlarged_labels_exact(demo):
    src, tgt = _demo_faces(demo)
    for side, face in (("source", src), ("target", tgt)):
        assert np.array_equal(face.centres, np.load(REF / demo / f"{side}_centres.npy")), side
        ref = np.load(REF / demo / f"{side}_label_enlarged.npy")
        assert face.labels.dtype == ref.dtype and np.array_equal(face.labels, ref), side
    assert src.photo.min() >= -1 and src.photo.max() <= 1


def test_centre_fallbacks_and_border_refusal():
    from mgpe_core.errors import LabelError
    from mgpe_core.model.original import component_centres

    empty = np.zeros((256, 256), np.uint8)
    assert component_centres(empty).tolist() == [116, 96, 116, 160, 184, 128]
    labels = empty.copy()
    labels[10:13, 100:110] = 4  # an l_eye centred at y = 11: too high
    with pytest.raises(LabelError, match="l_eye centre .y 11, x 104"):
        component_centres(labels)
    labels = empty.copy()
    labels[100:104, 50:61] = 5  # (101, 55): inside the eye range
    labels[150:160, 60:70] = 8  # mouth at x = 64: outside 72 < x
    with pytest.raises(LabelError, match="mouth centre"):
        component_centres(labels)


def test_label_id_out_of_range_refused(tmp_path):
    from PIL import Image

    from mgpe_core.errors import LabelError
    from mgpe_core.model.original import read_face

    Image.fromarray(np.full((256, 256), 12, np.uint8)).save(tmp_path / "l.png")
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(tmp_path / "p.png")
    with pytest.raises(LabelError, match=r"l\.png: label id 12"):
        read_face(tmp_path / "p.png", tmp_path / "l.png")


# -- the weight rule ---------------------------------------------------------------------------


@pytest.mark.slow
def test_weight_rule_matches_check_tables(rule_states):
    rows = [r for r in _table(REF / "weights_rule_check.tsv")
            if r[0].removeprefix("latest_net_").removesuffix(".pth") in rule_states]
    assert len(rows) == sum(len(sd) for sd in rule_states.values()) == 516
    for file, name, first, total in rows:
        t = rule_states[file.removeprefix("latest_net_").removesuffix(".pth")][name].numpy()
        assert t.reshape(-1)[0] == pytest.approx(float(first), rel=1e-6, abs=1e-9), name
        assert t.astype(np.float64).sum() == pytest.approx(float(total), rel=1e-6,
                                                           abs=1e-6), name
    digests = {r[0]: r[5] for r in _table(REF / "weights_digest.tsv")}
    for label, sd in rule_states.items():
        h = hashlib.sha256()
        for t in sd.values():
            h.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes())
        assert h.hexdigest() == digests[f"latest_net_{label}.pth"], label


def test_state_dict_keys_are_the_release_keys():
    from mgpe_core.model.original import USED_FILES, build_network

    for label in USED_FILES:
        sd = build_network(label).state_dict()
        rows = _table(REF / "keys" / f"latest_net_{label}.tsv")
        assert list(sd) == [r[0] for r in rows], label
        assert [tuple(v.shape) for v in sd.values()] == [table_shape(r[1]) for r in rows], label


# -- stage 1: the test-time path against every stored array ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("demo", DEMOS)
def test_demo_arrays(model, demo):
    from mgpe_core.model.original import to_uint8

    src, tgt = _demo_faces(demo)
    taps: dict = {}
    edited, rec = model.edit(src, tgt, taps)
    diffs = _compare(demo, taps)
    assert len(diffs) == (22 if demo == "demo-173angry" else 18)
    # pictures: truncated uint8 of the stored float arrays (ours within 1e-4 may flip a level)
    from PIL import Image

    ref = np.array(Image.open(REF / demo / "edited_uint8.png"))
    assert np.abs(to_uint8(edited).astype(int) - ref.astype(int)).max() <= 1
    assert float(np.abs(rec.numpy() - np.load(REF / demo / "reconstruction.npy")).max()) < TOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.slow
def test_cuda_matches_reference(model):
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    gpu = model.cuda()
    try:
        src, tgt = _demo_faces("demo-173angry")
        src.photo, tgt.photo = src.photo.cuda(), tgt.photo.cuda()
        edited, rec = gpu.edit(src, tgt)
        for name, out in (("edited", edited), ("reconstruction", rec)):
            ref = np.load(REF / "demo-173angry" / f"{name}.npy")
            assert float(np.abs(out.cpu().numpy() - ref).max()) < TOL, name
    finally:
        model.cpu()


# -- stage 2: conversion -----------------------------------------------------------------------


def _save_legacy(state: dict, path: Path) -> None:
    torch.save(state, path, _use_new_zipfile_serialization=False)


@pytest.fixture(scope="module")
def release(rule_states, tmp_path_factory) -> Path:
    """The 11 used files as the release stores them, plus an ignored discriminator file."""
    folder = tmp_path_factory.mktemp("pretrained")
    for label, sd in rule_states.items():
        _save_legacy(sd, folder / f"latest_net_{label}.pth")
    _save_legacy(OrderedDict(w=torch.zeros(2)), folder / "latest_net_D.pth")
    return folder


@pytest.fixture(scope="module")
def converted(release, tmp_path_factory) -> Path:
    from mgpe_core.convert.original import convert_original

    notes: list[str] = []
    path = convert_original(release, tmp_path_factory.mktemp("models"), "mgpe-original",
                            report=notes.append)
    assert notes == ["note: ignored latest_net_D.pth (not used by inference)"]
    return path


@pytest.mark.slow
def test_converted_folder(converted, release):
    from mgpe_core.checkpoint import sha256_file
    from mgpe_core.labels import MGPE_11_CLASSES
    from mgpe_core.model.original import USED_FILES

    meta = json.loads((converted / "config.json").read_text())
    assert meta["format"] == "mgpe-model" and meta["architecture"] == "original"
    model = meta["config"]["model"]
    assert model["architecture"] == "original" and model["resolution"] == 256
    assert model["schema"]["name"] == "mgpe-11" and model["schema"]["sides"] == "image"
    assert model["schema"]["classes"] == list(MGPE_11_CLASSES)
    assert meta["weights"] == {"generator": "generator.safetensors"}
    assert "parser" not in meta and "latest_net_P.pth" in meta["parser_note"]
    files = meta["source"]["files"]
    assert set(files) == {f"latest_net_{lb}.pth" for lb in USED_FILES}
    assert all(sha256_file(release / f) == h for f, h in files.items())
    assert meta["source"]["ignored"] == ["latest_net_D.pth"]
    assert "CC BY-NC-SA" in meta["licence"]
    manifest = json.loads((converted / "manifest.json").read_text())["files"]
    assert set(manifest) == {"config.json", "generator.safetensors"}
    assert all(sha256_file(converted / f) == h for f, h in manifest.items())


@pytest.mark.slow
def test_converted_reloads_verified_and_matches(converted):
    from mgpe_core.checkpoint import load_tensors
    from mgpe_core.convert.original import load_original

    manifest = json.loads((converted / "manifest.json").read_text())["files"]
    state = load_tensors(converted / "generator.safetensors", manifest["generator.safetensors"])
    net = load_original(state)
    for demo in DEMOS:
        src, tgt = _demo_faces(demo)
        edited, rec = net.edit(src, tgt)
        for name, out in (("edited", edited), ("reconstruction", rec)):
            diff = float(np.abs(out.numpy() - np.load(REF / demo / f"{name}.npy")).max())
            assert diff < TOL, f"{demo} {name}: {diff}"


@pytest.mark.slow
def test_parser_reference_recorded(release, tmp_path):
    from mgpe_core.convert.original import _parser_entry, model_config
    from mgpe_core.errors import UsageError

    assert _parser_entry("mgpe-synth-128") == {"model": "mgpe-synth-128"}
    meta = model_config("m", {}, [], _parser_entry("mgpe-synth-128"))
    assert meta["parser"] == {"model": "mgpe-synth-128"}
    with pytest.raises(UsageError, match="no installed model named 'nope-parser'"):
        _parser_entry("nope-parser")


def _broken_release(release: Path, tmp_path: Path, label: str, state=None) -> Path:
    """A release folder linking the good files, with ``label``'s file replaced (None: absent)."""
    folder = tmp_path / "broken"
    folder.mkdir()
    for f in release.glob("latest_net_*.pth"):
        if f.name != f"latest_net_{label}.pth":
            os.symlink(f, folder / f.name)
    if state is not None:
        _save_legacy(state, folder / f"latest_net_{label}.pth")
    return folder


class Payload:
    """Any pickled object: weights-only loading must refuse it."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    ("missing_file", r"missing file latest_net_encoder_mouth\.pth"),
    ("missing_key", r"latest_net_G\.pth: .*missing key bg_decoder\.2\.bias"),
    ("extra_key", r"latest_net_G\.pth: .*unexpected key model\.16\.weight"),
    ("shape", r"latest_net_G\.pth: key model\.0\.weight has shape 256x1280x1x1, expected "
              r"256x1536x1x1"),
    ("pickle", r"latest_net_G\.pth holds a pickled object"),
])
def test_conversion_refusals(release, rule_states, tmp_path, capsys, change, message):
    from mgpe_core.convert.original import convert_original

    state = OrderedDict(rule_states["G"])
    label = "G"
    if change == "missing_file":
        label, state = "encoder_mouth", None
    elif change == "missing_key":
        del state["bg_decoder.2.bias"]
    elif change == "extra_key":
        state["model.16.weight"] = torch.zeros(3)
    elif change == "shape":
        state["model.0.weight"] = state["model.0.weight"][:, :1280].clone()
    else:
        state["x"] = Payload()
    folder = _broken_release(release, tmp_path, label, state)
    with pytest.raises(MgpeError, match=message):
        convert_original(folder, tmp_path / "models", "broken", report=lambda s: None)
    assert not (tmp_path / "models" / "broken").exists()
    assert "must never run" not in capsys.readouterr().out


def test_missing_or_bad_folder_refused(tmp_path):
    from mgpe_core.convert import ConvertError
    from mgpe_core.convert.original import convert_original

    with pytest.raises(ConvertError, match="folder not found: .*nope"):
        convert_original(tmp_path / "nope", tmp_path / "models", "m")
    (tmp_path / "f.pth").write_bytes(b"x")
    with pytest.raises(ConvertError, match="is not a folder"):
        convert_original(tmp_path / "f.pth", tmp_path / "models", "m")
    with pytest.raises(ConvertError, match=r"missing files latest_net_G\.pth, "):
        convert_original(tmp_path, tmp_path / "models", "m")
    assert not (tmp_path / "models").exists()


def test_num_batches_tracked_may_be_absent():
    from mgpe_core.convert.original import check_state

    sd = {k: v for k, v in rule_state("decoder_left_eye").items()
          if not k.endswith("num_batches_tracked")}
    out = check_state("decoder_left_eye", sd, "latest_net_decoder_left_eye.pth")
    assert out["conv.0.conv.1.num_batches_tracked"].dtype == torch.int64
    assert len(out) == 15
