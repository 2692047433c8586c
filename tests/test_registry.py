"""Model registry: listing, lookup with suggestions, verification, import/export/remove."""

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


def test_import_run_export_remove(tiny_home, tmp_path, capsys):
    from conftest import TINY

    from mgpe_core.data.prepared import make_prepared_folder
    from mgpe_core.labels import get_schema
    from mgpe_core.model.config import MgpeConfig, ParserConfig
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
