"""Every command of the CLI against realistic bad input (docs/errors.md, "Every command").

Each case runs the real CLI in-process and checks the error policy of ``mgpe_cli.main``: the
exit code (2 usage, 1 failure), one ``Error: ...`` line naming the problem (after click's own
``Usage:``/``Try`` lines for click errors), no traceback, no "Internal error", and nothing
written: the per-case output folder stays empty (no result, no temporary file) and the shared
fixture folders and the model registry are unchanged. ``test_every_command_has_a_case`` walks
the click tree, so a new command without a case here fails.

Placeholders in the commands: ``{fx}`` the shared fixture folder (see ``fx``), ``{tmp}`` the
case's own empty folder (outputs go there), ``{home}`` the ``tiny_home`` MGPE_HOME.
"""

from __future__ import annotations

import io
import pickle
import shlex
import shutil

import click
import pytest
from PIL import Image

from mgpe_cli.main import cli, main


def case(command, code, fragment, report=False):
    """``report``: the command prints a report (problem lines) on stderr before its Error line."""
    return pytest.param(shlex.split(command), code, fragment, report, id=command)


MODEL = "--model tiny"
TAMPERED = "{fx}/tampered"
INCEPTION_LIKE = "{home}/models/tiny/generator.safetensors"  # safetensors, other tensors

