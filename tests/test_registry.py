"""Model registry: listing, lookup with suggestions, variants, shared parsers, verification (each
file read and hashed once per load), import/export/remove, run.json."""

import json

import pytest
import torch

from mgpe_cli.main import main
from mgpe_core.registry import (
    ModelError,
    ModelNotFound,
    find_model,
    list_models,
    load_model,
    read_model_config,
    verify,
)


def test_list_and_find(tiny_home):
    names = {m.name for m in list_models()}
    assert {"tiny", "tiny-eyemask", "tiny-noparser"} <= names
    assert [m.name for m in list_models("tiny-e*")] == ["tiny-eyemask"]
    with pytest.raises(ModelNotFound, match="Did you mean: tiny"):
        find_model("tinny")


def test_load_verifies_and_builds(tiny_home):
    model = load_model("tiny")
    assert model.weights == "ema" and model.parser is not None and model.resolution == 64
    assert model.config.model.label_schema.name == "mgpe-11"
    out = model.generator(torch.zeros(1, 3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.long),
                          torch.zeros(1, 3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.long))
    assert out["image"].shape == (1, 3, 64, 64)
    assert load_model("tiny-noparser").parser is None


def test_tampered_or_missing_weights_are_refused(tiny_home, tmp_path):
    from mgpe_core.registry import export_model

    copy = export_model("tiny", tmp_path / "copy")
    assert verify(copy)["ok"]
    data = bytearray((copy / "generator_ema.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "generator_ema.safetensors").write_bytes(bytes(data))
    report = verify(copy)
    assert not report["ok"] and report["files"]["generator_ema.safetensors"] == "checksum mismatch"
    with pytest.raises(ModelError, match="failed verification.*checksum mismatch"):
        load_model(str(copy))
    (copy / "parser.safetensors").unlink()
    assert verify(copy)["files"]["parser.safetensors"] == "missing"


def test_pickle_weights_are_refused(tiny_home, tmp_path):
    import hashlib

    from mgpe_core.registry import export_model

    copy = export_model("tiny", tmp_path / "pickled")
    torch.save({"w": torch.ones(1)}, copy / "generator_ema.safetensors")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["generator_ema.safetensors"] = hashlib.sha256(
        (copy / "generator_ema.safetensors").read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="looks like a pickle"):
        load_model(str(copy))


def test_cli_models_list_info_verify(tiny_home, capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    tiny = next(r for r in rows if r["name"] == "tiny")
    assert tiny["source"] == "user" and tiny["resolution"] == 64 and tiny["has_parser"]
    assert tiny["variants"] == {"eye-mask": "tiny-eyemask"}
    assert main(["models", "info", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["model"]["resolution"] == 64
    assert main(["models", "verify", "tiny"]) == 0
    assert main(["models", "info", "tinyy"]) == 2
    assert "Did you mean: tiny" in capsys.readouterr().err


@pytest.mark.slow
def test_import_run_export_remove(tiny_home, tmp_path, capsys):
    from conftest import TINY

    from mgpe_core.labels import get_schema
    from mgpe_core.model.config import MgpeConfig, ParserConfig
    from mgpe_core.testing import make_prepared_folder
    from mgpe_core.train.parser_trainer import train_parser
    from mgpe_core.train.trainer import Trainer

    data = tmp_path / "data"
    make_prepared_folder(data, count=6, size=64, schema_name="mgpe-11", seed=1)
    train_parser(data, tmp_path / "parser", get_schema("mgpe-11"), steps=1, batch=2,
                 cfg=ParserConfig(base_channels=4, depth=2))
    cfg = MgpeConfig.from_dict({"model": TINY, "train": {"batch": 2}})
    trainer = Trainer(cfg, data, tmp_path / "run", tmp_path / "parser", torch.device("cpu"),
                      log=lambda *a: None)
    trainer.run(1)
    (tmp_path / "run" / "run.json").write_text(json.dumps({"parser": str(tmp_path / "parser")}))
    assert main(["models", "import", str(tmp_path / "run"), "--name", "from-run"]) == 0
    model = load_model("from-run")
    for k, v in trainer.ema.state_dict().items():
        assert torch.equal(model.generator.state_dict()[k], v)
    assert model.parser is not None
    recipe = read_model_config(find_model("from-run").path)["recipe"]
    assert recipe["run"] == "run" and recipe["checkpoint"].startswith("checkpoints/step-")
    # a checkpoint inside the run folder: the run's parser too (run.json)
    sidecar = sorted((tmp_path / "run" / "checkpoints").glob("step-*.json"))[-1]
    assert main(["models", "import", str(sidecar), "--name", "from-ckpt"]) == 0
    assert load_model("from-ckpt").parser is not None
    assert main(["models", "remove", "from-ckpt", "--yes"]) == 0
    assert main(["models", "import", str(tmp_path / "run"), "--name", "from-run"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["models", "export", "from-run", str(tmp_path / "exported")]) == 0
    assert verify(tmp_path / "exported")["ok"]
    assert main(["models", "remove", "from-run", "--yes"]) == 0
    assert "from-run" not in {m.name for m in list_models()}
    assert main(["models", "import", str(tmp_path / "run"), "--name", "bad/name"]) == 2


def test_half_precision_model_loads_into_float32(tiny_home, tmp_path):
    from conftest import TINY
    from safetensors.torch import load_file

    from mgpe_core.model.build import build_networks
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.registry import write_model_folder

    torch.manual_seed(0)
    cfg = MgpeConfig.from_dict({"model": TINY})
    gen = build_networks(cfg.model).generator
    path = write_model_folder(tmp_path / "half", {"name": "half", "config": cfg.to_dict()},
                              {"generator": gen.state_dict()}, half=True)
    stored = load_file(str(path / "generator.safetensors"))
    assert all(v.dtype in (torch.float16, torch.int64) for v in stored.values())
    model = load_model(str(path))
    for k, v in gen.state_dict().items():
        got = model.generator.state_dict()[k]
        assert got.dtype == v.dtype and torch.allclose(got.float(), v.float(), atol=2e-3,
                                                       rtol=1e-3)


@pytest.mark.slow
def test_default_weights_pick_the_generator_a_model_ships_for_editing(tmp_path):
    """A model may declare that its trained (raw) generator edits by default, e.g. when it
    measured better than the EMA; weights= still picks either explicitly."""
    import torch

    from mgpe_core.model.build import build_networks
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.registry import ModelError, load_model, write_model_folder

    cfg = MgpeConfig.from_dict({"model": {"resolution": 64, "width": 0.125, "latent_dim": 16,
                                          "res_blocks": 1}})
    torch.manual_seed(0)
    raw = build_networks(cfg.model).generator.state_dict()
    torch.manual_seed(1)
    ema = build_networks(cfg.model).generator.state_dict()
    meta = {"name": "m", "config": cfg.to_dict()}
    tensors = {"generator": raw, "generator_ema": ema}
    plain = write_model_folder(tmp_path / "plain", meta, tensors)
    prefers_raw = write_model_folder(tmp_path / "raw", {**meta, "default_weights": "raw"},
                                     tensors)
    odd = write_model_folder(tmp_path / "odd", {**meta, "default_weights": "best"}, tensors)

    def same(model, state):
        return all(torch.equal(model.generator.state_dict()[k], v) for k, v in state.items())

    assert load_model(plain).weights == "ema" and same(load_model(plain), ema)
    assert load_model(prefers_raw).weights == "raw" and same(load_model(prefers_raw), raw)
    assert same(load_model(prefers_raw, weights="ema"), ema)
    with pytest.raises(ModelError, match="weights must be 'ema' or 'raw', not 'best'"):
        load_model(odd)


# -- variants, shared parsers, reading each file once ------------------------------------------


def _model(root, name, seed=0, parser_from=None, **meta):
    """A tiny model folder (random weights) with extra config.json keys; it ships a parser, or
    with ``parser_from`` uses that model's."""
    from conftest import TINY

    from mgpe_core.model.build import build_networks
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.registry import write_model_folder
    from mgpe_core.typed_config import to_dict

    torch.manual_seed(seed)
    cfg = MgpeConfig.from_dict({"model": TINY})
    nets = build_networks(cfg.model)
    tensors = {"generator": nets.generator.state_dict(),
               "generator_ema": nets.generator.state_dict()}
    if parser_from:
        meta["parser"] = {"model": parser_from}
    else:
        meta["parser"] = {"config": to_dict(cfg.model.parser)}
        tensors["parser"] = nets.parser.state_dict()
    return write_model_folder(root / name, {"name": name, "config": cfg.to_dict(), **meta},
                              tensors)


@pytest.fixture
def family(tmp_path, monkeypatch):
    """MGPE_HOME with 'base' (variants eye-mask, other, and 'ghost', not installed), its two
    variant models (the eye-mask one using base's parser), and 'plain' (no variants)."""
    models = tmp_path / "home" / "models"
    _model(models, "base", variants={"eye-mask": "base-eye", "other": "base-other",
                                     "ghost": "not-installed"})
    _model(models, "base-eye", seed=1, parser_from="base", variant="eye-mask",
           variant_of="base")
    _model(models, "base-other", seed=2, variant="other", variant_of="base")
    _model(models, "plain", seed=3)
    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    return models


def test_variants_resolve_by_the_registry_rules(family):
    from mgpe_core.errors import UsageError
    from mgpe_core.registry import model_variants

    def found(name, variant):
        return find_model(name, variant=variant).name

    assert found("base", None) == found("base", "default") == "base"
    assert found("base", "eye-mask") == "base-eye"
    # a variant asked for what it is, or for "default", is itself; it reaches its siblings
    assert found("base-eye", "eye-mask") == found("base-eye", "default") == "base-eye"
    assert found("base-eye", "other") == "base-other"
    assert found(family / "base-other", "other") == "base-other"  # also given as a folder
    table = {"eye-mask": "base-eye", "other": "base-other", "ghost": "not-installed"}
    assert model_variants("base") == model_variants("base-eye") == table
    assert model_variants("plain") == {}
    with pytest.raises(ModelError, match="the ghost variant of model base, 'not-installed', "
                                         "is not installed"):
        find_model("base", variant="ghost")
    with pytest.raises(UsageError, match=r"model base has no variant 'eye-mas' \(its variants: "
                                         r"default, eye-mask, ghost, other\).*Did you mean: "
                                         "eye-mask"):
        find_model("base", variant="eye-mas")
    with pytest.raises(UsageError, match=r"plain has no variant 'eye-mask' \(its variants: "
                                         r"default\)"):
        load_model("plain", variant="eye-mask")
    model = load_model("base", variant="eye-mask")
    assert model.name == "base-eye" and model.meta["variant_of"] == "base"
    assert main(["models", "info", "base-eye"]) == 0


def test_a_model_can_use_another_models_parser(family, tmp_path, capsys):
    base, eye = load_model("base"), load_model("base-eye")
    assert not (family / "base-eye" / "parser.safetensors").exists()
    for k, v in base.parser.state_dict().items():
        assert torch.equal(eye.parser.state_dict()[k], v), k
    info = find_model("base-eye").describe()
    assert info["has_parser"] and info["parser_from"] == "base"
    assert info["variant"] == "eye-mask" and info["variant_of"] == "base"
    report = verify(family / "base-eye")
    assert report["ok"] and report["files"]["base:parser.safetensors"] == "ok"
    from mgpe_core.registry import load_model_parser

    parser, schema = load_model_parser("base-eye")
    assert not any(p.requires_grad for p in parser.parameters()) and schema.name == "mgpe-11"
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["base-eye"]["has_parser"] and rows["base-eye"]["parser_from"] == "base"

    # the referenced model's own manifest guards its parser file
    pfile = family / "base" / "parser.safetensors"
    good = pfile.read_bytes()
    pfile.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    with pytest.raises(ModelError, match="base failed verification "
                                         r"\(parser.safetensors: checksum mismatch\)"):
        load_model("base-eye")
    assert verify(family / "base-eye")["files"]["base:parser.safetensors"] == "checksum mismatch"
    assert main(["models", "verify", "base-eye"]) == 1
    pfile.write_bytes(good)

    # a reference to a model that is not installed, or that has no parser of its own
    _model(family, "orphan", parser_from="gone")
    _model(family, "second-hand", parser_from="base-eye")
    with pytest.raises(ModelError, match="orphan uses the parser of model 'gone', which is not "
                                         "installed"):
        load_model("orphan")
    assert verify(family / "orphan")["files"] == {
        "generator.safetensors": "ok", "generator_ema.safetensors": "ok", "config.json": "ok",
        "gone:parser.safetensors": "model not installed"}
    with pytest.raises(ModelError, match="second-hand uses the parser of model 'base-eye', "
                                         "which ships no parser weights of its own"):
        load_model("second-hand")


def test_each_file_is_read_and_hashed_once_per_load(family, monkeypatch):
    """A load reads config.json, manifest.json and each weights file once and hashes each
    file once (the bytes hashed are the bytes loaded); a variant that uses its base's parser
    reads the base's config.json and parser file once too, and none of its other files."""
    import builtins
    import collections
    import hashlib
    import io

    import mgpe_core.checkpoint as ckpt

    opens, hashed, digests = collections.Counter(), collections.Counter(), [0]

    def counting_open(real):
        def wrapper(file, *a, **k):
            if str(file).startswith(str(family)):
                opens[str(Path(file).relative_to(family))] += 1
            return real(file, *a, **k)
        return wrapper

    def recording(real):
        def wrapper(path, *a, **k):
            hashed[str(Path(path).relative_to(family))] += 1
            return real(path, *a, **k)
        return wrapper

    real_sha = hashlib.sha256

    def counting_sha(*a, **k):
        digests[0] += 1
        return real_sha(*a, **k)

    from pathlib import Path

    find_model("base")  # plugins loaded before counting
    monkeypatch.setattr(builtins, "open", counting_open(builtins.open))
    monkeypatch.setattr(io, "open", counting_open(io.open))
    monkeypatch.setattr(ckpt, "read_hashed", recording(ckpt.read_hashed))
    monkeypatch.setattr(ckpt, "sha256_file", recording(ckpt.sha256_file))
    monkeypatch.setattr(hashlib, "sha256", counting_sha)

    load_model("base")
    files = ["config.json", "manifest.json", "generator.safetensors",
             "generator_ema.safetensors", "parser.safetensors"]
    assert opens == {f"base/{f}": 1 for f in files}
    assert hashed == {f"base/{f}": 1 for f in files if f != "manifest.json"}
    assert digests[0] == 4

    opens.clear(), hashed.clear()
    digests[0] = 0
    load_model("base", variant="eye-mask")  # base's config.json also names the variant
    mine = ["config.json", "manifest.json", "generator.safetensors", "generator_ema.safetensors"]
    want = {**{f"base-eye/{f}": 1 for f in mine},
            **{f"base/{f}": 1 for f in ("config.json", "manifest.json", "parser.safetensors")}}
    assert opens == want
    assert hashed == {k: 1 for k in want if not k.endswith("manifest.json")}
    assert digests[0] == 5


def test_a_trained_run_imports_as_a_model_its_config_describes(tmp_path, monkeypatch):
    """The run's config records the parser the run used (not the one the config asked for), so
    the imported model's config builds networks that fit its tensors exactly; a variant
    imported with its base's parser ships none of its own."""
    from conftest import TINY
    from safetensors.torch import load_file

    from mgpe_core.labels import get_schema
    from mgpe_core.model.blocks import count_parameters
    from mgpe_core.model.build import build_generator, build_parser
    from mgpe_core.model.config import MgpeConfig, ParserConfig
    from mgpe_core.registry import import_run
    from mgpe_core.testing import make_prepared_folder
    from mgpe_core.train.parser_trainer import train_parser
    from mgpe_core.train.runs import write_run_info
    from mgpe_core.train.trainer import Trainer

    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    make_prepared_folder(data, count=6, size=64, schema_name="mgpe-11", seed=1)
    train_parser(data, tmp_path / "parser", get_schema("mgpe-11"), steps=1, batch=2,
                 cfg=ParserConfig(base_channels=6, depth=2))
    cfg = MgpeConfig.from_dict({"model": TINY, "train": {"batch": 2, "ema_bn_batches": 1}})
    assert cfg.model.parser.base_channels == 4  # what the config asks for
    trainer = Trainer(cfg, data, tmp_path / "run", tmp_path / "parser", torch.device("cpu"),
                      log=lambda *a: None)
    assert trainer.cfg.model.parser.base_channels == 6  # what the run uses
    assert trainer.param_counts["parser"] == count_parameters(trainer.parser)
    trainer.run(1)
    write_run_info(tmp_path / "run", {"parser": str(tmp_path / "parser")})
    base = import_run(tmp_path / "run", "run-base")

    def fits(folder, parser_folder):
        meta = json.loads((folder / "config.json").read_text())
        model_cfg = MgpeConfig.from_dict(meta["config"]).model
        nets = {"generator": build_generator(model_cfg), "parser": build_parser(model_cfg)}
        for key, files in (("generator", ("generator", "generator_ema")), ("parser", ("parser",))):
            want = {k: tuple(v.shape) for k, v in nets[key].state_dict().items()}
            for f in files:
                stored = load_file(str((parser_folder if key == "parser" else folder)
                                       / f"{f}.safetensors"))
                assert {k: tuple(v.shape) for k, v in stored.items()} == want, (folder, f)

    fits(base, base)
    variant = import_run(tmp_path / "run", "run-variant", parser_model="run-base",
                         extra={"variant": "v", "variant_of": "run-base"})
    assert not (variant / "parser.safetensors").exists()
    meta = json.loads((variant / "config.json").read_text())
    assert meta["parser"] == {"model": "run-base"} and "parser" not in meta["weights"]
    fits(variant, base)
    assert load_model("run-variant", variant="v").parser is not None
    with pytest.raises(Exception, match="must be an installed model"):
        import_run(tmp_path / "run", "x", parser_model=str(base), dest_root=tmp_path / "o")


def test_run_info_is_validated_on_read(tmp_path, monkeypatch):
    from mgpe_core.registry import import_run
    from mgpe_core.train.runs import RunInfoError, read_run_info, write_run_info

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    assert read_run_info(run) == {}
    write_run_info(run, {"parser": "mgpe-synth-128", "data": str(tmp_path), "world_size": 1,
                         "parameters": {"parser": 3}})
    assert read_run_info(run) == {"parser": "mgpe-synth-128", "data": str(tmp_path),
                                  "world_size": 1, "parameters": {"parser": 3}}
    # older versions recorded the parser path as typed, relative to where training ran
    (tmp_path / "runs" / "parser128").mkdir()
    (run / "run.json").write_text(json.dumps({"parser": "parser128"}))
    monkeypatch.chdir(tmp_path)
    assert read_run_info(run)["parser"] == str(tmp_path / "runs" / "parser128")
    (run / "run.json").write_text("{not json")
    with pytest.raises(RunInfoError, match=f"{run / 'run.json'} is not valid JSON"):
        read_run_info(run)
    (run / "run.json").write_text(json.dumps({"parser": 3}))
    with pytest.raises(RunInfoError, match="r/run.json is malformed: 'parser' should be a str"):
        import_run(run, "m", dest_root=tmp_path / "out")
    (run / "run.json").write_text(json.dumps({"parameters": {"parser": "many"}}))
    with pytest.raises(RunInfoError, match="'parameters' should map names to counts"):
        read_run_info(run)
    (run / "run.json").write_text("[]")
    with pytest.raises(RunInfoError, match="expected a JSON object"):
        read_run_info(run)
