"""The built-in models that ship in the package: present, verified, within the size budget, with
their recipe and measured metrics on record, the eye-mask variant real, and the main job
(`mgpe demo`, one `mgpe edit`) working with them out of the box."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from mgpe_cli.main import main
from mgpe_core.io import read_image
from mgpe_core.registry import (
    DEFAULT_MODEL,
    find_model,
    load_model,
    model_variants,
    read_model_config,
    verify,
)

MAIN, VARIANT = "mgpe-synth-128", "mgpe-synth-128-eyemask"
MODEL_DATA = Path(__file__).resolve().parents[1] / "mgpe_plugins" / "model_data"


@pytest.mark.parametrize("name", [MAIN, VARIANT])
def test_builtin_model_is_shipped_verified_and_documented(name):
    entry = find_model(name)
    assert entry.source.startswith("builtin:") and entry.path == MODEL_DATA / name
    assert verify(entry.path)["ok"]
    meta = read_model_config(entry.path)
    recipe = meta["recipe"]
    for key in ("data_command", "parser_command", "train_command", "step", "train_seconds",
                "machine"):
        assert recipe.get(key), key
    assert "--seed 128" in recipe["data_command"] and "mgpe train " in recipe["train_command"]
    # a recipe reads the same anywhere: no absolute path of the machine it was trained on
    absolute = [v for v in _strings(meta) if re.match(r"^(/|[A-Za-z]:\\)", v)]
    assert not absolute, absolute
    assert recipe["run"] and "/" not in recipe["run"]
    metrics = meta["metrics"]
    assert metrics["eval_n"] == 500
    for key in ("psnr", "ssim", "mask_miou", "parser_miou_real", "style_removed", "locality",
                "locality_generator"):
        assert isinstance(metrics[key], float), key
    assert meta["config"]["model"]["resolution"] == 128


def test_variant_is_a_trained_eye_mask_model_sharing_the_parser():
    main_meta, var_meta = (read_model_config(find_model(n).path) for n in (MAIN, VARIANT))
    assert DEFAULT_MODEL == MAIN and main_meta["variants"] == {"eye-mask": VARIANT}
    assert var_meta["variant"] == "eye-mask" and var_meta["variant_of"] == MAIN
    assert model_variants(MAIN) == model_variants(VARIANT) == {"eye-mask": VARIANT}
    assert main_meta["config"]["model"]["eye_window"] == "fixed"
    assert var_meta["config"]["model"]["eye_window"] == "mask"
    assert "--set model.eye_window=mask" in var_meta["recipe"]["train_command"]
    a, b = load_model(MAIN), load_model(MAIN, variant="eye-mask")
    assert b.name == VARIANT
    sa, sb = a.generator.state_dict(), b.generator.state_dict()
    assert sa.keys() == sb.keys()
    assert any(not np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)  # trained apart
    # one parser ships, in the default model; the variant uses it
    assert var_meta["parser"] == {"model": MAIN} and "parser" not in var_meta["weights"]
    assert sorted(MODEL_DATA.glob("*/parser.safetensors")) == [
        MODEL_DATA / MAIN / "parser.safetensors"]
    pa, pb = a.parser.state_dict(), b.parser.state_dict()
    assert all(np.array_equal(pa[k].numpy(), pb[k].numpy()) for k in pa)
    assert find_model(VARIANT).describe()["has_parser"]


@pytest.mark.parametrize("name", [MAIN, VARIANT])
def test_config_builds_exactly_the_shipped_networks(name):
    """config.json is the truth: its model config builds a generator and a parser whose state
    dicts have exactly the keys and shapes of the shipped tensors, and names the parser that
    ships (``config.model.parser`` == ``parser.config``)."""
    from safetensors import safe_open

    from mgpe_core.model.build import build_generator, build_parser
    from mgpe_core.model.config import MgpeConfig, ParserConfig
    from mgpe_core.typed_config import from_dict

    def shapes(file):
        with safe_open(str(file), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}

    folder = find_model(name).path
    meta = read_model_config(folder)
    cfg = MgpeConfig.from_dict(meta["config"]).model
    parser_folder = find_model(meta["parser"].get("model", name)).path
    parser_meta = read_model_config(parser_folder)
    assert cfg.parser == from_dict(ParserConfig, parser_meta["parser"]["config"], "parser")
    gen = {k: tuple(v.shape) for k, v in build_generator(cfg).state_dict().items()}
    for key in ("generator", "generator_ema"):
        assert shapes(folder / meta["weights"][key]) == gen, key
    parser = {k: tuple(v.shape) for k, v in build_parser(cfg).state_dict().items()}
    assert shapes(parser_folder / parser_meta["weights"]["parser"]) == parser


def test_builtin_weights_fit_the_package_budget():
    total = sum(f.stat().st_size for f in MODEL_DATA.glob("*/*.safetensors"))
    assert 0 < total <= 60 * 10**6


def test_demo_runs_with_the_default_model(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == MAIN and summary["skipped"] == []
    assert summary["figures"] == ["mask_to_face.png", "component_edits.png",
                                  "style_transfer.png", "eye_mask_variant.png"]
    for name in summary["figures"]:
        assert read_image(out / name).std() > 10  # a picture, not a blank


def test_one_edit_with_the_default_model(tmp_path, capsys):
    out = tmp_path / "open.png"
    code = main(["edit", "swap-mouth", "sample:5", "--reference", "sample:6", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    edited = read_image(out)
    assert edited.shape == (256, 256, 3)  # the sample's own size, not the model's 128 px
    # only the mouth's surroundings changed: the rest is the photo, pixel for pixel
    from mgpe_core.samples import load_sample

    photo = load_sample(5)[0]
    changed = (edited != photo).any(2)
    rows = np.flatnonzero(changed.any(1))
    assert changed.any() and rows.min() > 256 * 0.5  # all below the eyes


def _strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node
