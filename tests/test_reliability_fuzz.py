"""Reliability fuzzing through the real CLI (issue 21, "Done when"): seeded random variations of
three families of bad input, each case asserting the exit code, exactly one ``Error:`` line, no
traceback / "Internal error", and no file changed or left behind.

1. fuzzed JSON files (truncations, type swaps, deletions): a prepared folder's manifest.json
   (``data check``), a model's config.json / manifest.json (``models info`` / ``verify``,
   ``edit --model``), a run's run.json and a checkpoint sidecar (``models import``): exit 1;
   a deletion may remove an optional field, so exit 0 is accepted for deletions only.
2. random bytes in PNG chunks (huge IHDR sizes, random ``mgpe-schema`` / ``mgpe-classes`` text,
   truncations, byte flips in IDAT), as a photo, as a ``--mask``, to ``parse`` and ``edit``: exit 1.
3. random model-folder damage (a weights file deleted, truncated, bit-flipped, renamed, or
   replaced by a link leading outside the folder), ``models verify`` and ``edit --model``: exit 1.

Randomness is numpy's default_rng with fixed seeds: every case is reproducible by its id.
"""

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mgpe_cli.main import main

N_JSON = 20   # per JSON target
N_PNG = 8     # per PNG mutation kind
N_MODEL = 3   # per model damage kind


# -- the common check ---------------------------------------------------------------------------

