"""The style match's calibration (mgpe_core/style_match.py, style_calibration.py): the fit
recovers known blends and falls back to the source's error where it gains nothing; a fitted
model stores, verifies and uses its weights."""

import json

import numpy as np
import pytest

from mgpe_cli.main import main
from mgpe_core.colour_match import TERMS, UNCALIBRATED, StyleWeights
from mgpe_core.labels import get_schema
from mgpe_core.style_calibration import MIN_PAIRS, _Samples, fit_samples
from mgpe_core.style_match import (
    fit_weights,
    remaining_error,
    weights_from_config,
    weights_to_config,
)

M11 = get_schema("mgpe-11")
LIP, HAIR = M11.index("u_lip"), M11.index("hair")


def terms(n, seed):
    """(n, 4, 3) random offset terms, as :func:`offset_terms` gives per pair."""
    return np.random.default_rng(seed).normal(0, 4, (n, len(TERMS), 3))


def diagonal(w):
    """A diagonal StyleWeights' (4, 3) weights per term and axis."""
    return np.diagonal(w.maps, axis1=1, axis2=2)


def test_the_fit_recovers_a_known_blend_per_axis():
    x = terms(400, 0)
    w = np.array([[0.2, 0.9, 0.5], [0.8, 0.0, 0.3], [0.0, 0.4, 0.0], [0.3, 0.0, 0.6]])
    noise = np.random.default_rng(1).normal(0, 0.5, (400, 3))
    res = (x * w).sum(axis=1) + noise
    fitted = fit_weights(x, res)
    assert fitted.is_diagonal() and not fitted.constant.any()
    np.testing.assert_allclose(diagonal(fitted), w, atol=0.05)
    assert remaining_error(fitted, x, res) < 0.3 * remaining_error(UNCALIBRATED, x, res)


def test_the_affine_fit_recovers_a_map_across_axes_and_a_constant():
    """An answer where a term's L moves the offset's b (an eye's lightness telling how much
    of its colour is iris) and a constant shift: the affine form finds both, the diagonal
    form cannot."""
    x = terms(600, 5)
    maps = np.zeros((len(TERMS), 3, 3))
    maps[0] = np.eye(3)
    maps[3] = [[0.5, 0.0, 0.0], [0.0, 0.2, 0.0], [0.6, 0.0, 0.3]]  # target photo's L -> b
    const = np.array([1.5, -2.0, 3.0])
    noise = np.random.default_rng(6).normal(0, 0.3, (600, 3))
    res = np.einsum("kij,nkj->ni", maps, x) + const + noise
    affine, diag = fit_weights(x, res, form="affine"), fit_weights(x, res)
    np.testing.assert_allclose(affine.maps, maps, atol=0.03)
    np.testing.assert_allclose(affine.constant, const, atol=0.1)
    np.testing.assert_allclose(affine.offset(x), np.einsum("kij,nkj->ni", maps, x) + const,
                               atol=0.3)
    assert remaining_error(affine, x, res) < 0.5 < remaining_error(diag, x, res)
    with pytest.raises(ValueError, match="unknown style-match form 'cubic'"):
        fit_weights(x, res, form="cubic")


@pytest.mark.parametrize("form", ["diagonal", "affine"])
def test_the_fit_stays_at_the_source_error_without_data_to_move_it(form):
    w = fit_weights(np.zeros((5, len(TERMS), 3)), np.zeros((5, 3)), form=form)
    np.testing.assert_allclose(w.maps, UNCALIBRATED.maps)
    np.testing.assert_allclose(w.constant, 0)


def samples(weights, n, seed, constant=(0, 0, 0)):
    """Pairs whose answer is ``weights`` (a StyleWeights, or (4, 3) per-axis weights) of
    random terms."""
    x = terms(n, seed)
    w = weights if hasattr(weights, "maps") else StyleWeights.of(
        constant=constant, **dict(zip(TERMS, np.asarray(weights, dtype=float), strict=True)))
    return _Samples(list(x), list(w.offset(x)), list(range(n)))


def test_a_class_is_kept_only_when_the_held_out_half_gains():
    blend = [[0.3] * 3, [0.7] * 3, [0.0] * 3, [0.2] * 3]
    blended = samples(blend, 200, 2)
    plain = samples(UNCALIBRATED, 200, 3)  # the source's error is the whole answer
    few = samples(blend, MIN_PAIRS - 1, 4)
    weights, report = fit_samples({LIP: blended, HAIR: plain, M11.index("l_eye"): few}, M11)
    assert set(weights) == {LIP}
    np.testing.assert_allclose(diagonal(weights[LIP]), blend, atol=0.02)
    assert report["u_lip"]["kept"] and report["u_lip"]["calibrated"] < 0.1
    assert report["u_lip"]["source_error"] > 3 and report["u_lip"]["held_out_pairs"] == 100
    assert not report["hair"]["kept"] and report["hair"]["source_error"] == 0
    assert report["l_eye"] == {"pairs": MIN_PAIRS - 1, "kept": False,
                               "why": f"fewer than {MIN_PAIRS} pairs"}
    for row in report["u_lip"], report["hair"]:
        assert row["calibrated"] == row[row["form"]] == min(row["diagonal"], row["affine"])


