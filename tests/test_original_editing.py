"""A converted ``original`` model (the authors' MGPE release) edits through the same entry points
as mgpe's own models: ``Editor(load_model(...))``, ``mgpe edit``, ``mgpe models info``.

Stand-in weights come from the reference key tables with the weight rule
(``tests/test_original_mgpe.py``'s helpers), saved as the release saves them, converted once per
module into a throwaway MGPE_HOME (about 25 s: the tests that need them are slow)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_original_mgpe import DEMOS, REF, TOL, _save_legacy, rule_state

from mgpe_core.errors import LabelError, UsageError

pytestmark = [pytest.mark.skipif(not REF.is_dir(), reason="reference fixtures not available"),
              pytest.mark.usefixtures("one_thread")]
NAME = "mgpe-original"
BARE = "mgpe-original-noparser"


def _without_parser(src: Path, dest: Path) -> None:
    """A copy of a converted model folder whose config.json names no parser (weights linked,
    manifest rewritten)."""
    dest.mkdir()
    os.link(src / "generator.safetensors", dest / "generator.safetensors")
    meta = json.loads((src / "config.json").read_text())
    meta.pop("parser")
    meta["name"] = dest.name
    data = (json.dumps(meta, indent=2) + "\n").encode()
    (dest / "config.json").write_bytes(data)
    files = json.loads((src / "manifest.json").read_text())["files"]
    files["config.json"] = hashlib.sha256(data).hexdigest()
    (dest / "manifest.json").write_text(json.dumps({"files": files}))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """MGPE_HOME with the stand-in release converted by the CLI, as a user does it, as
    ``mgpe-original`` (parser: the built-in mgpe-synth-128's) and ``mgpe-original-noparser``;
    a second conversion under the same name is refused without --overwrite."""
    from mgpe_cli.main import main
    from mgpe_core.model.original import USED_FILES

    release = tmp_path_factory.mktemp("pretrained")
    for label in USED_FILES:
        _save_legacy(rule_state(label), release / f"latest_net_{label}.pth")
    root = tmp_path_factory.mktemp("home")
    old = os.environ.get("MGPE_HOME")
    os.environ["MGPE_HOME"] = str(root)
    try:  # a failed conversion must not leave MGPE_HOME pointing here for later tests
        argv = ["models", "convert", "original-mgpe", str(release), "--name", NAME,
                "--parser", "mgpe-synth-128"]
        assert main(argv) == 0
        assert main(argv) == 2  # the name is taken
        assert main(["models", "verify", NAME]) == 0
        for f in release.iterdir():  # 655 MB of stand-in files: the converted folder is enough
            f.unlink()
        _without_parser(root / "models" / NAME, root / "models" / BARE)
        yield root
    finally:
        if old is None:
            os.environ.pop("MGPE_HOME", None)
        else:
            os.environ["MGPE_HOME"] = old


@pytest.fixture(scope="module")
def editor(home):
    from mgpe_core.engine import Editor
    from mgpe_core.registry import load_model

    return Editor(load_model(NAME))


def _demo(demo: str):
    from mgpe_core.engine import Portrait
    from mgpe_core.model.original import read_face

    folder = REF / demo
    src = Portrait(*read_face(folder / "source_image.png", folder / "source_label.png"),
                   name="source")
    tgt = Portrait(*read_face(folder / "target_image.png", folder / "target_label.png"),
                   name="target")
    return src, tgt


def _every_component_from(source):
    from mgpe_core.components import COMPONENT_NAMES

    return {c: source for c in COMPONENT_NAMES}


# -- the Python API -------------------------------------------------------------------------------


@pytest.mark.slow
def test_loaded_model_is_original(editor):
    from mgpe_core.model.original import OriginalMGPE

    model = editor.model
    assert model.architecture == "original" and model.weights == "raw"
    assert isinstance(model.generator, OriginalMGPE)
    assert model.resolution == 256 and model.schema.name == "mgpe-11"
    assert model.schema.sides == "image"
    assert model.parser is not None  # mgpe-synth-128's, by reference
    assert sum(p.numel() for p in model.generator.parameters()) == 163_593_731


def test_a_parser_of_other_classes_labels_in_the_models_schema(editor):
    """The original names the built-in model's parser; whatever that parser's classes, the
    loaded one labels in the original's 11 classes: the built-in parser's own labels, converted
    by class name (an identity when the schemas agree)."""
    import torch

    from mgpe_core.labels import conversion_table
    from mgpe_core.registry import load_model
    from mgpe_core.samples import load_sample

    builtin = load_model("mgpe-synth-128")
    parser = editor.model.parser
    img, _ = load_sample(3)
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    own = builtin.parser.parse(x)
    table = torch.from_numpy(conversion_table(builtin.schema, editor.model.schema)).long()
    got = parser.parse(x)
    assert got.max() < len(editor.model.schema.classes)
    assert torch.equal(got.long(), table[own.long()])


@pytest.mark.slow
@pytest.mark.parametrize("demo", DEMOS)
def test_editor_reproduces_the_demo(editor, demo):
    """source = appearance donor of every component, target = mask and background: the
    engine's output is OriginalMGPE.edit's and the reference's, within 1e-4; the
    reconstruction (the source unedited) likewise, in the same batch."""
    from mgpe_core.engine import EditRequest
    from mgpe_core.model.original import prepare_face
    from mgpe_core.tensors import tensor_to_images

    src, tgt = _demo(demo)
    edit = EditRequest(tgt, styles=_every_component_from(src), keep_unedited=False)
    recon = EditRequest(src, keep_unedited=False)
    out = editor.generate([edit, recon])
    assert out.shape == (2, 3, 256, 256) and out.dtype == torch.float32
    direct_edit, direct_rec = editor.model.generator.edit(prepare_face(src.image, src.labels),
                                                          prepare_face(tgt.image, tgt.labels))
    diffs = {
        "edited vs OriginalMGPE.edit": float((out[0] - direct_edit[0]).abs().max()),
        "reconstruction vs OriginalMGPE.edit": float((out[1] - direct_rec[0]).abs().max()),
        "edited vs reference": float(np.abs(out[0].numpy()
                                            - np.load(REF / demo / "edited.npy")[0]).max()),
        "reconstruction vs reference": float(np.abs(
            out[1].numpy() - np.load(REF / demo / "reconstruction.npy")[0]).max()),
    }
    assert all(d < TOL for d in diffs.values()), diffs
    # pixels as for mgpe models; whole generated image when keep_unedited is off
    results = editor.edit([edit, recon])
    pixels = tensor_to_images(out)
    assert np.array_equal(results[0].image, pixels[0])
    assert np.array_equal(results[1].model_image, pixels[1])
    assert np.array_equal(results[0].mask, tgt.labels)


@pytest.mark.slow
def test_keep_unedited_blend_stays(editor):
    """The default request keeps the target's own pixels outside the edited region."""
    from mgpe_core.engine import EditRequest, edit_region

    src, tgt = _demo("demo-173angry")
    req = EditRequest(tgt, mask=src.labels, styles={"mouth": src})
    res = editor.edit([req])[0]
    region = edit_region(req, editor.schema)
    assert region.any()
    from mgpe_core.morphology import dilate

    far = ~dilate(region.astype(np.uint8), 16).astype(bool)
    assert np.array_equal(res.image[far], tgt.image[far])
    assert not np.array_equal(res.image[region], tgt.image[region])
    assert np.array_equal(res.mask, src.labels)


@pytest.mark.slow
def test_face_out_of_range_is_a_label_error(editor):
    from mgpe_core.engine import EditRequest, Portrait

    src, tgt = _demo("demo-173angry")
    labels = tgt.labels.copy()
    labels[labels == 4] = 1
    labels[10:13, 100:110] = 4  # the l_eye centre at y = 11: outside the original's range
    bad = Portrait(tgt.image, labels, name="high-eye")
    with pytest.raises(LabelError, match=r"high-eye.*l_eye centre \(y 11, x 104\)"):
        editor.edit([EditRequest(bad, styles={"mouth": src})])
    with pytest.raises(LabelError, match=r"target \(edited mask\).*l_eye centre"):
        editor.edit([EditRequest(tgt, mask=labels)])


@pytest.mark.slow
def test_no_parser_and_no_mask_is_a_clear_error(home):
    from mgpe_core.engine import Editor, EditRequest, Portrait
    from mgpe_core.registry import load_model
    from mgpe_core.samples import load_sample

    model = load_model(BARE)
    assert model.parser is None and model.architecture == "original"
    img, _ = load_sample(0)
    with pytest.raises(UsageError, match=f"model {BARE} has no parser: pass a mask"):
        Editor(model).edit([EditRequest(Portrait(img))])


def test_schema_parser_converts_by_name_and_side():
    """A parser-only model's labels (celebamask-19: the subject's left eye on the image's
    right) in an editing model's schema (mgpe-11, image-left)."""
    from mgpe_core.engine import SchemaParser
    from mgpe_core.labels import CELEBAMASK_CLASSES, get_schema

    class Fixed:
        def parse(self, images):
            return self.ids

    src, dst = get_schema("celebamask-19"), get_schema("mgpe-11")
    fixed = Fixed()
    fixed.ids = torch.tensor([[[CELEBAMASK_CLASSES.index(n) for n in
                                ("l_eye", "r_eye", "l_brow", "u_lip", "hair", "cloth")]]])
    out = SchemaParser(fixed, src, dst).parse(torch.zeros(1, 3, 1, 6))
    assert [dst.classes[i] for i in out[0, 0].tolist()] == \
        ["r_eye", "l_eye", "r_brow", "u_lip", "hair", "background"]


# -- the CLI --------------------------------------------------------------------------------------


def _run(capsys, *args):
    from mgpe_cli.main import main

    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.slow
def test_models_info_shows_architecture_and_parser(home, capsys):
    code, out, err = _run(capsys, "models", "info", NAME)
    assert code == 0, err
    assert "architecture: original" in out
    assert "parser_from: mgpe-synth-128" in out and "resolution: 256" in out
    code, out, _ = _run(capsys, "models", "info", NAME, "--json")
    data = json.loads(out)
    assert data["architecture"] == "original" and data["parser_from"] == "mgpe-synth-128"
    assert data["has_parser"] is True and data["schema"] == "mgpe-11"


@pytest.mark.slow
def test_cli_edit_sample(home, capsys, tmp_path):
    from mgpe_core.io import read_image

    out = tmp_path / "out.png"
    code, _, err = _run(capsys, "edit", "swap-mouth", "sample:0", "--reference", "sample:4",
                        "--model", NAME, "--parser", "mgpe-synth-128", "-o", str(out))
    assert code == 0, err
    img = read_image(out)
    assert img.shape == (256, 256, 3)


@pytest.mark.slow
def test_cli_edit_photo_file(home, capsys, tmp_path, mp, astronaut):
    """A real photo without a mask: found, aligned to the model's framing at 256 px, labelled
    by mgpe-synth-128's parser, edited, pasted back: the photo's size, and pixels far from the
    face unchanged."""
    from mgpe_core.io import read_image, write_image

    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    out = tmp_path / "out.png"
    code, _, err = _run(capsys, "edit", "swap-mouth", str(photo), "--reference", "sample:4",
                        "--model", NAME, "--parser", "mgpe-synth-128", "-o", str(out),
                        "--json")
    assert code == 0, err
    img = read_image(out)
    assert img.shape == astronaut.shape
    assert np.array_equal(img[400:], astronaut[400:])  # far below the face
    assert not np.array_equal(img, astronaut)


@pytest.mark.slow
def test_cli_without_parser_refuses_parser_model(home, capsys, tmp_path, astronaut):
    from mgpe_core.io import write_image

    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    code, _, err = _run(capsys, "edit", "swap-mouth", str(photo), "--reference", "sample:4",
                        "--model", BARE, "--parser", "model", "-o", str(tmp_path / "o.png"))
    assert code != 0
    assert f"model {BARE} has no parser" in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_parser_only_model_as_the_parser(home, tmp_path):
    """A converted BiSeNet (random weights) named as the original model's parser: loaded
    verified, its labels converted to mgpe-11 (its own are bisenet-19)."""
    from mgpe_core.convert.bisenet import convert_bisenet
    from mgpe_core.convert.original import _parser_entry
    from mgpe_core.engine import Editor, SchemaParser
    from mgpe_core.model.bisenet import BiSeNet
    from mgpe_core.registry import load_model, load_model_parser, verify
    from mgpe_core.samples import load_sample

    torch.manual_seed(0)
    torch.save(BiSeNet(n_classes=19).state_dict(), tmp_path / "79999_iter.pth")
    convert_bisenet(tmp_path / "79999_iter.pth", home / "models", "face-parsing")
    assert _parser_entry("face-parsing") == {"model": "face-parsing"}
    dest = home / "models" / "mgpe-original-bisenet"
    _without_parser(home / "models" / NAME, dest)
    meta = json.loads((dest / "config.json").read_text())
    meta["parser"] = {"model": "face-parsing"}
    data = (json.dumps(meta, indent=2) + "\n").encode()
    (dest / "config.json").write_bytes(data)
    files = json.loads((dest / "manifest.json").read_text())
    files["files"]["config.json"] = hashlib.sha256(data).hexdigest()
    (dest / "manifest.json").write_text(json.dumps(files))
    assert verify(dest)["ok"]
    model = load_model(dest.name)
    assert isinstance(model.parser, SchemaParser)
    assert (model.parser.src_schema.name, model.parser.schema.name) == ("bisenet-19", "mgpe-11")
    labels = Editor(model).parse([load_sample(0)[0]])[0]
    assert labels.shape == (256, 256) and labels.max() < 11
    parser, schema = load_model_parser(dest.name)
    assert schema.name == "mgpe-11" and isinstance(parser, SchemaParser)