def snapshot(*roots) -> dict:
    """Every path under the roots (links not followed): size and mtime."""
    out = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def refused(capsys, argv, roots, codes=(1,), outputs=()):
    """Run argv; assert the exit code, one Error: line, no traceback, nothing changed or left."""
    before = snapshot(*roots)
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert "Traceback" not in text and "Internal error" not in text, (argv, text)
    after = snapshot(*roots)
    if code == 0 and 0 in codes:  # accepted (an optional field deleted): only its outputs appear
        def mine(k):  # an expected output, or a path inside one (an imported model folder)
            return any(k in (str(o), str(Path(o).parent)) or k.startswith(str(o) + os.sep)
                       for o in outputs)

        before = {k: v for k, v in before.items() if not mine(k)}
        after = {k: v for k, v in after.items() if not mine(k)}
        assert after == before, (argv, set(after) ^ set(before))
        return code, cap.err
    assert code in codes, (argv, code, cap.err)
    errors = [line for line in cap.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, (argv, cap.err)
    added = set(after) - set(before)
    assert not added, (argv, added)
    assert after == before, (argv, {k for k in before if before[k] != after.get(k)})
    assert not any(Path(k).name.startswith(".") or k.endswith(".tmp") for k in after
                   if k not in before), argv
    return code, cap.err


# -- JSON mutations -------------------------------------------------------------------------------

def _kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


REPLACEMENTS = [None, [], [1, "x"], 3, -7.5, True, "junk", {"a": {"b": [None]}}, "", {}]


def _paths(data, prefix=()):
    """Paths to every value inside dicts (lists entered too)."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _get(data, path):
    for p in path:
        data = data[p]
    return data


def mutate_json(text: str, rng, top_only=False):
    """A random damaged version of a JSON document: (kind, new text)."""
    data = json.loads(text)
    kind = ["truncate", "swap", "swap", "delete", "whole"][rng.integers(5)]
    paths = [p for p in _paths(data) if not top_only or len(p) == 1]
    if kind == "truncate":
        return kind, text[:int(rng.integers(0, len(text) - 1))]
    if kind == "whole" or not paths:
        return "whole", json.dumps(REPLACEMENTS[rng.integers(len(REPLACEMENTS))])
    path = paths[rng.integers(len(paths))]
    parent = _get(data, path[:-1])
    if kind == "delete":
        del parent[path[-1]]
        return kind, json.dumps(data)
    old = _kind(parent[path[-1]])
    choices = [r for r in REPLACEMENTS if _kind(r) != old]
    parent[path[-1]] = new = choices[rng.integers(len(choices))]
    return ("swap-null" if new is None else kind), json.dumps(data)


# -- fixtures -------------------------------------------------------------------------------------



def _edit_argv(tmp_path, model="m"):
    return ["edit", "swap-mouth", "sample:5", "--reference", "sample:6", "--model", model,
            "-o", tmp_path / "out.png"]


# -- family 1: fuzzed JSON files ------------------------------------------------------------------

def seeds(n, bugs=None):
    """range(n) as parameters, the seeds of cases that find a known bug marked xfail (strict)."""
    bugs = bugs or {}
    return [pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=bugs[s]) if s in bugs
                         else ()) for s in range(n)]


MANIFEST_BUGS: dict = {}  # seeds 3, 5, 8, 14 found bugs, fixed in LabelSchema.from_dict
MODEL_JSON_BUGS: dict = {}  # ("config.json", 14) found a bug, fixed: parser entries have a shape
SIDECAR_BUGS: dict = {}  # seeds 10, 13, 15, 16 found bugs, fixed: import_run validates


@pytest.mark.parametrize("seed", seeds(N_JSON, MANIFEST_BUGS))
def test_fuzzed_prepared_manifest(tmp_path, capsys, seed):
    from mgpe_core.testing import make_prepared_folder

    rng = np.random.default_rng(1000 + seed)
    root = make_prepared_folder(tmp_path / "prep", 3).root
    path = root / "manifest.json"
    kind, text = mutate_json(path.read_text(), rng)
    path.write_text(text)
    codes = (0, 1) if kind == "delete" else (1,)
    refused(capsys, ["data", "check", root], [tmp_path], codes)


@pytest.mark.parametrize("file, seed", [
    pytest.param(f, s, marks=pytest.mark.xfail(strict=True, reason=MODEL_JSON_BUGS[f, s])
                 if (f, s) in MODEL_JSON_BUGS else ())
    for f in ("config.json", "manifest.json") for s in range(N_JSON)])
def test_fuzzed_model_json(home, tmp_path, capsys, seed, file):
    rng = np.random.default_rng(2000 + seed + (100 if file == "manifest.json" else 0))
    path = home / "models" / "m" / file
    kind, text = mutate_json(path.read_text(), rng)
    path.write_text(text)
    commands = [["models", "verify", "m"], _edit_argv(tmp_path)]
    if file == "config.json":
        commands.append(["models", "info", "m"])
    argv = commands[rng.integers(len(commands))]
    codes = (0, 1) if kind == "delete" else (1,)
    refused(capsys, argv, [tmp_path], codes, outputs=[tmp_path / "out.png"])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder: run.json naming a parser, one complete checkpoint of a tiny generator."""
    from conftest import TINY

    from mgpe_core.checkpoint import save_checkpoint
    from mgpe_core.model.build import build_networks
    from mgpe_core.model.config import MgpeConfig

    root = tmp_path_factory.mktemp("run") / "run"
    cfg = MgpeConfig.from_dict({"model": TINY})
    gen = build_networks(cfg.model).generator.state_dict()
    tensors = {f"{group}.{k}": v for group in ("generator", "ema") for k, v in gen.items()}
    save_checkpoint(root / "checkpoints", 5, tensors, {"config": cfg.to_dict()})
    (root / "run.json").write_text(json.dumps({"data": "/nowhere", "parser": "m", "device": "cpu",
                                               "world_size": 1, "pid": 123,
                                               "parameters": {"generator": 10}}))
    return root


@pytest.mark.parametrize("seed", range(N_JSON))
def test_fuzzed_run_json(home, tmp_path, capsys, seed, run_folder):
    rng = np.random.default_rng(3000 + seed)
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    path = run / "run.json"
    kind, text = mutate_json(path.read_text(), rng)
    path.write_text(text)
    # every key of run.json is optional and null means absent: deleting / nulling one is fine
    codes = (0, 1) if kind in ("delete", "swap-null") else (1,)
    refused(capsys, ["models", "import", run, "--name", "x"], [tmp_path], codes,
            outputs=[home / "models" / "x"])


@pytest.mark.parametrize("seed", seeds(N_JSON, SIDECAR_BUGS))
def test_fuzzed_checkpoint_sidecar(home, tmp_path, capsys, seed, run_folder):
    rng = np.random.default_rng(4000 + seed)
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    (sidecar,) = (run / "checkpoints").rglob("*.json")
    kind, text = mutate_json(sidecar.read_text(), rng)
    sidecar.write_text(text)
    codes = (0, 1) if kind == "delete" else (1,)
    source = [sidecar, run][rng.integers(2)]  # the sidecar itself, or its run (run.json's parser)
    refused(capsys, ["models", "import", source, "--name", "x"], [tmp_path], codes,
            outputs=[home / "models" / "x"])


# -- family 2: random bytes in PNG chunks ---------------------------------------------------------

def _chunks(data: bytes):
    """[(type, payload)] of a PNG file."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        out.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return out


def _png(chunks, fix_crc=True) -> bytes:
    body = b"".join(len(d).to_bytes(4, "big") + t + d
                    + (zlib.crc32(t + d) if fix_crc else 0).to_bytes(4, "big")
                    for t, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + body


def huge_ihdr(data, rng):
    chunks = _chunks(data)
    t, d = chunks[0]
    w, h = (int(x) for x in rng.integers(15000, 2 ** 16, size=2))
    chunks[0] = (t, struct.pack(">II", w, h) + d[8:])
    return _png(chunks)


def truncated(data, rng):
    return data[:int(rng.integers(0, len(data) - 12))]


def idat_flips(data, rng):
    chunks = _chunks(data)
    i = next(k for k, (t, _) in enumerate(chunks) if t == b"IDAT")
    payload = bytearray(chunks[i][1])
    for pos in rng.integers(0, min(len(payload), 64), size=int(rng.integers(1, 6))):
        payload[pos] ^= int(rng.integers(1, 256))
    chunks[i] = (b"IDAT", bytes(payload))
    return _png(chunks, fix_crc=bool(rng.integers(2)))


def _valid_names(text):
    try:
        names = json.loads(text)
    except ValueError:
        return False
    return isinstance(names, list) and all(isinstance(n, str) for n in names)


def _random_text(rng):
    pool = ['["background", ', "{", "null", "[1, 2]", '{"a": 1}', "nope-schema", "\\u0000",
            '"unterminated', "[[[[", "1e999", "[]"]
    parts = [pool[rng.integers(len(pool))] for _ in range(int(rng.integers(1, 4)))]
    raw = rng.integers(32, 255, size=int(rng.integers(0, 12))).astype(np.uint8).tobytes()
    return "".join(parts) + raw.decode("latin-1")


PNG_KINDS = {"huge-ihdr": huge_ihdr, "truncated": truncated, "idat-flips": idat_flips}


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    from mgpe_core.io import write_image, write_label_map
    from mgpe_core.labels import get_schema
    from mgpe_core.samples import load_sample

    root = tmp_path_factory.mktemp("photo")
    img, lab = load_sample(0)
    write_image(root / "photo.png", img)
    write_label_map(root / "photo.mask.png", lab, get_schema("celebamask-19"))
    return root


def _setup(tmp_path, photo_files):
    d = tmp_path / "in"
    shutil.copytree(photo_files, d)
    return d


def _png_argvs(d, tmp_path, target):
    out = tmp_path / "out.png"
    edit = ["edit", "style", d / "photo.png", "--from", "sample:1", "--model", "tiny",
            "--align", "whole", "-o", out]
    if target == "photo":
        return [edit, ["parse", d / "photo.png", "--model", "tiny", "-o", tmp_path / "p.mask.png"]]
    if target == "mask":  # beside the photo, or given with --mask
        shutil.copy(d / "photo.mask.png", d / "given.png")
        return [edit, edit + ["--mask", d / "given.png"]]
    raise AssertionError(target)


@pytest.mark.parametrize("seed", range(N_PNG))
@pytest.mark.parametrize("kind", sorted(PNG_KINDS))
@pytest.mark.parametrize("target", ["photo", "mask"])
def test_random_bytes_in_png(tiny_home, photo_files, tmp_path, capsys, seed, kind, target):
    rng = np.random.default_rng([5000, seed, sorted(PNG_KINDS).index(kind), target == "mask"])
    d = _setup(tmp_path, photo_files)
    argvs = _png_argvs(d, tmp_path, target)
    argv = argvs[rng.integers(len(argvs))]
    victim = (d / "given.png") if "--mask" in argv else (
        d / ("photo.png" if target == "photo" else "photo.mask.png"))
    victim.write_bytes(PNG_KINDS[kind](victim.read_bytes(), rng))
    refused(capsys, argv, [tmp_path], (1,))


@pytest.mark.parametrize("seed", range(N_PNG))
@pytest.mark.parametrize("chunk", ["mgpe-schema", "mgpe-classes"])
def test_random_schema_text_chunks(tiny_home, photo_files, tmp_path, capsys, seed, chunk):
    from mgpe_core.labels import get_schema

    rng = np.random.default_rng([6000, seed, chunk == "mgpe-classes"])
    d = _setup(tmp_path, photo_files)
    argv = _png_argvs(d, tmp_path, "mask")[rng.integers(2)]
    victim = (d / "given.png") if "--mask" in argv else d / "photo.mask.png"
    texts = {"mgpe-schema": "celebamask-19",
             "mgpe-classes": json.dumps(list(get_schema("celebamask-19").classes))}
    if chunk == "mgpe-classes" and rng.integers(2):
        texts[chunk] = mutate_json(texts[chunk], rng)[1]
        if _valid_names(texts[chunk]):  # a deleted name still makes a list of names: cut it
            texts[chunk] = texts[chunk][:-1]
    else:
        texts[chunk] = _random_text(rng)
    lab = np.asarray(Image.open(victim))
    info = PngInfo()
    for k, v in texts.items():
        info.add_text(k, v)
    Image.fromarray(lab.astype(np.uint8), mode="L").save(victim, pnginfo=info)
    refused(capsys, argv, [tmp_path], (1,))


# -- family 3: random model-folder damage ---------------------------------------------------------

def _weights(folder, rng):
    files = sorted(folder.glob("*.safetensors"))
    return files[rng.integers(len(files))]


def _delete(folder, rng, tmp_path):
    _weights(folder, rng).unlink()


def _truncate(folder, rng, tmp_path):
    w = _weights(folder, rng)
    data = w.read_bytes()
    w.write_bytes(data[:int(rng.integers(0, len(data)))])


def _bitflip(folder, rng, tmp_path):
    w = _weights(folder, rng)
    data = bytearray(w.read_bytes())
    for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
        data[pos] ^= 1 << int(rng.integers(8))
    w.write_bytes(bytes(data))


def _rename(folder, rng, tmp_path):
    w = _weights(folder, rng)
    w.rename(w.with_name(w.stem + "-old" + w.suffix))


def _link_outside(folder, rng, tmp_path):
    w = _weights(folder, rng)
    outside = tmp_path / "elsewhere" / w.name
    outside.parent.mkdir()
    shutil.move(w, outside)
    os.symlink(outside, w)


def _extra_weights_file(folder, rng, tmp_path):
    # an unlisted file beside a listed one that is gone: the unlisted one is never used instead
    w = _weights(folder, rng)
    shutil.copy(w, folder / ("x" + w.name))
    w.unlink()


DAMAGE = {"delete": _delete, "truncate": _truncate, "bitflip": _bitflip, "rename": _rename,
          "link-outside": _link_outside, "extra-file": _extra_weights_file}


@pytest.mark.parametrize("seed", range(N_MODEL))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_random_model_folder_damage(home, tmp_path, capsys, seed, damage):
    rng = np.random.default_rng([7000, seed, sorted(DAMAGE).index(damage)])
    DAMAGE[damage](home / "models" / "m", rng, tmp_path)
    argv = [["models", "verify", "m"], _edit_argv(tmp_path)][rng.integers(2)]
    refused(capsys, argv, [tmp_path], (1,))


def test_an_extra_file_alone_is_harmless(home, tmp_path, capsys):
    """An unlisted extra file in a model folder is not an error (and is left alone)."""
    (home / "models" / "m" / "notes.txt").write_text("mine")
    assert main(["models", "verify", "m"]) == 0
    assert (home / "models" / "m" / "notes.txt").read_text() == "mine"
    assert "Traceback" not in capsys.readouterr().err


# -- controls: the same commands on undamaged inputs succeed (each refusal above is the damage's)

def test_controls_succeed_undamaged(home, tmp_path, capsys, run_folder, photo_files):
    from mgpe_core.testing import make_prepared_folder

    root = make_prepared_folder(tmp_path / "prep", 3).root
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    assert main(["data", "check", str(root)]) == 0
    assert main(["models", "verify", "m"]) == 0
    assert main(["models", "info", "m"]) == 0
    assert main([str(a) for a in _edit_argv(tmp_path)]) == 0
    assert main(["models", "import", str(run), "--name", "x"]) == 0, capsys.readouterr().err
    d = _setup(tmp_path, photo_files)
    shutil.copytree(home / "models" / "m", home / "models" / "tiny")
    for i, argv in enumerate(_png_argvs(d, tmp_path, "photo") + _png_argvs(d, tmp_path, "mask")):
        argv = [str(a) for a in argv]
        argv[argv.index("-o") + 1] += f".{i}.png"
        assert main(argv) == 0, (argv, capsys.readouterr().err)


def test_sidecar_config_without_a_schema_through_the_run(home, tmp_path, capsys, run_folder):
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    (sidecar,) = (run / "checkpoints").rglob("*.json")
    data = json.loads(sidecar.read_text())
    del data["config"]["model"]["schema"]
    sidecar.write_text(json.dumps(data))
    refused(capsys, ["models", "import", run, "--name", "x"], [tmp_path], (1,),
            outputs=[home / "models" / "x"])