def test_each_class_takes_the_form_its_held_out_half_favours():
    """A per-axis answer is fitted per axis only if that does as well on the held-out half; an
    answer with a constant needs the affine form, and the weights stored are that form's."""
    crossed = StyleWeights.of(source=np.eye(3), target_photo=[[0, 0, 0], [0, 0, 0], [0.8, 0, 0]],
                              constant=[0, 0, 4.0])
    weights, report = fit_samples({LIP: samples(crossed, 200, 7)}, M11)
    assert report["u_lip"]["form"] == "affine" and report["u_lip"]["kept"]
    assert report["u_lip"]["affine"] < 0.1 < report["u_lip"]["diagonal"]
    np.testing.assert_allclose(weights[LIP].maps, crossed.maps, atol=0.02)
    np.testing.assert_allclose(weights[LIP].constant, crossed.constant, atol=0.05)
    # written to config.json and read back, the map and the constant are the same weights
    back = weights_from_config({"classes": weights_to_config(weights, M11)}, M11, "t",
                               ValueError)
    np.testing.assert_allclose(back[LIP].maps, weights[LIP].maps, atol=1e-4)
    np.testing.assert_allclose(back[LIP].constant, weights[LIP].constant, atol=1e-4)


def test_calibrating_a_model_stores_weights_it_loads_verified_and_edits_with(tiny_home,
                                                                             tmp_path, capsys):
    """End to end on the tiny model and 80 mgpe-synth faces of the calibration seed, through
    ``mgpe models calibrate``: every stored class passed its held-out check; stored in a
    copy of the model folder, the model still verifies and its editor takes the weights."""
    import shutil

    from mgpe_core.engine import Editor
    from mgpe_core.registry import find_model, load_model, read_model_config, verify
    from mgpe_core.style_calibration import CALIBRATION_SEED

    folder = tmp_path / "tiny-calibrated"
    shutil.copytree(find_model("tiny").path, folder)
    assert main(["models", "calibrate", str(folder), "--n", str(2 * MIN_PAIRS)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "mean delta E to the true transfer, held-out half" in shown
    entry = read_model_config(folder)["style_match"]
    fit = entry["fit"]
    assert fit["seed"] == CALIBRATION_SEED and fit["faces"] == 2 * MIN_PAIRS
    assert fit["pairs_with_truth"] > 0
    for name, row in fit["classes"].items():
        assert (name in entry["classes"]) == row["kept"]
        if row["kept"]:
            assert row["calibrated"] < row["source_error"]
    assert entry["classes"], "the tiny model's colours are far off: some class must gain"
    assert verify(folder)["ok"]
    editor = Editor(load_model(folder))
    want = weights_from_config(entry, M11, "test", ValueError)
    assert set(editor.style_weights) == set(want) and want
    for c, w in want.items():
        np.testing.assert_allclose(editor.style_weights[c].maps, w.maps)
        np.testing.assert_allclose(editor.style_weights[c].constant, w.constant)
    assert main(["models", "info", str(folder)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert f"style match calibrated for: {', '.join(entry['classes'])}" in shown
    assert main(["models", "info", "tiny"]) == 0
    assert "style match calibrated for: none" in capsys.readouterr().out


def test_calibrate_dry_run_and_refusals_change_nothing(tiny_home, tmp_path, capsys,
                                                        monkeypatch):
    """--dry-run prints the fit and writes nothing; a built-in model is refused before any
    work (its files are the package's); too few faces is a usage error."""
    import shutil

    from conftest import file_contents

    import mgpe_core.style_calibration as sc
    from mgpe_core.registry import find_model

    fitted = {"classes": {"u_lip": {"source": [1, 1, 1]}},
              "fit": {"classes": {"u_lip": {"pairs": 90, "source_error": 3.0,
                                            "calibrated": 2.0, "kept": True}}}}
    monkeypatch.setattr(sc, "calibrate", lambda *a, **k: fitted)
    folder = tmp_path / "tiny-copy"
    shutil.copytree(find_model("tiny").path, folder)
    unchanged = file_contents(folder)
    assert main(["models", "calibrate", str(folder), "--dry-run", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == fitted and "nothing stored" in out.err
    assert file_contents(folder) == unchanged
    built_in = find_model("mgpe-synth-128").path
    shipped = file_contents(built_in)
    assert main(["models", "calibrate", "mgpe-synth-128"]) != 0
    err = capsys.readouterr().err
    assert "calibrating it would change installed files" in err and "Traceback" not in err
    assert file_contents(built_in) == shipped
    monkeypatch.undo()
    assert main(["models", "calibrate", str(folder), "--n", "5"]) != 0
    assert f"at least {2 * MIN_PAIRS} faces" in capsys.readouterr().err
    assert file_contents(folder) == unchanged
