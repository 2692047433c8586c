"""mgpe train with a converted parser (a parser-only BiSeNet model) for the parsing loss: the
mapped log-probabilities, tiny training runs, resume, the run's record."""

import json
from collections import OrderedDict

import pytest
import torch

from mgpe_core.labels import conversion_table, get_schema
from mgpe_core.model.config import MgpeConfig
from mgpe_core.testing import make_prepared_folder, reference_dir

C19 = get_schema("celebamask-19")
M11 = get_schema("mgpe-11")
NAME = "face-parsing"
TINY_MODEL = dict(resolution=64, width=0.125, latent_dim=16, res_blocks=1,
                  schema=C19.to_dict(), discriminator=dict(base_channels=8))


def tiny_cfg(**train):
    return MgpeConfig.from_dict({"model": TINY_MODEL, "train": {
        "batch": 2, "sample_every": 1000, "ema_bn_batches": 1, **train}})


@pytest.fixture(autouse=True)
def _home(converted, monkeypatch):
    monkeypatch.setenv("MGPE_HOME", str(converted))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """$MGPE_HOME holding a converted BiSeNet: the stand-in weights of tests/test_bisenet.py
    (the reference fixtures' weight rule) when those fixtures are here, else seeded random ones,
    saved as a .pth and converted as a release file is."""
    from mgpe_core.convert.bisenet import convert_bisenet
    from mgpe_core.model.bisenet import BiSeNet

    try:
        ref = reference_dir("bisenet-face-parsing")
    except FileNotFoundError:
        ref = None
    if ref is not None:
        from mgpe_core.testing import read_table, rule_tensor, table_shape

        state = OrderedDict(
            (name, torch.from_numpy(rule_tensor("79999_iter.pth", name, table_shape(shape))))
            for name, shape, _ in read_table(ref / "keys.tsv"))
    else:
        torch.manual_seed(0)
        state = BiSeNet().state_dict()
    home = tmp_path_factory.mktemp("home")
    pth = home / "79999_iter.pth"
    torch.save(state, pth)
    convert_bisenet(pth, home / "models", NAME)
    return home


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_prepared_folder(root / "d", count=6, size=64, schema_name="celebamask-19", seed=0)
    return root / "d"


def _trainer(cfg, data, run, parser=NAME, size=64):
    """A trainer whose BiSeNet runs at ``size`` (quick on a CPU; None: its own 512)."""
    from mgpe_core.train.trainer import Trainer

    return Trainer(cfg, data, run, parser, torch.device("cpu"), log=lambda *a: None,
                   parser_input_size=size)


def test_mapped_parser_log_probabilities_and_gradient():
    from mgpe_core.model.bisenet import BiSeNetParser
    from mgpe_core.model.mapped_parser import MappedParser

    torch.manual_seed(0)
    inner = BiSeNetParser(input_size=64).eval()
    for target in (C19, M11):
        mapped = MappedParser(inner, target)
        assert not any(p.requires_grad for p in mapped.parameters())
        mapped.train()
        assert not mapped.training and not inner.training
        x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
        logp = mapped(x)
        assert logp.shape == (2, target.num_classes, 64, 64)
        assert torch.allclose(logp.exp().sum(1), torch.ones(2, 64, 64), atol=1e-5)
        # each training class gets the summed probability of the classes mapped to it
        probs = inner(x).softmax(1)
        table = torch.from_numpy(conversion_table(inner.schema, target).astype("int64"))
        for t in range(target.num_classes):
            want = probs[:, table == t].sum(1).clamp_min(1e-12).log()
            assert torch.allclose(logp[:, t], want, atol=1e-5)
        if target is C19:  # one class to one: parse() is the inner labels converted by name
            same = (mapped.parse(x) == table[inner.parse(x)]).float().mean()
            assert same > 0.999
        # cross-entropy of log-probabilities is their NLL; the gradient reaches the input
        labels = torch.randint(0, target.num_classes, (2, 64, 64))
        ce = torch.nn.functional.cross_entropy(logp, labels)
        nll = torch.nn.functional.nll_loss(logp, labels)
        assert torch.allclose(ce, nll, atol=1e-5)
        ce.backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_celebamask_sides_swap_in_the_mapping():
    from mgpe_core.model.bisenet import BiSeNetParser
    from mgpe_core.model.mapped_parser import MappedParser

    inner = BiSeNetParser(input_size=64)
    m = MappedParser(inner, M11).matrix  # mgpe-11: image sides, BiSeNet: the subject's
    src = inner.schema.classes
    assert m[M11.classes.index("r_eye"), src.index("l_eye")] == 1
    assert m[M11.classes.index("l_eye"), src.index("l_eye")] == 0
    assert (m.sum(0) == 1).all()  # every source class goes to exactly one training class