CASES = [
    # -- the root and the groups --------------------------------------------------------------
    case("nosuch", 2, "No such command 'nosuch'"),
    case("modles list", 2, "Did you mean: models"),
    case("data nosuch", 2, "No such command 'nosuch'"),
    case("models nosuch", 2, "No such command 'nosuch'"),
    case("edit nosuch sample:0", 2, "No such operation 'nosuch'"),
    # -- data ---------------------------------------------------------------------------------
    case("data synth {fx}/text.txt --count 1 --size 64", 2, "is a file"),
    case("data synth {tmp}/faces --count 0", 2, "0 is not in the range x>=1"),
    case("data synth {tmp}/faces --size 32", 2, "32 is not in the range 64<=x<=1024"),
    case("data synth {fx}/text.txt/faces --count 1 --size 64 -j 1 --no-preview", 2,
         "OUT {fx}/text.txt/faces: {fx}/text.txt is a file, not a folder"),
    case("data prepare {tmp}/missing {tmp}/prepared", 2, "does not exist"),
    case("data prepare {fx}/empty {tmp}/prepared", 1,
         "{fx}/empty is not a CelebAMask-HQ folder"),
    case("data prepare {fx}/prep {tmp}/prepared", 1, "is not a CelebAMask-HQ folder"),
    case("data prepare {fx}/empty {tmp}/prepared --schema mgpe11", 2,
         "unknown label schema 'mgpe11'"),
    case("data prepare {fx}/empty {tmp}/prepared --size 4", 2, "4 is not in the range"),
    case("data prepare {fx}/empty {fx}/text.txt", 2, "is a file"),
    case("data check {tmp}/missing", 2, "does not exist"),
    case("data check {fx}/empty", 1, "{fx}/empty is not a prepared mgpe folder"),
    case("data check {fx}/badmanifest", 1, "manifest.json is not valid JSON"),
    case("data check {fx}/prepbad", 1, "{fx}/prepbad has problems: invalid label map (1)",
         report=True),
    case("data check {fx}/prepbad --json", 1, "has problems: invalid label map (1)"),
    # -- train, train-parser ------------------------------------------------------------------
    case("train --out {tmp}/run", 2, "mgpe train needs --data and --parser"),
    case("train --out {tmp}/run --data {tmp}/missing --parser {fx}/empty", 2,
         "Directory '{tmp}/missing' does not exist"),
    case("train --out {tmp}/run --data {fx}/empty --parser {fx}/empty", 1,
         "{fx}/empty is not a prepared mgpe folder"),
    case("train --out {tmp}/run --dry-run --config {fx}/text.txt", 1, "is not valid JSON"),
    case("train --out {tmp}/run --dry-run --set model.width=-1", 1,
         "model.width must be in [0.05, 4], got -1.0"),
    case("train --out {tmp}/run --dry-run --set nonsense", 1,
         "--set expects key=value, got 'nonsense'"),
    case("train --out {tmp}/run --dry-run --steps 0", 2, "0 is not in the range x>=1"),
    case("train --out {fx}/text.txt --dry-run", 2, "is a file"),
    case("train --out {tmp}/run --data {fx}/prep --parser {fx}/empty --device bogus", 2,
         "unknown device 'bogus'"),
    case("train --out {tmp}/run --data {fx}/prep --parser {fx}/empty --batch 2 --device cpu", 1,
         "parser not found: {fx}/empty/parser.json"),
    case("train --out {fx}/text.txt/run --data {fx}/prep --parser {fx}/empty --device cpu", 2,
         "is a file, not a folder"),
    case("train --out {tmp}/run --data {fx}/prep --parser {fx}/parser --device cpu --batch 2 "
         "--set model.width=0.125 --init-from {fx}/empty", 1, "no complete checkpoint in"),
    case("train --out {tmp}/run --data {fx}/prep --parser {fx}/parser --device cpu --batch 2 "
         "--set model.width=0.125 --init-from no-such-model", 2, "unknown model 'no-such-model'"),
    case("train --out {tmp}/run --data {fx}/prep --parser no-such-parser --batch 2 --device cpu",
         1, "parser not found: no-such-parser (give a parser folder"),
    case("train-parser --data {fx}/prep --out {fx}/text.txt/p", 2, "is a file, not a folder"),
    case("train-parser --data {tmp}/missing --out {tmp}/parser", 2, "does not exist"),
    case("train-parser --data {fx}/empty --out {tmp}/parser --device cpu", 1,
         "{fx}/empty is not a prepared mgpe folder"),
    case("train-parser --data {fx}/prep --out {tmp}/parser --depth 9", 2,
         "9 is not in the range 1<=x<=6"),
    case("train-parser --data {fx}/prep --out {tmp}/parser --device bogus", 2,
         "unknown device 'bogus'"),
    case("train-parser --data {fx}/prep --out {tmp}/parser --schema mgpe11", 2,
         "unknown label schema 'mgpe11'"),
    # -- parse --------------------------------------------------------------------------------
    case("parse -o {tmp}/m.mask.png " + MODEL, 2, "Missing argument 'IMAGE...'"),
    case("parse {tmp}/missing.png -o {tmp}/m.mask.png " + MODEL, 1, "image not found"),
    case("parse {fx}/cut.png -o {tmp}/m.mask.png " + MODEL, 1,
         "cannot read image {fx}/cut.png (truncated or corrupt?)"),
    case("parse {fx}/text.txt -o {tmp}/m.mask.png " + MODEL, 1, "not an image"),
    case("parse sample:99 -o {tmp}/m.mask.png " + MODEL, 2, "sample:99 does not exist"),
    case("parse sample:0 -o {tmp}/m.mask.png --model nosuch", 2, "unknown model 'nosuch'"),
    case("parse sample:0 -o {tmp}/m.mask.png --model {fx}/empty", 2,
         "{fx}/empty is a folder but not a model folder"),
    case("parse sample:0 -o {tmp}/m.mask.png --model tiny-noparser", 2,
         "model tiny-noparser has no parser"),
    case("parse sample:0 -o {tmp}/m.mask.png --model " + TAMPERED, 1,
         "failed verification (generator.safetensors: checksum mismatch)"),
    case("parse sample:0 -o {tmp}/m.jpg " + MODEL, 2, "masks are PNG files"),
    case("parse sample:0 -o {tmp}/m.mask.png --schema celeba " + MODEL, 2,
         "unknown label schema 'celeba'"),
    case("parse sample:0 -o {tmp}/no/such/m.mask.png " + MODEL, 1,
         "cannot write {tmp}/no/such/m.mask.png: folder {tmp}/no/such does not exist"),
    case("parse sample:0 sample:1 -o {fx}/text.txt " + MODEL, 2,
         "several masks need a folder, and this is a file"),
    case("parse sample:0 sample:1 -o {fx}/text.txt/masks " + MODEL, 1, "Not a directory"),
    case("parse sample:0 {tmp}/missing.png -o {tmp}/masks " + MODEL, 1, "image not found"),
    case("parse sample:0 -o {tmp}/m.mask.png --device bogus " + MODEL, 2,
         "unknown device 'bogus'"),
    # -- eval ---------------------------------------------------------------------------------
    case("eval --model nosuch --n 2", 2, "unknown model 'nosuch'"),
    case("eval --model tinny --n 2", 2, "Did you mean: tiny"),
    case("eval --model tiny --n 0", 2, "0 is not in the range x>=1"),
    case("eval --model tiny --n 2 --data {tmp}/missing", 1,
         "prepared folder {tmp}/missing does not exist"),
    case("eval --model tiny --n 2 --data {fx}/empty", 1, "manifest.json is missing"),
    case("eval --model tiny --n 2 --data {fx}/text.txt", 1, "is not a folder"),
    case("eval --model tiny --n 2 --data {fx}/prep --fid-weights {tmp}/missing.safetensors",
         1, "weights file not found: {tmp}/missing.safetensors"),
    case("eval --model tiny --n 2 --data {fx}/prep --fid-weights {fx}/text.txt", 1,
         "{fx}/text.txt is not a valid safetensors file"),
    case("eval --model tiny --n 2 --parser nosuch", 2, "unknown model 'nosuch'"),
    case("eval --model tiny --n 2 --data {fx}/prep --fid-weights {fx}/weights.pkl", 1,
         "{fx}/weights.pkl is not a readable PyTorch file: weights-only loading refused it"),
    case("eval --model tiny --n 2 --data {fx}/prep --out {tmp}/report --fid-weights "
         + INCEPTION_LIKE, 1, "is not the FID Inception weights"),
    case("eval --model tiny --n 2 --data {fx}/prep --out {fx}/text.txt", 2,
         "--out {fx}/text.txt is a file, not a folder"),
    case("eval --model tiny --n 2 --data {fx}/prep --out {fx}/text.txt/report", 2,
         "--out {fx}/text.txt/report: {fx}/text.txt is a file, not a folder"),
    case("eval --model tiny --n 2 --data {fx}/prep --device bogus", 2, "device 'bogus'"),
    # -- align --------------------------------------------------------------------------------
    case("align {tmp}/missing {tmp}/aligned", 2, "Directory '{tmp}/missing' does not exist"),
    case("align {fx}/empty {tmp}/aligned", 2, "no photos in folder {fx}/empty"),
    case("align {fx}/text.txt {tmp}/aligned", 2, "'{fx}/text.txt' is a file"),
    case("align {fx}/imgs {tmp}/aligned --size 8", 2, "8 is not in the range 64<=x<=1024"),
    case("align {fx}/imgs {fx}/text.txt", 2, "'{fx}/text.txt' is a file"),
    case("align {fx}/imgs {fx}/text.txt/aligned", 2, "{fx}/text.txt is a file, not a folder"),
    case("align {fx}/imgs {fx}/imgs", 1,
         "OUT {fx}/imgs is {fx}/imgs, which this command reads; mgpe never writes over"),
    case("align {fx}/imgs {tmp}/aligned --face -1", 2, "face indices start at 0"),
    case("align {fx}/imgs {tmp}/aligned --face first", 2, "--face first: give a face index"),
    case("align {fx}/imgs {tmp}/aligned --framing celeba", 2,
         "unknown framing 'celeba'; known: mgpe-synth, celeba-hq"),
    case("align {fx}/imgs {tmp}/aligned --model nosuch", 2, "unknown model 'nosuch'"),
    case("align {fx}/imgs {tmp}/aligned --parser model --model tiny-noparser", 2,
         "--parser model: model tiny-noparser has no parser"),
    case("align {fx}/imgs {tmp}/aligned --parser landmarks --device cuda", 2,
         "--device is for the model's parser"),
    case("align {fx}/imgs {tmp}/aligned --device bogus " + MODEL, 2, "unknown device 'bogus'"),
    case("align {fx}/imgs {tmp}/aligned -j 0", 2, "0 is not in the range x>=1"),
    # -- fid ----------------------------------------------------------------------------------
    case("faces", 2, "Missing argument 'PHOTO'"),
    case("faces {tmp}/missing.png", 1, "image not found"),
    case("faces {fx}/text.txt", 1, "not an image"),
    case("faces sample:99", 2, "does not exist"),
    case("faces sample:0 --tiles 9", 2, "not in the range"),
    case("fid {tmp}/missing {fx}/imgs", 1, "folder not found: {tmp}/missing"),
    case("fid {fx}/empty {fx}/imgs", 1, "no images in {fx}/empty"),
    case("fid {fx}/text.txt {fx}/imgs", 1, "expected a folder of images"),
    case("fid {fx}/bad.npz {fx}/imgs", 1, "{fx}/bad.npz is not a readable .npz"),
    case("fid {tmp}/missing.npz {fx}/imgs", 1, "statistics file not found"),
    case("fid {fx}/imgs {fx}/imgs --weights {tmp}/missing.safetensors", 1,
         "weights file not found: {tmp}/missing.safetensors"),
    case("fid {fx}/imgs {fx}/imgs --weights {fx}/text.txt", 1, "not a valid safetensors file"),
    case("fid {fx}/imgs {fx}/imgs --weights {fx}/weights.pkl", 1,
         "mgpe never retries without weights-only loading"),
    case("fid {fx}/imgs {fx}/imgs --weights " + INCEPTION_LIKE, 1,
         "is not the FID Inception weights"),
    case("fid {fx}/imgs {fx}/imgs --weights " + INCEPTION_LIKE + " --sha256 zz", 2,
         "expected a hexadecimal SHA-256 prefix"),
    case("fid {fx}/imgs {fx}/imgs --save-stats {tmp}/no/such/real.npz", 1,
         "folder {tmp}/no/such does not exist"),
    case("fid {fx}/imgs {fx}/imgs --save-stats {tmp}/real.txt", 2,
         "statistics files end in .npz"),
    case("fid {fx}/imgs {fx}/imgs --batch 0", 2, "0 is not in the range x>=1"),
    case("fid {fx}/imgs {fx}/imgs --device bogus", 2, "--device 'bogus'"),
    # -- demo ---------------------------------------------------------------------------------
    case("serve --model nosuch", 2, "unknown model 'nosuch'"),
    case("serve --port 70000", 2, "70000 is not in the range 0<=x<=65535"),
    case("demo -o {fx}/text.txt " + MODEL, 2, "is a file"),
    case("demo -o {tmp}/demo --model nosuch", 2, "unknown model 'nosuch'"),
    case("demo -o {tmp}/demo --device bogus " + MODEL, 2, "unknown device 'bogus'"),
    # -- models -------------------------------------------------------------------------------
    case("models list --bogus", 2, "No such option '--bogus'"),
    case("models info tinny", 2, "Did you mean: tiny"),
    case("models info {fx}/empty", 2, "is a folder but not a model folder"),
    case("models import {tmp}/missing --name x", 2, "does not exist"),
    case("models import {fx}/empty --name x", 1, "no complete checkpoint in {fx}/empty"),
    case("models import {fx}/prep --name x", 1, "no complete checkpoint in {fx}/prep"),
    case("models import {fx}/text.txt --name x", 1, "is not valid JSON"),
    case("models import {home}/models/tiny/config.json --name x", 1,
         "is not an mgpe checkpoint sidecar"),
    case("models import {fx}/run --name bad/name", 2, "invalid model name 'bad/name'"),
    case("models import {fx}/run --name tiny", 1, "a model named 'tiny' already exists"),
    case("models import {fx}/run --name x --parser {fx}/empty", 1, "parser not found"),
    case("models import {fx}/run --name x --parser {home}/models/tiny/config.json", 1,
         "does not describe an mgpe parser"),
    case("models convert nosuch {fx}/text.txt --name x", 2, "unknown source 'nosuch'"),
    case("models convert bisenet-face-parsing {tmp}/missing.pth --name x", 2, "no such file"),
    case("models convert bisenet-face-parsing {fx}/text.txt --name x", 1,
         "is not a readable PyTorch file"),
    case("models convert bisenet-face-parsing {fx}/text.txt --name bad/name", 2,
         "invalid model name 'bad/name'"),
    case("models convert bisenet-face-parsing {fx}/text.txt --name tiny", 2,
         "a model named 'tiny' already exists"),
    case("models convert bisenet-face-parsing {fx}/text.txt --name x --parser tiny", 2,
         "--parser applies to original-mgpe only"),
    case("models convert original-mgpe {tmp}/missing --name x", 2, "no such folder"),
    case("models convert original-mgpe {fx}/text.txt --name x", 2, "is not a folder"),
    case("models convert original-mgpe {fx}/empty --name x", 1,
         "missing files latest_net_G.pth, "),
    case("models convert original-mgpe {fx}/empty --name x --parser nosuch", 2,
         "no installed model named 'nosuch'"),
    case("models convert original-mgpe {fx}/empty --name tiny", 2,
         "a model named 'tiny' already exists"),
    case("models export nosuch {tmp}/exported", 2, "unknown model 'nosuch'"),
    case("models export tiny {fx}/text.txt", 1, "{fx}/text.txt already exists"),
    case("models export tiny {fx}/text.txt/exported", 1, "cannot export to"),
    case("models export " + TAMPERED + " {tmp}/exported", 1, "failed verification"),
    case("models verify nosuch", 2, "unknown model 'nosuch'"),
    case("models verify " + TAMPERED, 1,
         "model tampered failed verification (generator.safetensors: checksum mismatch)"),
    case("models verify " + TAMPERED + " --json", 1, "failed verification"),
    case("models calibrate nosuch", 2, "unknown model 'nosuch'"),
    case("models calibrate mgpe-synth-128", 2, "calibrating it would change installed files"),
    case("models calibrate " + TAMPERED + " --n 5", 2, "at least 80 faces"),
    case("models calibrate " + TAMPERED, 1, "checksum mismatch"),
    case("models remove nosuch --yes", 2, "unknown model 'nosuch'"),
    # -- plugins ------------------------------------------------------------------------------
    case("plugins --bogus", 2, "No such option '--bogus'"),
    # -- edit: every operation ----------------------------------------------------------------
    case("edit style sample:0 --from sample:1 -o {tmp}/e.png --model nosuch", 2,
         "unknown model 'nosuch'"),
    case("edit style sample:0 --from sample:1 -o {tmp}/e.png --model " + TAMPERED, 1,
         "failed verification"),
    case("edit style sample:0 --from sample:1 -o {tmp}/e.png --variant eye-mask "
         "--model tiny-noparser", 2, "model tiny-noparser has no variant 'eye-mask'"),
    case("edit style sample:0 --from sample:1 -o {tmp}/e.png --device bogus " + MODEL, 2,
         "unknown device 'bogus'"),
    case("edit style sample:0 --from sample:1 -o {tmp}/e.txt " + MODEL, 2,
         "use a .png or .jpg file name"),
    case("edit style sample:0 --from {fx}/cut.png -o {tmp}/e.png " + MODEL, 1,
         "truncated or corrupt"),
    case("edit style sample:0 --from sample:1 --regions nose -o {tmp}/e.png " + MODEL, 2,
         "unknown region(s) ['nose']"),
    case("edit style sample:0 --region hair -o {tmp}/e.png " + MODEL, 2,
         "--region expects REGION=SRC, got 'hair'"),
    case("edit style sample:0 -o {tmp}/e.png " + MODEL, 2, "style needs --from SRC"),
    case("edit style sample:0 --from sample:1 -m {tmp}/missing.mask.png -o {tmp}/e.png "
         + MODEL, 1, "image not found: {tmp}/missing.mask.png"),
    case("edit style sample:0 sample:1 --from sample:2 -o {fx}/text.txt " + MODEL, 2,
         "several results need a folder, and this is a file"),
    case("edit style sample:0 {tmp}/missing.png --from sample:2 -o {tmp}/edited " + MODEL, 1,
         "image not found: {tmp}/missing.png"),
    case("edit style sample:0 sample:1 --from sample:2 -o {fx}/text.txt/edited " + MODEL, 1,
         "{fx}/text.txt/edited: Not a directory"),
    case("edit swap-mouth sample:0 -o {tmp}/e.png " + MODEL, 2,
         "Missing option '--reference'"),
    case("edit swap-mouth sample:0 --reference {tmp}/missing.png -o {tmp}/e.png " + MODEL, 1,
         "image not found"),
    case("edit swap-eyes sample:0 --reference sample:99 -o {tmp}/e.png " + MODEL, 2,
         "sample:99 does not exist"),
    case("edit swap-brows sample:0 --reference sample:1 -o {tmp}/no/such/e.png " + MODEL, 1,
         "folder {tmp}/no/such does not exist"),
    case("edit swap-nose sample:0 --reference {fx}/text.txt -o {tmp}/e.png " + MODEL, 1,
         "not an image"),
    case("edit bangs sample:0 --mode sideways -o {tmp}/e.png " + MODEL, 2,
         "'sideways' is not one of 'add', 'remove'"),
    case("edit bangs sample:0 --mode add --depth 5 -o {tmp}/e.png " + MODEL, 2,
         "5.0 is not in the range 0.1<=x<=1.0"),
    case("edit bangs sample:0 --mode add --reference {fx}/cut.png -o {tmp}/e.png " + MODEL,
         1, "truncated or corrupt"),
    case("edit edit-mask sample:0 --new-mask {tmp}/missing.png -o {tmp}/e.png " + MODEL, 1,
         "image not found"),
    case("edit edit-mask sample:0 --new-mask {fx}/text.txt -o {tmp}/e.png " + MODEL, 1,
         "not an image"),
    case("edit mask-to-face {tmp}/missing.mask.png --styles sample:0 -o {tmp}/faces " + MODEL,
         1, "image not found"),
    case("edit mask-to-face sample:0 --styles {fx}/empty -o {tmp}/faces " + MODEL, 2,
         "no photos in folder {fx}/empty"),
    case("edit mask-to-face sample:0 --styles sample:1 --background {tmp}/missing.png "
         "-o {tmp}/faces " + MODEL, 1, "image not found"),
    case("edit mask-to-face sample:0 --styles sample:0 --styles sample:1 -o {fx}/text.txt "
         + MODEL, 1, "{fx}/text.txt already exists: add --overwrite"),
    case("edit mask-to-face sample:0 --styles sample:0 --styles sample:1 -o {fx}/text.txt "
         "--overwrite " + MODEL, 2, "several results need a folder"),
]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fx(tiny_home, tmp_path_factory):
    """Bad and good inputs shared by every case; cases must leave this folder unchanged."""
    from mgpe_core.checkpoint import save_checkpoint
    from mgpe_core.io import read_json, write_image
    from mgpe_core.registry import load_model
    from mgpe_core.samples import load_sample
    from mgpe_core.testing import make_prepared_folder

    root = tmp_path_factory.mktemp("sweep")
    (root / "empty").mkdir()
    (root / "text.txt").write_text("hello, I am not what you expected\n")
    (root / "bad.npz").write_bytes(b"not a zip")
    (root / "weights.pkl").write_bytes(pickle.dumps({"fc.bias": [0.0] * 3}))
    buf = io.BytesIO()
    Image.fromarray(load_sample(0)[0]).save(buf, format="PNG")
    (root / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (root / "imgs").mkdir()
    for i in range(2):
        write_image(root / "imgs" / f"{i}.png", load_sample(i)[0][::8, ::8])
    make_prepared_folder(root / "prep", count=6, size=64)
    from mgpe_core.labels import get_schema
    from mgpe_core.model.config import ParserConfig
    from mgpe_core.model.parser import UNetParser
    from mgpe_core.train.parser_io import save_parser

    pcfg = ParserConfig(base_channels=4, depth=2)
    m11 = get_schema("mgpe-11")
    save_parser(root / "parser", UNetParser(m11, pcfg), pcfg, m11, 64)
    make_prepared_folder(root / "prepbad", count=6, size=64)
    (root / "prepbad" / "labels" / "00000.png").write_text("not a label map")
    make_prepared_folder(root / "badmanifest", count=2, size=64)
    (root / "badmanifest" / "manifest.json").write_text("{bad")
    # a model folder whose generator weights changed after it was written
    shutil.copytree(tiny_home / "models" / "tiny", root / "tampered")
    weights = root / "tampered" / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    # a training run: one complete checkpoint holding the tiny model's generator
    tiny = load_model("tiny")
    state = {k: v.clone() for k, v in tiny.generator.state_dict().items()}
    tensors = {**{f"generator.{k}": v for k, v in state.items()},
               **{f"ema.{k}": v for k, v in state.items()}}
    config = read_json(tiny_home / "models" / "tiny" / "config.json")["config"]
    save_checkpoint(root / "run" / "checkpoints", 1, tensors, {"config": config})
    return root


def _tree(*roots) -> list[str]:
    return sorted(str(p) for root in roots for p in root.rglob("*"))


def _fill(text: str, fx, tmp, home) -> str:
    return text.format(fx=fx, tmp=tmp, home=home)


def _check_one_error(err: str, report: bool) -> None:
    """One ``Error: ...`` line, last; before it only click's usage lines (or the report)."""
    assert "Traceback" not in err and "Internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: "), err
    assert sum("Error:" in line for line in lines) == 1, err
    if not report:
        assert all(line.startswith(("Usage: ", "Try '", "warning: ")) for line in lines[:-1]), err


