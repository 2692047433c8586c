"""Prepared folders, the torch dataset, the distributed batch sampler and unpaired partners."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from mgpe_core.data.dataset import PartnerSampler, PortraitDataset, partner_permutation
from mgpe_core.data.prepared import PreparedFolder
from mgpe_core.errors import DatasetError, UsageError
from mgpe_core.io import read_label_map
from mgpe_core.labels import convert, get_schema
from mgpe_core.testing import make_prepared_folder

C19 = get_schema("celebamask-19")
M11 = get_schema("mgpe-11")


@pytest.fixture(scope="module")
def folder19(tmp_path_factory):
    return make_prepared_folder(tmp_path_factory.mktemp("p19") / "data", count=16, size=48,
                                schema_name="celebamask-19", seed=3)


# -- PreparedFolder -------------------------------------------------------------------------


def test_made_folder_is_valid(folder19):
    f = PreparedFolder(folder19.root)
    assert f.schema == C19 and f.size == 48 and f.count == 16
    train, test = f.ids("train"), f.ids("test")
    assert len(test) == 2 and not set(train) & set(test)  # ceil(16 / 15) test faces
    assert f.ids("all") == list(range(16))
    m = json.loads((f.root / "manifest.json").read_text())
    assert m["format"] == "mgpe-prepared" and m["splits"] == {"train": 14, "test": 2}
    rgb, lab = f.read(5)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8
    assert lab.shape == (48, 48) and lab.dtype == np.uint8
    assert f.image_path(5).name == "00005.png" and f.label_path(5).name == "00005.png"
    # synthetic faces carry every class the components need
    for name in ("skin", "l_eye", "r_eye", "u_lip", "l_lip", "nose", "l_brow"):
        assert (lab == C19.index(name)).any(), name
    with pytest.raises(UsageError, match="unknown split"):
        f.ids("val")


def test_make_folder_is_deterministic(tmp_path):
    a = make_prepared_folder(tmp_path / "a", count=3, size=32, schema_name="mgpe-11", seed=7,
                             image_suffix=".jpg")
    b = make_prepared_folder(tmp_path / "b", count=3, size=32, schema_name="mgpe-11", seed=7,
                             image_suffix=".jpg")
    assert a.image_path(0).suffix == ".jpg"
    for k in range(3):
        assert a.image_path(k).read_bytes() == b.image_path(k).read_bytes()
        assert a.label_path(k).read_bytes() == b.label_path(k).read_bytes()
    assert read_label_map(a.label_path(0))[1] == M11


def _copy(src, dst):
    import shutil

    shutil.copytree(src.root, dst)
    return dst


def test_missing_manifest(tmp_path, folder19):
    root = _copy(folder19, tmp_path / "f")
    (root / "manifest.json").unlink()
    with pytest.raises(DatasetError, match=r"manifest\.json is missing") as e:
        PreparedFolder(root)
    assert str(root) in str(e.value)
    with pytest.raises(DatasetError, match="does not exist"):
        PreparedFolder(tmp_path / "nowhere")


def test_bad_manifests(tmp_path, folder19):
    root = _copy(folder19, tmp_path / "f")
    good = json.loads((root / "manifest.json").read_text())
    for change, msg in [
        ({"format": "other"}, "format"),
        ({"version": 99}, "newer"),
        ({"size": -3}, "size"),
        ({"image_suffix": ".gif"}, "image_suffix"),
        ({"schema": {"name": "x"}}, "schema"),
    ]:
        (root / "manifest.json").write_text(json.dumps({**good, **change}))
        with pytest.raises(DatasetError, match=msg):
            PreparedFolder(root)
    (root / "manifest.json").write_text(json.dumps({k: v for k, v in good.items()
                                                    if k != "size"}))
    with pytest.raises(DatasetError, match="lacks the field 'size'"):
        PreparedFolder(root)
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        PreparedFolder(root)


def test_missing_files_are_named(tmp_path, folder19):
    root = _copy(folder19, tmp_path / "f")
    f = PreparedFolder(root)
    f.image_path(3).unlink()
    with pytest.raises(DatasetError, match="image of face 3 is missing") as e:
        f.read(3)
    assert str(f.image_path(3)) in str(e.value)
    f.label_path(4).unlink()
    with pytest.raises(DatasetError, match="label map of face 4") as e:
        f.read(4)
    assert str(f.label_path(4)) in str(e.value)
    f.image_path(6).write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="00006.png"):
        f.read(6)
    (root / "splits" / "train.txt").write_text("1\nabc\n")
    with pytest.raises(DatasetError, match=r"train\.txt, line 2"):
        PreparedFolder(root).ids("train")
    (root / "splits" / "test.txt").unlink()
    with pytest.raises(DatasetError, match=r"test\.txt is missing"):
        PreparedFolder(root).ids("test")
    import shutil

    shutil.rmtree(root / "labels")
    with pytest.raises(DatasetError, match="labels/ is missing"):
        PreparedFolder(root)


def test_wrong_size_is_reported(tmp_path, folder19):
    from mgpe_core.io import write_image

    root = _copy(folder19, tmp_path / "f")
    f = PreparedFolder(root)
    write_image(f.image_path(2), np.zeros((20, 24, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"00002\.png is 24x20"):
        f.read(2)


# -- PortraitDataset ------------------------------------------------------------------------


def test_dataset_items(folder19):
    ds = PortraitDataset(folder19.root, split="train")
    assert len(ds) == 14 and ds.schema == C19
    item = ds[0]
    assert set(item) >= {"image", "labels", "index"}
    img, lab = item["image"], item["labels"]
    assert img.shape == (3, 48, 48) and img.dtype == torch.float32
    assert lab.shape == (48, 48) and lab.dtype == torch.int64
    assert img.min() >= -1 and img.max() <= 1 and img.min() < -0.5 and img.max() > 0.5
    rgb, raw = folder19.read(ds.ids[0])
    assert torch.equal(img, torch.tensor(rgb).permute(2, 0, 1).float() / 127.5 - 1)
    assert torch.equal(lab, torch.from_numpy(raw.astype(np.int64)))
    assert ds[-1]["index"] == 13
    with pytest.raises(IndexError):
        ds[14]


def test_dataset_converts_schemas(folder19):
    ds = PortraitDataset(folder19.root, split="all", schema="mgpe-11")
    assert ds.schema == M11
    for i in (0, 7):
        _, raw = folder19.read(ds.ids[i])
        got = ds[i]["labels"].numpy()
        assert np.array_equal(got, convert(raw, C19, M11).astype(np.int64))
        assert got.max() < 11
        # classes that mgpe-11 lacks became background, the rest were renumbered by name
        # CelebAMask-HQ's subject-left eye is mgpe-11's image-right eye
        assert np.array_equal(got == M11.index("r_eye"), raw == C19.index("l_eye"))
        assert np.nonzero(got == M11.index("l_eye"))[1].mean() < got.shape[1] / 2
        assert np.array_equal(got == M11.index("hair"), raw == C19.index("hair"))
        assert not (got[raw == C19.index("cloth")]).any()


def test_default_collate_and_loader(folder19):
    ds = PortraitDataset(folder19, split="train", schema=M11)
    sampler = PartnerSampler(len(ds), batch_size=4, seed=0)
    batches = list(DataLoader(ds, batch_sampler=sampler))
    assert len(batches) == 3
    b = batches[0]
    assert b["image"].shape == (4, 3, 48, 48) and b["labels"].shape == (4, 48, 48)
    assert b["labels"].dtype == torch.int64 and b["index"].dtype == torch.int64


# -- PartnerSampler and partner_permutation ----------------------------------------------------


@pytest.mark.parametrize("n,batch,world", [(40, 4, 1), (40, 4, 2), (41, 3, 4), (17, 2, 3)])
def test_sampler_shards_are_disjoint_and_covering(n, batch, world):
    samplers = [PartnerSampler(n, batch, seed=5, rank=r, world_size=world) for r in range(world)]
    for s in samplers:
        s.set_epoch(2)
    shards = [list(s) for s in samplers]
    lens = {len(b) for b in shards}
    assert len(lens) == 1 and len(shards[0]) == len(samplers[0])  # same step count per rank
    assert all(len(indices) == batch for b in shards for indices in b)
    every = [i for b in shards for indices in b for i in indices]
    assert len(every) == len(set(every))  # disjoint across ranks and batches
    assert len(every) == (n // world // batch) * batch * world
    # without drop_last every index is covered (padding repeats a few)
    full = [i for r in range(world)
            for b in PartnerSampler(n, batch, 5, r, world, drop_last=False) for i in b]
    assert set(full) == set(range(n))
    if n % world == 0:
        assert sorted(full) == list(range(n))


def test_sampler_epochs_and_seed():
    s = PartnerSampler(30, 5, seed=1)
    e0 = list(s)
    assert list(s) == e0  # same epoch, same order
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0 and sorted(sum(e1, [])) == list(range(30))
    assert list(PartnerSampler(30, 5, seed=2)) != e0
    r0 = PartnerSampler(30, 5, seed=1, rank=0, world_size=2)
    r1 = PartnerSampler(30, 5, seed=1, rank=1, world_size=2)
    assert r0.order() == r1.order() == PartnerSampler(30, 5, seed=1).order()
    assert list(PartnerSampler(6, 2, 0, shuffle=False)) == [[0, 1], [2, 3], [4, 5]]
    assert len(PartnerSampler(7, 2, 0, drop_last=False)) == 4
    with pytest.raises(UsageError):
        PartnerSampler(10, 2, 0, rank=2, world_size=2)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.integers(0, 2**31 - 1))
def test_partner_permutation_is_a_derangement(n, seed):
    g = torch.Generator().manual_seed(seed)
    p = partner_permutation(n, g)
    assert p.dtype == torch.int64 and p.shape == (n,)
    assert sorted(p.tolist()) == list(range(n))
    if n > 1:
        assert (p != torch.arange(n)).all()
    again = partner_permutation(n, torch.Generator().manual_seed(seed))
    assert torch.equal(p, again)


def test_partner_permutation_uses_global_rng():
    torch.manual_seed(0)
    a = partner_permutation(8, None)
    torch.manual_seed(0)
    assert torch.equal(a, partner_permutation(8, None))
    assert partner_permutation(2, None).tolist() == [1, 0]
    seen = {tuple(partner_permutation(3, None).tolist()) for _ in range(50)}
    assert seen == {(1, 2, 0), (2, 0, 1)}  # both derangements of 3 occur
