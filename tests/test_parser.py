"""The face parser's label maps: training-loss class weights divided out, mirror averaging that
makes them mirror-equivariant, the config check, and continuing a parser's training."""

import pytest
import torch

from mgpe_cli.main import main
from mgpe_core.errors import MgpeError
from mgpe_core.labels import get_schema
from mgpe_core.model.config import LossConfig, ParserConfig
from mgpe_core.model.losses import class_weights
from mgpe_core.model.parser import UNetParser
from mgpe_core.testing import make_prepared_folder
from mgpe_core.train.parser_io import load_parser, save_parser
from mgpe_core.train.parser_trainer import train_parser

M11 = get_schema("mgpe-11")
WEIGHTS = (0.5, 0.5, 3.0, 3.0, 4.0, 4.0, 2.0, 3.0, 3.0, 3.0, 1.0)


def _parser(weights=WEIGHTS, seed=0):
    torch.manual_seed(seed)
    parser = UNetParser(M11, ParserConfig(base_channels=4, depth=2,
                                          trained_class_weights=weights)).eval()
    with torch.no_grad():  # a decisive head: random logits far from uniform
        parser.head.weight.mul_(20)
    return parser


def test_label_scores_divide_out_the_training_weights():
    parser, x = _parser(), torch.rand(2, 3, 32, 32) * 2 - 1
    logits = parser(x)
    want = logits.log_softmax(1) - torch.tensor(WEIGHTS).log().view(1, -1, 1, 1)
    torch.testing.assert_close(parser.label_scores(x, mirror=False), want)
    labels = parser.parse(x, mirror=False)
    assert torch.equal(labels, want.argmax(1))
    # the weights move decisions: heavy classes lose pixels they won in the raw logits
    assert not torch.equal(labels, logits.argmax(1))
    unweighted = _parser(weights=())
    assert torch.equal(unweighted.parse(x, mirror=False), unweighted(x).argmax(1))


def test_mirror_averaging_is_mirror_equivariant():
    parser, x = _parser(), torch.rand(2, 3, 32, 32) * 2 - 1
    perm = torch.from_numpy(M11.flip_permutation)
    both = parser.label_scores(x)
    mirrored = parser.label_scores(x.flip(-1))
    # the mirrored photo's scores, mirrored back with left/right swapped, are the photo's
    torch.testing.assert_close(mirrored.flip(-1)[:, perm], both)
    assert torch.equal(parser.parse(x.flip(-1)).flip(-1), perm[parser.parse(x)])
    single = parser.label_scores(x, mirror=False)
    assert not torch.allclose(parser.label_scores(x.flip(-1), mirror=False).flip(-1)[:, perm],
                              single, atol=1e-3)  # one view alone is not


def test_weights_must_fit_the_schema():
    with pytest.raises(ValueError, match="trained_class_weights needs 11 positive"):
        UNetParser(M11, ParserConfig(trained_class_weights=(1.0, 2.0)))
    with pytest.raises(ValueError, match="positive"):
        UNetParser(M11, ParserConfig(trained_class_weights=(0.0,) * 11))


def test_mirror_and_weights_keep_the_saved_state_unchanged():
    # both come from the config and the schema: old weight files still load
    keys = set(_parser().state_dict())
    assert keys == set(_parser(weights=()).state_dict())
    assert not any("flip_perm" in k or "log_class_weights" in k for k in keys)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parser") / "data"
    make_prepared_folder(folder, count=8, size=32, schema_name="mgpe-11", seed=0)
    return folder


def test_training_records_its_class_weights(data, tmp_path):
    train_parser(data, tmp_path / "p", M11, steps=2, batch=2,
                 cfg=ParserConfig(base_channels=4, depth=2))
    parser, meta = load_parser(tmp_path / "p")
    want = class_weights(LossConfig(), M11).tolist()
    assert meta["parser"]["trained_class_weights"] == want
    assert parser.cfg.trained_class_weights == tuple(want)
    torch.testing.assert_close(parser.log_class_weights.flatten(), torch.tensor(want).log())


def test_init_from_continues_the_weights_and_architecture(data, tmp_path):
    train_parser(data, tmp_path / "a", M11, steps=2, batch=2,
                 cfg=ParserConfig(base_channels=4, depth=2))
    # a tiny rate: the continued parser stays next to its origin (a fresh one would not)
    assert main(["train-parser", "--data", str(data), "--out", str(tmp_path / "b"), "--steps",
                 "1", "--batch", "2", "--lr", "1e-9", "--init-from", str(tmp_path / "a")]) == 0
    (a, _), (b, meta) = load_parser(tmp_path / "a"), load_parser(tmp_path / "b")
    assert b.cfg.base_channels == 4 and b.cfg.depth == 2  # not the command's default 32
    # recipes name folders, never the machine's absolute paths
    assert meta["recipe"]["init_from"] == "a" and meta["recipe"]["data"] == data.name
    for k, v in a.state_dict().items():
        if v.is_floating_point() and "running" not in k:
            torch.testing.assert_close(b.state_dict()[k], v, atol=1e-6, rtol=0)


def test_init_from_a_parser_of_another_schema_is_refused(data, tmp_path):
    other = get_schema("celebamask-19")
    save_parser(tmp_path / "c19", UNetParser(other, ParserConfig(base_channels=4, depth=2)),
                ParserConfig(base_channels=4, depth=2), other, 32)
    with pytest.raises(MgpeError, match="predicts schema 'celebamask-19'"):
        train_parser(data, tmp_path / "x", M11, steps=1, batch=2, init_from=tmp_path / "c19")
    assert not (tmp_path / "x" / "parser.json").exists()
