"""The output-path policy (mgpe_core.outputs, docs/errors.md "Outputs never replace your
files"), through the real CLI: an input is never overwritten, two outputs never share a path,
and an existing file is replaced only with --overwrite; every refusal comes before any network
loads and leaves every file as it was."""

import json
import os

import pytest
from conftest import file_contents

from mgpe_cli.main import main
from mgpe_core.io import write_image, write_label_map
from mgpe_core.labels import get_schema
from mgpe_core.outputs import OutputPlan, output_stems
from mgpe_core.samples import load_sample

C19 = get_schema("celebamask-19")


def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap.out, cap.err




def photo(path, i=0):
    img, lab = load_sample(i)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, img)
    write_label_map(path.with_name(path.stem + ".mask.png"), lab, C19)
    return path


def bangs(*args):
    return ["edit", "bangs", *args, "--mode", "add", "--model", "tiny", "--align", "whole"]


def refused(capsys, tmp_path, args, needle):
    before = file_contents(tmp_path)
    code, out, err = run(capsys, *args)
    assert code == 1, err
    assert err.strip().count("\n") == 0 and err.startswith("Error: "), err
    assert needle in err, err
    assert file_contents(tmp_path) == before
    return err


def test_edit_output_equal_to_its_input(tiny_home, tmp_path, capsys, no_model_load):
    p = photo(tmp_path / "p.png")
    err = refused(capsys, tmp_path, bangs(p, "-o", p), "never overwrites its inputs")
    assert str(p) in err
    # --overwrite does not make an input writable; a hard link to it is the same file
    refused(capsys, tmp_path, bangs(p, "-o", p, "--overwrite"), "never overwrites its inputs")
    os.link(p, tmp_path / "link.png")
    refused(capsys, tmp_path, bangs(p, "-o", tmp_path / "link.png", "--overwrite"),
            "never overwrites its inputs")
    # a reference is an input too
    ref = photo(tmp_path / "ref.png", 3)
    refused(capsys, tmp_path, bangs(p, "--reference", ref, "-o", ref, "--overwrite"),
            "never overwrites its inputs")


def test_parse_output_equal_to_its_input(tiny_home, tmp_path, capsys, no_model_load):
    p = photo(tmp_path / "p.png")
    err = refused(capsys, tmp_path, ["parse", p, "-o", p, "--model", "tiny", "--overwrite"],
                  "never overwrites its inputs")
    assert str(p) in err


def test_save_mask_never_replaces_the_inputs_mask(tiny_home, tmp_path, capsys, no_model_load):
    img, lab = load_sample(0)
    write_image(tmp_path / "p.jpg", img)
    write_label_map(tmp_path / "p.mask.png", lab, C19)
    err = refused(capsys, tmp_path,
                  bangs(tmp_path / "p.jpg", "-o", tmp_path / "p.png", "--save-mask",
                        "--overwrite"),
                  "never overwrites its inputs")
    assert str(tmp_path / "p.mask.png") in err
    assert not (tmp_path / "p.png").exists()


def test_same_names_from_different_folders_get_distinct_outputs(tiny_home, tmp_path, capsys):
    a, b = photo(tmp_path / "a" / "x.png", 0), photo(tmp_path / "b" / "x.png", 3)
    code, out, err = run(capsys, *bangs(a, b, "-o", tmp_path / "out", "--json"))
    assert code == 0, err
    outputs = [r["output"] for r in json.loads(out)["outputs"]]
    assert outputs == [str(tmp_path / "out" / "x-1.bangs.png"),
                       str(tmp_path / "out" / "x-2.bangs.png")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["x-1.bangs.png", "x-2.bangs.png"]
    assert (tmp_path / "out" / "x-1.bangs.png").read_bytes() != \
        (tmp_path / "out" / "x-2.bangs.png").read_bytes()

    code, out, err = run(capsys, "parse", a, b, "-o", tmp_path / "masks", "--model", "tiny")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == \
        ["x-1.mask.png", "x-2.mask.png"]


def test_existing_output_needs_overwrite(tiny_home, tmp_path, capsys, no_model_load):
    p = photo(tmp_path / "p.png")
    (tmp_path / "res.png").write_bytes(b"the user's file")
    err = refused(capsys, tmp_path, bangs(p, "-o", tmp_path / "res.png"), "already exists")
    assert str(tmp_path / "res.png") in err and "--overwrite" in err
    # --compare's <out>.compare.png too
    (tmp_path / "new.compare.png").write_bytes(b"kept")
    refused(capsys, tmp_path, bangs(p, "-o", tmp_path / "new.png", "--compare"),
            "new.compare.png already exists")
    # parse
    refused(capsys, tmp_path, ["parse", p, "-o", tmp_path / "res.png", "--model", "tiny"],
            "already exists")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "q.mask.color.png").write_bytes(b"kept")
    q = photo(tmp_path / "q.png", 2)
    refused(capsys, tmp_path, ["parse", p, q, "-o", tmp_path / "masks", "--color",
                               "--model", "tiny"], "q.mask.color.png already exists")


def test_existing_output_is_refused_before_a_photo_is_parsed(tiny_home, tmp_path, capsys,
                                                             no_model_load):
    """A photo without a mask needs the parser (a network) to be labelled: an existing --out
    file is refused before that, not after."""
    bare = tmp_path / "bare.png"
    write_image(bare, load_sample(0)[0])
    (tmp_path / "res.png").write_bytes(b"the user's file")
    refused(capsys, tmp_path, bangs(bare, "-o", tmp_path / "res.png"),
            f"{tmp_path / 'res.png'} already exists: add --overwrite")


def test_overwrite_replaces_an_existing_output(tiny_home, tmp_path, capsys):
    p = photo(tmp_path / "p.png")
    (tmp_path / "res.png").write_bytes(b"the user's file")
    code, _, err = run(capsys, *bangs(p, "-o", tmp_path / "res.png", "--overwrite"))
    assert code == 0, err
    assert (tmp_path / "res.png").read_bytes()[:4] == b"\x89PNG"
    # a re-run is refused, then replaced with --overwrite
    code, _, err = run(capsys, *bangs(p, "-o", tmp_path / "res.png"))
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "parse", p, "-o", tmp_path / "res.png", "--model", "tiny",
                       "--overwrite")
    assert code == 0, err


def test_output_stems():
    assert output_stems(["a/x.jpg", "b/x.jpg", "y.png", "sample:3"]) == \
        ["x-1", "x-2", "y", "sample-3"]
    assert output_stems(["x.png", "x.png"]) == ["x-1", "x-2"]
    assert output_stems(["X.png", "d/x.png"]) == ["X-1", "x-2"]
    # a generated name never takes another input's stem
    assert output_stems(["a/x.png", "b/x.png", "x-1.png"]) == ["x-2", "x-3", "x-1"]


def test_plan_refuses_two_outputs_on_one_path(tmp_path):
    plan = OutputPlan()
    plan.add(tmp_path / "o.png")
    plan.add(tmp_path / "sub" / ".." / "o.png", "mask")
    with pytest.raises(Exception, match="two outputs would be written to one path"):
        plan.check()
