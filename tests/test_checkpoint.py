"""Checkpoints: safetensors + JSON, atomic, verified, optimizer state exact, pickles refused."""

import json
import pickle

import pytest
import torch

from mgpe_core.checkpoint import (
    CheckpointError,
    find_latest,
    flatten_optimizer,
    list_checkpoints,
    load_checkpoint,
    load_tensors,
    save_checkpoint,
    save_tensors,
    unflatten_optimizer,
)


def _trained_adam():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
    return model, opt


def test_optimizer_state_round_trips_exactly(tmp_path):
    model, opt = _trained_adam()
    tensors, meta = flatten_optimizer("optim.g", opt.state_dict())
    save_tensors(tmp_path / "o.safetensors", tensors)
    meta = json.loads(json.dumps(meta))  # through JSON, as on disk
    restored = unflatten_optimizer("optim.g", load_tensors(tmp_path / "o.safetensors"), meta)
    model2 = torch.nn.Linear(4, 3)
    model2.load_state_dict(model.state_dict())
    opt2 = torch.optim.Adam(model2.parameters(), lr=1.0)
    opt2.load_state_dict(restored)
    x = torch.randn(5, 4)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).sum().backward()
        o.step()
    assert torch.equal(model.weight, model2.weight)


def test_shared_tensors_are_saved(tmp_path):
    t = torch.arange(6.0)
    save_tensors(tmp_path / "s.safetensors", {"a": t, "b": t, "view": t[2:4]})
    back = load_tensors(tmp_path / "s.safetensors")
    assert torch.equal(back["a"], back["b"]) and back["view"].tolist() == [2.0, 3.0]


def test_latest_complete_checkpoint_is_found_and_pruned(tmp_path):
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, step, {"w": torch.full((2,), float(step))}, {"x": step},
                        keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000020.json",
                                                            "step-000000030.json"]
    assert not (tmp_path / "step-000000010.safetensors").exists()
    # a crash after the tensors but before a valid sidecar: the damaged one is passed over
    (tmp_path / "step-000000030.safetensors").write_bytes(b"cut short")
    latest = find_latest(tmp_path)
    assert latest.name == "step-000000020.json"
    tensors, meta = load_checkpoint(latest)
    assert meta["step"] == 20 and meta["x"] == 20 and tensors["w"].tolist() == [20.0, 20.0]
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path / "step-000000030.json")
    assert find_latest(tmp_path / "nothing") is None


def test_pickles_and_garbage_are_refused(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="looks like a pickle"):
        load_tensors(tmp_path / "w.pt")
    (tmp_path / "p.bin").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="looks like a pickle"):
        load_tensors(tmp_path / "p.bin")
    (tmp_path / "g.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_tensors(tmp_path / "g.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        load_tensors(tmp_path / "missing.safetensors")


def test_one_read_gives_the_bytes_and_their_hash(tmp_path):
    """read_hashed + tensors_from_bytes: what a model load uses to read, check and load each
    weights file once; the hash equals the streamed one (mgpe models verify)."""
    from mgpe_core.checkpoint import read_hashed, sha256_file, tensors_from_bytes

    sha = save_tensors(tmp_path / "t.safetensors", {"w": torch.arange(3.0)})
    data, got = read_hashed(tmp_path / "t.safetensors")
    assert got == sha == sha256_file(tmp_path / "t.safetensors")
    assert torch.equal(tensors_from_bytes(data, "t")["w"], torch.arange(3.0))
    with pytest.raises(CheckpointError, match="some.file looks like a pickle"):
        tensors_from_bytes(pickle.dumps({"w": 1}), "some.file")
    with pytest.raises(CheckpointError, match="checksum mismatch for .*t.safetensors"):
        load_tensors(tmp_path / "t.safetensors", "0" * 64)
