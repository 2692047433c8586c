"""The style match's calibration (mgpe_core/style_match.py, style_calibration.py): the fit
recovers known blends and falls back to the source's error where it gains nothing; a fitted
model stores, verifies and uses its weights."""

import json

import numpy as np

from mgpe_core.colour_match import UNCALIBRATED
from mgpe_core.labels import get_schema
from mgpe_core.style_calibration import MIN_PAIRS, _Samples, fit_samples
from mgpe_core.style_match import fit_weights, remaining_error, weights_from_config
from mgpe_cli.main import main

M11 = get_schema("mgpe-11")
LIP, HAIR = M11.index("u_lip"), M11.index("hair")


def errors(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 4, (n, 3)), rng.normal(0, 4, (n, 3))


def test_the_fit_recovers_a_known_blend_per_axis():
    src, tgt = errors(400, 0)
    ws, wt = np.array([0.2, 0.9, 0.5]), np.array([0.8, 0.0, 0.3])
    noise = np.random.default_rng(1).normal(0, 0.5, (400, 3))
    w = fit_weights(src, tgt, ws * src + wt * tgt + noise)
    np.testing.assert_allclose(w.source, ws, atol=0.05)
    np.testing.assert_allclose(w.target, wt, atol=0.05)
    res = ws * src + wt * tgt + noise
    assert remaining_error(w, src, tgt, res) < 0.5 * remaining_error(UNCALIBRATED, src, tgt, res)


def test_the_fit_stays_at_the_source_error_without_data_to_move_it():
    zero = np.zeros((5, 3))
    w = fit_weights(zero, zero, zero)
    np.testing.assert_allclose(w.source, 1)
    np.testing.assert_allclose(w.target, 0)


def samples(residual_of, n, seed):
    src, tgt = errors(n, seed)
    return _Samples(list(src), list(tgt), list(residual_of(src, tgt)), list(range(n)))


def test_a_class_is_kept_only_when_the_held_out_half_gains():
    blended = samples(lambda s, t: 0.3 * s + 0.7 * t, 200, 2)
    plain = samples(lambda s, t: s, 200, 3)  # the source's error is the whole answer
    few = samples(lambda s, t: t, MIN_PAIRS - 1, 4)
    weights, report = fit_samples({LIP: blended, HAIR: plain, M11.index("l_eye"): few}, M11)
    assert set(weights) == {LIP}
    np.testing.assert_allclose(weights[LIP].target, 0.7, atol=0.02)
    assert report["u_lip"]["kept"] and report["u_lip"]["calibrated"] < 0.1
    assert report["u_lip"]["source_error"] > 3 and report["u_lip"]["held_out_pairs"] == 100
    assert not report["hair"]["kept"] and report["hair"]["source_error"] == 0
    assert report["l_eye"] == {"pairs": MIN_PAIRS - 1, "kept": False,
                               "why": f"fewer than {MIN_PAIRS} pairs"}


def test_calibrating_a_model_stores_weights_it_loads_verified_and_edits_with(tiny_home,
                                                                             tmp_path, capsys):
    """End to end on the tiny model and 80 mgpe-synth faces of the calibration seed: every
    stored class passed its held-out check; stored in a copy of the model folder, the model
    still verifies and its editor takes the weights."""
    import shutil

    from mgpe_core.engine import Editor
    from mgpe_core.registry import find_model, load_model, verify
    from mgpe_core.style_calibration import CALIBRATION_SEED, calibrate, store

    entry = calibrate("tiny", n=2 * MIN_PAIRS)
    fit = entry["fit"]
    assert fit["seed"] == CALIBRATION_SEED and fit["faces"] == 2 * MIN_PAIRS
    assert fit["pairs_with_truth"] > 0
    for name, row in fit["classes"].items():
        assert (name in entry["classes"]) == row["kept"]
        if row["kept"]:
            assert row["calibrated"] < row["source_error"]
    assert entry["classes"], "the tiny model's colours are far off: some class must gain"
    json.dumps(entry, allow_nan=False)
    folder = tmp_path / "tiny-calibrated"
    shutil.copytree(find_model("tiny").path, folder)
    store(folder, entry)
    assert verify(folder)["ok"]
    editor = Editor(load_model(folder))
    want = weights_from_config(entry, M11, "test", ValueError)
    assert set(editor.style_weights) == set(want) and want
    for c, w in want.items():
        np.testing.assert_allclose(editor.style_weights[c].source, w.source)
    assert main(["models", "info", str(folder)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert f"style match calibrated for: {', '.join(entry['classes'])}" in shown
    assert main(["models", "info", "tiny"]) == 0
    assert "style match calibrated for: none" in capsys.readouterr().out
