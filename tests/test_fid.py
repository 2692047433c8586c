"""FID: the distance against independent computations, statistics files, the Inception network
(random weights: names/shapes of the published file, loading, refusals) and ``mgpe fid``."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mgpe_cli.main import main
from mgpe_core.checkpoint import CheckpointError, save_tensors
from mgpe_core.errors import MgpeError, UsageError
from mgpe_core.io import write_image
from mgpe_core.metrics import fid as fidlib
from mgpe_core.metrics.inception import (
    PREPROCESSING,
    WEIGHTS_FILE,
    WEIGHTS_PTH,
    FIDInception,
    load_inception,
    randomize_,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # small forward passes

KEYS_TSV = Path(__file__).resolve().parents[2] / "shared" / "fid" / "pt_inception_keys.tsv"


# -- the distance ----------------------------------------------------------------------------


def _random_cov(rng, d, n=None):
    a = rng.normal(size=(n or 2 * d, d))
    return a.T @ a / (n or 2 * d) + 0.05 * np.eye(d)


def _trace_sqrt_eig(a, b):
    """tr(sqrt(A B)) from the eigenvalues of the non-symmetric product (real, >= 0)."""
    w = np.linalg.eigvals(a @ b)
    assert np.abs(w.imag).max() < 1e-8 * np.abs(w).max()
    return float(np.sqrt(np.clip(w.real, 0, None)).sum())


def _sqrtm_denman_beavers(m, iters=60):
    y, z = m.copy(), np.eye(len(m))
    for _ in range(iters):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return y


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    got = fidlib.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-10)
    # identical covariances: only the means count
    assert fidlib.frechet_distance(mu1, np.eye(16), mu2, np.eye(16)) == pytest.approx(
        np.sum((mu1 - mu2) ** 2), rel=1e-10)


@pytest.mark.parametrize("d", [2, 12, 40])
def test_full_covariances_against_independent_methods(d):
    rng = np.random.default_rng(d)
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    base = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
    ref_eig = base - 2 * _trace_sqrt_eig(s1, s2)
    ref_db = base - 2 * np.trace(_sqrtm_denman_beavers(s1 @ s2))
    got = fidlib.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(ref_eig, rel=1e-8, abs=1e-9)
    assert got == pytest.approx(ref_db, rel=1e-8, abs=1e-9)
    assert got == pytest.approx(fidlib.frechet_distance(mu2, s2, mu1, s1), rel=1e-9)  # symmetric


def test_set_with_itself_is_zero_even_when_rank_deficient():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(10, 64)) * rng.uniform(0.1, 2, 64)  # 10 samples, 64 dims
    mu, sigma = fidlib.statistics(feats)
    assert fidlib.frechet_distance(mu, sigma, mu, sigma) < 1e-6 * np.trace(sigma)
    other_mu, other_sigma = fidlib.statistics(feats + 0.5)
    assert fidlib.frechet_distance(mu, sigma, other_mu, other_sigma) == pytest.approx(
        64 * 0.25, rel=1e-6)


def test_statistics_and_input_checks():
    feats = np.arange(12, dtype=np.float32).reshape(4, 3) ** 1.5
    mu, sigma = fidlib.statistics(feats)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(sigma, np.cov(feats.astype(np.float64).T, ddof=1))
    with pytest.raises(UsageError, match="at least 2 images"):
        fidlib.statistics(feats[:1])
    with pytest.raises(UsageError, match="dimensions differ"):
        fidlib.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(UsageError, match="NaN"):
        fidlib.frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))


def test_stats_file_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    mu, sigma = fidlib.statistics(rng.normal(size=(5, 8)))
    path = tmp_path / "s.npz"
    fidlib.save_stats(path, fidlib.Stats(mu, sigma, 5, PREPROCESSING, WEIGHTS_FILE))
    back = fidlib.load_stats(path)
    np.testing.assert_array_equal(back.mu, mu)
    np.testing.assert_array_equal(back.sigma, sigma)
    assert (back.count, back.preprocessing, back.weights) == (5, PREPROCESSING, WEIGHTS_FILE)
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temp file left behind
    # other tools' files (mu and sigma only) load with unknown metadata
    np.savez(tmp_path / "plain.npz", mu=mu, sigma=sigma)
    plain = fidlib.load_stats(tmp_path / "plain.npz")
    assert plain.count is None and plain.preprocessing is None
    # pickled object arrays are refused, not executed
    np.savez(tmp_path / "obj.npz", mu=np.array([{"x": 1}], dtype=object), sigma=sigma)
    with pytest.raises(fidlib.StatsError, match="obj.npz"):
        fidlib.load_stats(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(fidlib.StatsError, match="junk.npz"):
        fidlib.load_stats(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=mu)
    with pytest.raises(fidlib.StatsError, match="no 'mu' and 'sigma'"):
        fidlib.load_stats(tmp_path / "other.npz")
    np.savez(tmp_path / "shape.npz", mu=mu, sigma=sigma[:3])
    with pytest.raises(fidlib.StatsError, match="shape"):
        fidlib.load_stats(tmp_path / "shape.npz")
    with pytest.raises(fidlib.StatsError, match="not found"):
        fidlib.load_stats(tmp_path / "missing.npz")


def test_list_images_skips_masks_and_reports_empty(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    for name in ("b.png", "a.jpg", "a.mask.png", "a.mask.color.png"):
        write_image(tmp_path / name, img)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in fidlib.list_images(tmp_path)] == ["a.jpg", "b.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(MgpeError, match="no images in"):
        fidlib.list_images(tmp_path / "empty")
    with pytest.raises(MgpeError, match="folder not found"):
        fidlib.list_images(tmp_path / "nope")


# -- the network (random weights) ------------------------------------------------------------


@pytest.fixture(scope="module")
def random_net():
    return randomize_(FIDInception(), seed=0)


@pytest.fixture(scope="module")
def weights_file(random_net, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / WEIGHTS_FILE
    save_tensors(path, random_net.state_dict())
    return path


@pytest.mark.skipif(not KEYS_TSV.is_file(), reason=f"{KEYS_TSV} not present (shared/ folder "
                    "beside the repository)")
def test_state_dict_matches_published_weights_list():
    rows = [line.split("\t") for line in KEYS_TSV.read_text().splitlines()[1:] if line]
    expected = {k: (tuple(int(n) for n in shape.split("x")), dtype) for k, shape, dtype in rows}
    sd = FIDInception().state_dict()
    assert set(sd) == set(expected)
    for key, t in sd.items():
        assert (tuple(t.shape), str(t.dtype).removeprefix("torch.")) == expected[key], key


def test_features_shape_determinism_and_sensitivity(random_net):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 64, 48, generator=g)
    f1 = random_net.features(images)
    f2 = random_net.features(images)
    assert f1.shape == (2, 2048) and f1.dtype == torch.float32
    assert torch.isfinite(f1).all()
    assert torch.equal(f1, f2)
    assert (f1[0] - f1[1]).abs().max() > 1e-3  # different inputs, different features


@pytest.mark.slow
def test_load_inception_round_trip(random_net, weights_file):
    loaded = load_inception(weights_file)
    assert loaded.weights_name == WEIGHTS_FILE and not loaded.training
    ref = random_net.state_dict()
    got = loaded.state_dict()
    assert set(got) == set(ref) and all(torch.equal(got[k], ref[k]) for k in ref)
    assert loaded.channels_last  # the default fast layout computes the same function
    image = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(loaded.features(image), random_net.features(image),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_inception(weights_file, sha256="00000000")
    from mgpe_core.checkpoint import sha256_file

    load_inception(weights_file, sha256=sha256_file(weights_file)[:8])


def test_load_inception_reads_the_published_pth_weights_only(tmp_path, random_net,
                                                            monkeypatch):
    """The .pth as distributed (a torch.save state dict, legacy or zip format) loads through
    the weights-only reader and computes what the same tensors as safetensors compute; a .pth
    holding a pickled object is refused and never executed."""
    from mgpe_core.convert import ConvertError

    image = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(3))
    want = random_net.features(image)
    for legacy in (False, True):
        pth = tmp_path / f"{legacy}" / WEIGHTS_PTH
        pth.parent.mkdir()
        torch.save(random_net.state_dict(), pth, _use_new_zipfile_serialization=not legacy)
        torch.testing.assert_close(load_inception(pth).features(image), want,
                                   rtol=1e-4, atol=1e-5)
    # found in $MGPE_HOME/weights as published, when no .safetensors copy is there
    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "weights").mkdir(parents=True)
    (tmp_path / "home" / "weights" / WEIGHTS_PTH).write_bytes(pth.read_bytes())
    assert load_inception().weights_name == WEIGHTS_PTH
    evil = tmp_path / "evil.pth"
    torch.save({"fc.bias": torch.zeros(3), "x": print}, evil)
    with pytest.raises(ConvertError, match="pickled object"):
        load_inception(evil)
    bad = tmp_path / "bad.pth"
    torch.save({"fc.bias": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError, match="is not the FID Inception weights"):
        load_inception(bad)


def test_load_inception_refusals(tmp_path, random_net, monkeypatch):
    # no weights anywhere: the message names the file to obtain and where it is published
    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    with pytest.raises(MgpeError, match="pt_inception-2015-12-05-6726825d.pth") as e:
        load_inception()
    assert "6726825d" in str(e.value) and str(tmp_path / "home" / "weights") in str(e.value)
    assert "github.com/mseitzer/pytorch-fid/releases" in str(e.value)
    # wrong tensors: the first mismatching key is named
    sd = {k: v for k, v in random_net.state_dict().items() if k != "Mixed_6b.branch1x1.bn.bias"}
    save_tensors(tmp_path / "bad.safetensors", sd)
    with pytest.raises(CheckpointError, match="'Mixed_6b.branch1x1.bn.bias' is missing"):
        load_inception(tmp_path / "bad.safetensors")
    sd = dict(random_net.state_dict(), **{"fc.bias": torch.zeros(1000)})
    save_tensors(tmp_path / "bad2.safetensors", sd)
    with pytest.raises(CheckpointError, match=r"'fc.bias' has shape \(1000,\)"):
        load_inception(tmp_path / "bad2.safetensors")


# -- the command -----------------------------------------------------------------------------


def _folder(root, name, seed, sizes=((40, 32), (24, 24), (36, 50))):
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir()
    for i, (h, w) in enumerate(sizes):
        write_image(folder / f"{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    write_image(folder / "0.mask.png", np.zeros((8, 8, 3), np.uint8))  # skipped
    return folder


def run(capsys, *args):
    code = main(list(map(str, args)))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.slow
def test_cli_folders_stats_and_json(tmp_path, weights_file, capsys):
    real, fake = _folder(tmp_path, "real", 0), _folder(tmp_path, "fake", 1)
    stats = tmp_path / "real.npz"
    code, out, err = run(capsys, "fid", real, fake, "--weights", weights_file, "--batch", 2,
                         "--save-stats", stats, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert math.isfinite(report["fid"]) and report["fid"] >= 0
    assert report["real"]["count"] == report["fake"]["count"] == 3
    assert report["preprocessing"] == PREPROCESSING and report["weights"] == WEIGHTS_FILE
    assert fidlib.load_stats(stats).count == 3
    # a folder against its own saved statistics
    code, out, err = run(capsys, "fid", stats, real, "--weights", weights_file, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["fid"] < 1e-6 * max(report["fid"], 1.0)
    assert again["real"]["kind"] == "stats"
    # two statistics files: no network needed (small ones, to keep it fast), human output
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    fidlib.save_stats(a, fidlib.Stats(np.zeros(4), np.eye(4), 10, PREPROCESSING, WEIGHTS_FILE))
    fidlib.save_stats(b, fidlib.Stats(np.ones(4), 4 * np.eye(4), 10, PREPROCESSING, WEIGHTS_FILE))
    code, out, _ = run(capsys, "fid", a, b, "--weights", tmp_path / "none.safetensors")
    assert code == 0 and out.startswith("FID 8.0000") and PREPROCESSING in out  # 4 + 4 (2-1)^2


def test_cli_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MGPE_HOME", str(tmp_path / "home"))
    real = _folder(tmp_path, "real", 0, sizes=((8, 8), (8, 8)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.npz").write_bytes(b"junk")
    cases = [
        (("fid", tmp_path / "missing", real), 1, "folder not found"),
        (("fid", tmp_path / "empty", real), 1, "no images in"),
        (("fid", tmp_path / "bad.npz", real), 1, "bad.npz is not a readable"),
        (("fid", real, real), 1, "pt_inception-2015-12-05-6726825d.pth"),
        (("fid", tmp_path / "bad.npz", real, "--save-stats", tmp_path / "s.npz"), 2,
         "needs REAL to be a folder"),
        (("fid", real, real, "--batch", 0), 2, "--batch"),
    ]
    for args, want_code, message in cases:
        code, _, err = run(capsys, *args)
        assert code == want_code and message in err, (args, err)
        assert "Traceback" not in err, err
        if want_code == 1:
            assert len(err.strip().splitlines()) == 1, err  # one line


def test_command_module_is_light():
    import subprocess
    import sys

    code = ("import sys, mgpe_plugins.fid_command; from mgpe_cli.main import main; "
            "rc = main(['fid', '--help']); print('TORCH' if 'torch' in sys.modules else 'NO', rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "NO 0", proc.stdout + proc.stderr
    assert "Example: mgpe fid " in proc.stdout