def test_training_steps_with_converted_parser(data, tmp_path):
    from mgpe_core.model.mapped_parser import MappedParser

    cfg = tiny_cfg()
    assert _trainer(cfg, data, tmp_path / "own", size=None).parser.input_size == 512
    trainer = _trainer(cfg, data, tmp_path / "run")
    assert isinstance(trainer.parser, MappedParser) and trainer.parser.input_size == 64
    assert trainer.parser_model["model"] == NAME
    assert trainer.parser_model["architecture"] == "bisenet"
    assert trainer.param_counts["parser"] == sum(p.numel() for p in trainer.parser.parameters())
    # the model config's parser entry is left as the config asked (nothing claims a U-Net)
    assert trainer.cfg.model.parser == cfg.model.parser

    images, labels = next(trainer.batches())
    result = trainer.train_step(images, labels)
    assert not result.skipped
    assert torch.isfinite(torch.tensor(result.losses["parsing"]))
    assert 0 < result.losses["parsing"] < 30
    # the parsing loss alone: its gradient reaches the generator's weights, not the parser's
    trainer.generator.zero_grad()
    src_img = torch.cat([images, images])
    src_lab = torch.cat([labels, labels])
    fake = trainer.generator(src_img, src_lab, src_img, src_lab, sample=True)["image"]
    loss = torch.nn.functional.cross_entropy(trainer.parser(fake), src_lab.long())
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in trainer.generator.parameters())
    assert not any(p.grad is not None for p in trainer.parser.parameters())


def test_run_resume_and_checkpoint_record(data, tmp_path):
    from mgpe_core.checkpoint import find_latest
    from mgpe_core.io import read_json

    cfg = tiny_cfg()
    straight = _trainer(cfg, data, tmp_path / "a")
    straight.run(2)
    first = _trainer(cfg, data, tmp_path / "b")
    first.run(1)
    sidecar = read_json(find_latest(tmp_path / "b" / "checkpoints"), "sidecar")
    assert sidecar["parser_model"]["model"] == NAME
    assert sidecar["parser_model"]["input_size"] == 64
    second = _trainer(cfg, data, tmp_path / "b")
    assert second.resume("auto") and second.step == 1
    second.run(2)
    for name in ("generator", "ema", "discriminator"):
        a, b = getattr(straight, name).state_dict(), getattr(second, name).state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
    lines = [json.loads(x) for x in (tmp_path / "a" / "stats.jsonl").read_text().splitlines()]
    assert all(0 < r["parsing"] < 30 for r in lines)


@pytest.mark.slow
def test_cli_train_then_import_references_the_parser_model(data, tmp_path, converted):
    from mgpe_cli.main import main
    from mgpe_core.registry import import_run, load_model, read_model_config

    run = tmp_path / "run"
    (tmp_path / "cfg.json").write_text(json.dumps(tiny_cfg(steps=1).to_dict()))
    assert main(["train", "--data", str(data), "--parser", NAME, "--out", str(run),
                 "--config", str(tmp_path / "cfg.json"), "--steps", "1", "--device", "cpu",
                 "--json"]) == 0
    assert json.loads((run / "run.json").read_text())["parser"] == NAME
    folder = import_run(run, "tuned", dest_root=tmp_path / "out")
    meta = read_model_config(folder)
    assert meta["parser"] == {"model": NAME}
    assert "parser" not in meta.get("weights", {})
    model = load_model(folder)
    assert model.parser is not None and model.parser.src_schema.name == "bisenet-19"