# -- the sweep ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, code, fragment, report", CASES)
def test_bad_input(tiny_home, fx, tmp_path, capsys, argv, code, fragment, report):
    out = tmp_path / "out"  # the case's outputs: must stay empty
    out.mkdir()
    args = [_fill(a, fx, out, tiny_home) for a in argv]
    before = _tree(fx, tiny_home / "models")
    got = main(args)
    err = capsys.readouterr().err
    assert got == code, err
    assert _fill(fragment, fx, out, tiny_home) in err, err
    _check_one_error(err, report)
    assert _tree(out) == [], "output or temporary files left behind"
    assert _tree(fx, tiny_home / "models") == before, "inputs or the registry changed"


def test_declined_remove_keeps_the_model(tiny_home, tmp_path, capsys, monkeypatch):
    """``models remove`` without --yes, answered by end of input: aborted, model kept."""
    home = tmp_path / "home"
    shutil.copytree(tiny_home / "models" / "tiny", home / "models" / "mine")
    monkeypatch.setenv("MGPE_HOME", str(home))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["models", "remove", "mine"]) == 1
    cap = capsys.readouterr()
    assert "Aborted" in cap.err and "Traceback" not in cap.err
    assert (home / "models" / "mine" / "config.json").is_file()


def test_debug_shows_file_system_errors_as_tracebacks(tmp_path):
    """The OSError branch of the policy keeps --debug's promise: the real exception."""
    with pytest.raises(OSError, match="too long"):  # ENAMETOOLONG from the file system
        main(["--debug", "data", "synth", str(tmp_path / ("x" * 300)), "--count", "1",
              "--size", "64", "--no-preview"])


