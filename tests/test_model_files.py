"""A model folder's files are checked on read (issue 21): config.json / manifest.json / a
parser.json of the wrong JSON types, links leading outside the folder, leftover temporaries
of an interrupted import, exported folders' permissions. Every case through the real CLI:
exit 1, one ``Error:`` line naming the file and the field, no traceback."""

import json
import os
import shutil
import time

import pytest

from mgpe_cli.main import main
from mgpe_core import registry


def _edit_json(path, change):
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def _set(key, value):
    def change(data):
        data[key] = value
        return data
    return change


def _commands(tmp_path):
    return {
        "info": ["models", "info", "m"],
        "verify": ["models", "verify", "m"],
        "edit": ["edit", "swap-mouth", "sample:5", "--reference", "sample:6", "--model", "m",
                 "-o", str(tmp_path / "out.png")],
    }


def _refused(capsys, argv, *words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, (argv, code, err)
    assert "Internal error" not in err and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    for w in words:
        assert w in err, (w, err)
    return err


CONFIG_CASES = [
    ("null", lambda d: None, "expected an object"),
    ("list", lambda d: [d], "expected an object"),
    ("weights", _set("weights", 3), "weights"),
    ("weights-entry", _set("weights", {"generator": 7}), "weights.generator"),
    ("variants", _set("variants", []), "variants"),
    ("parser", _set("parser", "x"), "parser"),
    ("config", _set("config", None), "config"),
    ("config-model", lambda d: {**d, "config": {**d["config"], "model": []}}, "config.model"),
    ("variant-of", _set("variant_of", 5), "variant_of"),
    ("metrics", _set("metrics", [1]), "metrics"),
]


@pytest.mark.parametrize("case,change,field", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
@pytest.mark.parametrize("command", ["info", "verify", "edit"])
def test_config_of_the_wrong_types_is_one_error_naming_file_and_field(
        home, tmp_path, capsys, case, change, field, command):
    _edit_json(home / "models" / "m" / "config.json", change)
    _refused(capsys, _commands(tmp_path)[command], "config.json", field)
    assert not (tmp_path / "out.png").exists()


MANIFEST_CASES = [
    ("null", lambda d: None, "expected an object"),
    ("list", lambda d: [], "expected an object"),
    ("files-null", _set("files", None), "files"),
    ("files-missing", lambda d: {}, "files"),
    ("entry-not-a-hash", lambda d: {"files": {**d["files"], "config.json": 12}},
     "files.config.json"),
    ("files-list", _set("files", ["config.json"]), "files"),
]


@pytest.mark.parametrize("case,change,field", MANIFEST_CASES,
                         ids=[c[0] for c in MANIFEST_CASES])
@pytest.mark.parametrize("command", ["verify", "edit"])
def test_manifest_of_the_wrong_types_is_one_error_naming_file_and_field(
        home, tmp_path, capsys, case, change, field, command):
    _edit_json(home / "models" / "m" / "manifest.json", change)
    _refused(capsys, _commands(tmp_path)[command], "manifest.json", field)


@pytest.mark.parametrize("command", ["verify", "edit"])
def test_a_link_leading_outside_the_model_folder_is_refused(home, tmp_path, capsys, command):
    folder = home / "models" / "m"
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(folder / "parser.safetensors", outside)
    os.symlink(outside, folder / "parser.safetensors")
    err = _refused(capsys, _commands(tmp_path)[command], "parser.safetensors", "outside")
    assert "checksum" not in err


def test_a_manifest_name_leading_outside_is_refused(home, tmp_path, capsys):
    folder = home / "models" / "m"
    (tmp_path / "secret").write_text("x")
    _edit_json(folder / "manifest.json",
               lambda d: {"files": {**d["files"], "../../../secret": "0" * 64}})
    _refused(capsys, _commands(tmp_path)["verify"], "secret", "outside")


def test_a_linked_config_outside_is_refused(home, tmp_path, capsys):
    folder = home / "models" / "m"
    shutil.move(folder / "config.json", tmp_path / "config.json")
    os.symlink(tmp_path / "config.json", folder / "config.json")
    _refused(capsys, _commands(tmp_path)["info"], "config.json", "outside")


def test_links_inside_the_folder_are_fine(home, tmp_path, capsys):
    folder = home / "models" / "m"
    (folder / "weights").mkdir()
    shutil.move(folder / "parser.safetensors", folder / "weights" / "parser.safetensors")
    os.symlink("weights/parser.safetensors", folder / "parser.safetensors")
    assert main(["models", "verify", "m"]) == 0


def test_export_gets_the_umask_permissions(home, tmp_path):
    old = os.umask(0o022)
    try:
        os.chmod(home / "models" / "m", 0o700)  # as folders imported before the fix are
        dest = registry.export_model("m", tmp_path / "out")
        made = registry.write_model_folder(tmp_path / "new", {"config": {}}, {})
    finally:
        os.umask(old)
    assert (dest.stat().st_mode & 0o777) == 0o755
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in dest.iterdir())
    assert (made.stat().st_mode & 0o777) == 0o755


def test_leftover_temporaries_are_never_models_and_stale_ones_are_cleaned(home, capsys):
    models = home / "models"
    stale = models / ".m2.abcd_123"
    shutil.copytree(models / "m", stale)
    fresh = models / ".m3.new.zz99yy88"
    shutil.copytree(models / "m", fresh)
    own = models / ".keepme"  # not a temporary's name: never touched
    own.mkdir()
    long_ago = time.time() - registry.STALE_AFTER_S - 10
    for p in [stale, *stale.rglob("*")]:
        os.utime(p, (long_ago, long_ago))
    assert main(["models", "list", "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert "m" in names and not any(n.startswith(".") or n in ("m2", "m3") for n in names)
    registry.write_model_folder(models / "n", {"config": {}}, {})  # any model written
    assert not stale.exists() and fresh.exists() and own.exists()


PARSER_CASES = [
    ("null", lambda d: None, "does not describe"),
    ("parser-null", _set("parser", None), "parser"),
    ("schema-list", _set("schema", []), "schema"),
    ("classes", lambda d: {**d, "schema": {**d["schema"], "classes": "x"}}, "schema.classes"),
    ("sha", _set("sha256", 5), "sha256"),
]


@pytest.mark.parametrize("case,change,field", PARSER_CASES, ids=[c[0] for c in PARSER_CASES])
def test_parser_description_of_the_wrong_types(tmp_path, case, change, field):
    from mgpe_core.checkpoint import CheckpointError
    from mgpe_core.labels import BUILTIN_SCHEMAS
    from mgpe_core.train.parser_io import load_parser

    schema = next(iter(BUILTIN_SCHEMAS.values()))
    meta = {"format": "mgpe-parser", "parser": {"base_channels": 4, "depth": 2},
            "schema": schema.to_dict(), "resolution": 64, "metrics": {}, "sha256": "0" * 64}
    (tmp_path / "parser.json").write_text(json.dumps(change(meta)))
    with pytest.raises(CheckpointError) as e:
        load_parser(tmp_path)
    assert "parser.json" in str(e.value) and field in str(e.value)


def test_a_decompression_bomb_mask_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    from mgpe_core.data.mask_png import read_grey_mask
    from mgpe_core.errors import ImageReadError
    from mgpe_core.operations import _looks_like_mask

    path = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(path)
    monkeypatch.setenv("MGPE_MAX_PIXELS", "1000")
    assert _looks_like_mask(path)  # a header read: no error, no decoding
    with pytest.raises(ImageReadError, match="megapixels"):
        read_grey_mask(path)
    Image.new("RGB", (200, 200)).save(path)  # the PIL path
    with pytest.raises(ImageReadError, match="megapixels"):
        read_grey_mask(path)