# -- coverage of the command tree -----------------------------------------------------------


def _walk(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]):
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            yield from _walk(sub, click.Context(sub, parent=ctx, info_name=name), path + (name,))
    else:
        yield " ".join(path)


def _command_of(argv: list[str]) -> str:
    """The command an argv runs, e.g. 'edit style' (a group's name for unknown sub-commands)."""
    cmd, ctx, path = cli, click.Context(cli, info_name="mgpe"), []
    for token in argv:
        if token.startswith("-") or not isinstance(cmd, click.Group):
            break
        sub = cmd.get_command(ctx, token)
        if sub is None:
            break
        path.append(token)
        cmd, ctx = sub, click.Context(sub, parent=ctx, info_name=token)
    return " ".join(path)


def test_every_command_has_a_case():
    commands = set(_walk(cli, click.Context(cli, info_name="mgpe"), ()))
    # the walk itself works: it finds plugin commands and every built-in operation
    assert {"data synth", "data prepare", "data check", "train", "train-parser", "parse",
            "eval", "fid", "demo", "models import", "models verify", "plugins",
            "edit style", "edit swap-mouth", "edit mask-to-face"} <= commands
    covered = {_command_of(p.values[0]) for p in CASES}
    missing = sorted(commands - covered)
    assert not missing, f"commands without a bad-input case in {__name__}: {missing}"
    # the groups are --help only; an unknown sub-command of each is a case
    groups = {c.split()[0] for c in commands if " " in c}
    assert groups | {""} <= covered
