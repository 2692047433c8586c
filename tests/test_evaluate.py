"""``mgpe eval`` and its metrics: PSNR / SSIM / Lab / delta E / locality on hand-made arrays,
the benchmark on the tiny model (API and CLI), the generated default test set, bad input."""

import json
import math

import numpy as np
import pytest

from mgpe_cli.main import main
from mgpe_core.errors import DatasetError, UsageError
from mgpe_core.metrics.image_metrics import (
    PSNR_CAP,
    delta_e76,
    dilate,
    erode,
    mean_lab,
    mean_psnr,
    outside_change,
    psnr,
    rgb_to_lab,
    ssim,
)


def run(capsys, *args):
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


# -- metric functions ----------------------------------------------------------------------------


def test_psnr_against_a_hand_computation():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # one of 12 values off by 255: MSE = 255^2 / 12
    assert psnr(a, b) == pytest.approx(10 * math.log10(12))
    c = a + np.uint8(10)  # every value off by 10: MSE = 100
    assert psnr(a, c) == pytest.approx(10 * math.log10(255 ** 2 / 100))
    assert psnr(a, a) == math.inf
    assert mean_psnr([(a, a), (a, c)]) == pytest.approx((PSNR_CAP + psnr(a, c)) / 2)
    with pytest.raises(UsageError):
        psnr(a, np.zeros((3, 2, 3)))


def test_ssim_known_properties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert ssim(x, x) == pytest.approx(1.0)
    scores = []
    for sigma in (5, 20, 60):
        noisy = np.clip(x + rng.normal(0, sigma, x.shape), 0, 255)
        scores.append(ssim(x, noisy))
        assert ssim(noisy, x) == pytest.approx(scores[-1])  # symmetric
    assert 1 > scores[0] > scores[1] > scores[2] > -1  # decreases with noise
    # Constant images: variances vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    c1 = (0.01 * 255) ** 2
    a, b = np.full((16, 16), 100.0), np.full((16, 16), 140.0)
    assert ssim(a, b) == pytest.approx((2 * 100 * 140 + c1) / (100 ** 2 + 140 ** 2 + c1))
    with pytest.raises(UsageError, match="smaller than"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_lab_known_values_and_delta_e():
    assert rgb_to_lab([255, 255, 255]) == pytest.approx([100, 0, 0], abs=1e-6)
    assert rgb_to_lab([0, 0, 0]) == pytest.approx([0, 0, 0], abs=1e-9)
    assert rgb_to_lab([255, 0, 0]) == pytest.approx([53.24, 80.09, 67.20], abs=0.01)
    assert rgb_to_lab([0, 255, 0]) == pytest.approx([87.73, -86.18, 83.18], abs=0.01)
    assert rgb_to_lab([0, 0, 255]) == pytest.approx([32.30, 79.19, -107.86], abs=0.01)
    grey = rgb_to_lab(np.full((2, 3, 3), 128, np.uint8))
    assert grey.shape == (2, 3, 3) and np.allclose(grey[..., 1:], 0, atol=1e-6)
    assert grey[0, 0, 0] == pytest.approx(53.59, abs=0.01)
    assert delta_e76([50, 0, 0], [50, 3, 4]) == pytest.approx(5.0)
    assert delta_e76(rgb_to_lab([255] * 3), rgb_to_lab([0] * 3)) == pytest.approx(100.0)
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2] = (255, 0, 0)
    region = np.zeros((4, 4), bool)
    region[:2] = True
    assert mean_lab(img, region) == pytest.approx(rgb_to_lab([255, 0, 0]))
    assert mean_lab(img, np.zeros((4, 4), bool)) is None


def test_regions_and_locality():
    m = np.zeros((7, 7), bool)
    m[3, 3] = True
    assert dilate(m, 1).sum() == 9 and dilate(m, 2).sum() == 25
    assert (erode(dilate(m, 1), 1) == m).all()
    assert not erode(m, 1).any()
    full = np.ones((5, 5), bool)
    assert erode(full, 1).all()  # the border repeats the edge: a full mask stays full

    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    region = np.zeros((4, 4), bool)
    region[:2] = True
    b[:2] = 200  # inside the region: ignored
    assert outside_change(b, a, region) == 0.0
    b[2:, :, 0] = 51  # outside: one channel of three off by 51
    assert outside_change(b, a, region) == pytest.approx(51 / 255 / 3)
    assert outside_change(b, a, np.ones((4, 4), bool)) is None


def test_identity_reconstruction_is_perfect():
    from mgpe_core.evaluate import reconstruction_scores

    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (24, 24, 3)).astype(np.uint8) for _ in range(3)]
    scores = reconstruction_scores(imgs, [im.copy() for im in imgs])
    assert scores["psnr"] == PSNR_CAP  # inf per image, capped at PSNR_CAP dB
    assert scores["ssim"] == pytest.approx(1.0)
    assert scores["n"] == 3


def test_face_and_background_psnr_split_the_error_by_region():
    """An error only on the background: the face reads perfect, the background reads the
    error's PSNR; a face with no background pixels is left out of the background mean."""
    from mgpe_core.evaluate import reconstruction_scores

    a = np.full((16, 16, 3), 100, np.uint8)
    b = a.copy()
    bg = np.zeros((16, 16), bool)
    bg[:, :8] = True
    b[bg] = 110  # off by 10 on every background pixel and channel
    scores = reconstruction_scores([b, a.copy()], [a, a], [bg, np.zeros((16, 16), bool)])
    assert scores["psnr_face"] == PSNR_CAP
    assert scores["psnr_background"] == pytest.approx(10 * math.log10(255 ** 2 / 100), abs=1e-4)
    whole = 10 * math.log10(255 ** 2 / 50)  # half the pixels off by 10
    assert scores["psnr"] == pytest.approx((whole + PSNR_CAP) / 2, abs=1e-4)
    none = reconstruction_scores([b], [a], [np.zeros((16, 16), bool)])  # no background at all
    assert none["psnr_background"] is None and none["psnr_face"] == pytest.approx(whole, abs=1e-4)


def test_style_scores_measure_the_result_the_generator_and_the_re_rendering_floor():
    """'after' is the engine's result, 'generator_after' the raw output; a perfect
    re-rendering has floor 0 (reachable 1); a reconstruction whose region is off by a known
    colour has that distance as its floor."""
    from types import SimpleNamespace as NS

    from mgpe_core.evaluate import _Job, _style_scores
    from mgpe_core.metrics.image_metrics import delta_e76, mean_lab

    region = np.zeros((8, 8), bool)
    region[2:6, 2:6] = True
    target = np.full((8, 8, 3), 90, np.uint8)
    source = np.full((8, 8, 3), 200, np.uint8)
    faces = [NS(image=target), NS(image=source)]
    cases = [(None, NS(label="style-lips", colour=NS(region="lips")))]
    styled = source.copy()  # the result reached the source's colour exactly
    raw = np.full((8, 8, 3), 180, np.uint8)  # the generator alone fell short of it
    for recon, floor in ((target.copy(), 0.0), (np.full((8, 8, 3), 100, np.uint8), None)):
        jobs = [_Job("reconstruction", 0, None, None, output=recon),
                _Job("style-lips", 0, None, None, reference=1, region=region,
                     source_region=region, output=raw, blended=styled)]
        lips = _style_scores(jobs, faces, cases)["regions"]["lips"]
        want = floor if floor is not None else delta_e76(mean_lab(recon, region),
                                                          mean_lab(target, region))
        assert lips["after"] == 0 and lips["removed"] == 1
        short = delta_e76(mean_lab(raw, region), mean_lab(source, region))
        assert lips["generator_after"] == pytest.approx(short, abs=1e-3) and short > 5
        assert lips["generator_removed"] == pytest.approx(1 - short / lips["before"], abs=1e-3)
        assert lips["reconstruction"] == pytest.approx(want, abs=1e-3)
        assert lips["reachable"] == pytest.approx(1 - want / lips["before"], abs=1e-3)
    assert want > 3  # the second reconstruction was off (10 grey levels: about 4 delta E)


def _synth_face(k: int, size: int = 64):
    from types import SimpleNamespace as NS

    from mgpe_core.synth.render import render_face
    from mgpe_core.synth.writer import face_attributes

    attrs = face_attributes(77, k)
    return NS(id=k, image=render_face(attrs, size)[0], attrs=attrs)


def test_the_true_transfer_changes_the_style_sources_colour_and_nothing_else():
    """mgpe-synth faces: the true result of restyling the lips is the target re-rendered with
    the source's lip colour: its pixels differ from the target's on the lips only, where they
    take the source's colour; a face its attributes do not render (another framing) has
    none."""
    from types import SimpleNamespace as NS

    from mgpe_core.evaluate import _Job, _true_transfers
    from mgpe_core.metrics.image_metrics import delta_e76, mean_lab
    from mgpe_core.synth.render import render_face

    target, source = _synth_face(0), _synth_face(1)
    assert delta_e76(np.asarray(target.attrs["lip_color"], float),
                     np.asarray(source.attrs["lip_color"], float)) > 3
    cases = [(None, NS(label="style-lips", colour=NS(region="lips", attribute="lip_color")))]
    job = _Job("style-lips", 0, None, None, reference=1)
    true = _true_transfers([job], [target, source], cases)[id(job)]
    parts = render_face(target.attrs, 64)[1]
    lips = parts["u_lip"] | parts["l_lip"]
    changed = np.abs(true.astype(int) - target.image).max(-1) > 0
    # the lips' soft edge reaches 2 px past their mask at 64 px
    assert changed.any() and not (changed & ~dilate_mask(lips, 2)).any()
    assert delta_e76(mean_lab(true, lips), mean_lab(target.image, lips)) > 3
    moved = NS(id=0, image=np.roll(target.image, 3, axis=1), attrs=target.attrs)
    assert _true_transfers([job], [moved, source], cases) == {}
    no_attrs = NS(id=0, image=target.image, attrs=None)
    assert _true_transfers([job], [no_attrs, source], cases) == {}


def test_a_seam_against_the_true_transfer_leaves_out_the_wanted_recolouring():
    """Lips recoloured exactly as the true transfer does step against the skin differently
    than the photo's did: a seam against the photo, none against the truth. An edit without
    a truth is scored against the photo either way; a lighter patch beyond the truth counts."""
    from types import SimpleNamespace as NS

    from mgpe_core.evaluate import _Job, _true_transfers, seam_scores
    from mgpe_core.labels import get_schema
    from mgpe_core.metrics.artifacts import seam_score
    from mgpe_core.synth.render import render_face

    schema = get_schema("mgpe-13")
    target, source = _synth_face(1), _synth_face(3)  # lips far apart: a 13 delta E step
    cases = [(None, NS(label="style-lips", colour=NS(region="lips", attribute="lip_color"))),
             (None, NS(label="edit-mask", colour=None))]
    parts = render_face(target.attrs, 64)[1]
    lips = parts["u_lip"] | parts["l_lip"]
    labels = np.full(lips.shape, schema.index("skin"), np.uint8)
    labels[lips] = schema.index("u_lip")
    probe = _Job("style-lips", 0, None, labels, reference=1)
    true = _true_transfers([probe], [target, source], cases)[id(probe)]
    patch = true.astype(int)
    patch[lips] -= 40  # darker lips: a bigger step against the skin than the truth has
    patch = np.clip(patch, 0, 255).astype(np.uint8)
    jobs = [_Job("style-lips", 0, None, labels, reference=1, changed=lips, blended=true),
            _Job("style-lips", 0, None, labels, reference=1, changed=lips, blended=patch),
            _Job("edit-mask", 0, None, labels, changed=lips, blended=patch)]
    truths = {id(jobs[0]): true, id(jobs[1]): true}
    ops = seam_scores(jobs, [target, source], cases, schema, truths)["operations"]
    per_job = [seam_scores([j], [target, source], cases, schema, truths)["total"]
               for j in jobs]
    assert per_job[0]["excess_delta_e"] > 1 and per_job[0]["truth_excess_delta_e"] == 0
    assert per_job[1]["truth_excess_delta_e"] > 5
    assert per_job[2]["truth_excess_delta_e"] == per_job[2]["excess_delta_e"] > 5
    assert ops["style-lips"]["truth_excess_delta_e"] == pytest.approx(
        (per_job[0]["truth_excess_delta_e"] + per_job[1]["truth_excess_delta_e"]) / 2,
        abs=1e-3)
    # a perfect edit scores on the plain measure what the exact truth does, whatever the
    # result; an edit without a truth has no perfect score of its own
    pasted = np.where(lips[..., None], true, target.image)  # the photo kept around the lips
    perfect = seam_score(pasted, target.image, lips)
    assert per_job[0]["perfect_excess_delta_e"] == per_job[1]["perfect_excess_delta_e"] \
        == pytest.approx(perfect, abs=1e-3)
    assert perfect > 5  # the wanted recolouring is a step the plain score counts
    assert per_job[2]["perfect_excess_delta_e"] is None
    assert ops["style-lips"]["perfect_excess_delta_e"] == pytest.approx(perfect, abs=1e-3)
    assert ops["edit-mask"]["perfect_excess_delta_e"] is None
    total = seam_scores(jobs, [target, source], cases, schema, truths)["total"]
    assert total["perfect_excess_delta_e"] == pytest.approx(
        (2 * perfect + per_job[2]["excess_delta_e"]) / 3, abs=1e-3)


def test_a_restyled_parts_recoloured_fringe_is_no_break_within_the_background():
    """Hair restyled on a flat background, its 1-px fringe recoloured with it (half hair,
    half background): the pairs across the fringe are pairs across the hair's border, a
    wanted recolouring, so the within-component score has none to count; the same picture
    scored as a mask edit (no restyle) counts the fringe as a break in the background."""
    from types import SimpleNamespace as NS

    from mgpe_core.engine import EditRequest, Portrait, edit_region
    from mgpe_core.evaluate import _Job, seam_scores
    from mgpe_core.labels import get_schema

    schema = get_schema("mgpe-11")
    bg, hair = schema.index("background"), schema.index("hair")
    labels = np.full((48, 48), bg, np.uint8)
    labels[12:36, 12:36] = hair
    photo = np.zeros((48, 48, 3), np.uint8) + np.array([40, 160, 220], np.uint8)
    photo[labels == hair] = (120, 60, 20)
    target = Portrait(photo, labels, "target")
    donor = Portrait(photo.copy(), labels, "donor")
    restyle = EditRequest(target, styles={"hair": donor})
    region = edit_region(restyle, schema)
    fringe = region & (labels == bg)
    assert fringe.any()
    result = photo.copy()
    result[labels == hair] = (230, 200, 60)
    result[fringe] = (135, 180, 140)  # half the new hair over the background
    face = NS(image=photo, labels=labels)
    cases = [(None, NS(label="style-hair", colour=None)), (None, NS(label="edit-mask",
                                                                      colour=None))]
    jobs = [_Job("style-hair", 0, restyle, labels, changed=region, blended=result),
            _Job("edit-mask", 0, EditRequest(target, mask=labels), labels, changed=region,
                 blended=result)]
    ops = seam_scores(jobs, [face], cases, schema)["operations"]
    assert ops["style-hair"]["n_within"] == 0
    assert ops["edit-mask"]["n_within"] == 1 and ops["edit-mask"]["within_component_delta_e"] > 10


def dilate_mask(mask: np.ndarray, r: int) -> np.ndarray:
    from mgpe_core.morphology import dilate

    return dilate(mask, r)


def test_style_scores_against_the_true_transfer():
    """A result equal to the true transfer removes all of its distance (true_removed 1) while
    the photo-mean measure reads what the true transfer itself scores there; the target left
    as it was removes none."""
    from types import SimpleNamespace as NS

    from mgpe_core.evaluate import _Job, _style_scores, _true_transfers
    from mgpe_core.metrics.image_metrics import delta_e76, mean_lab
    from mgpe_core.synth.render import render_face

    target, source = _synth_face(0), _synth_face(1)
    cases = [(None, NS(label="style-lips", colour=NS(region="lips", attribute="lip_color")))]
    t_parts, s_parts = (render_face(f.attrs, 64)[1] for f in (target, source))
    t_lips, s_lips = (p["u_lip"] | p["l_lip"] for p in (t_parts, s_parts))
    probe = _Job("style-lips", 0, None, None, reference=1)
    true = _true_transfers([probe], [target, source], cases)[id(probe)]
    for result, want in ((true, 1.0), (target.image, 0.0)):
        job = _Job("style-lips", 0, None, None, reference=1, region=t_lips,
                   source_region=s_lips, output=target.image, blended=result)
        lips = _style_scores([job], [target, source], cases)["regions"]["lips"]
        assert lips["true_removed"] == pytest.approx(want, abs=1e-3)
        assert lips["generator_true_removed"] == pytest.approx(0.0, abs=1e-3)
        src = mean_lab(source.image, s_lips)
        ceiling = 1 - delta_e76(mean_lab(true, t_lips), src) / lips["before"]
        assert lips["true_transfer_removed"] == pytest.approx(ceiling, abs=1e-3)
        assert lips["true_before"] == pytest.approx(
            delta_e76(mean_lab(target.image, t_lips), mean_lab(true, t_lips)), abs=1e-3)
    assert lips["true_transfer_removed"] < 1  # the photo means differ beyond the lip colour


# -- the benchmark -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory):
    """A prepared mgpe-synth folder at 64 px whose test split has 4 faces (with attributes)."""
    from mgpe_core.data.prepare import prepare_dataset
    from mgpe_core.synth import write_dataset

    root = tmp_path_factory.mktemp("eval_data")
    write_dataset(root / "synth", count=46, size=64, seed=5, image_format="png")
    prepare_dataset(root / "synth", root / "prepared", size=64, schema="mgpe-11")
    return root / "prepared"


def _check_report(r, n):
    json.dumps(r, allow_nan=False)  # valid JSON: no NaN or infinity anywhere
    assert r["n"] == n and r["resolution"] == 64
    rec = r["reconstruction"]
    assert 0 < rec["psnr"] < PSNR_CAP and -1 <= rec["ssim"] <= 1 and rec["n"] == n
    assert 0 < rec["psnr_face"] < PSNR_CAP and 0 < rec["psnr_background"] < PSNR_CAP
    st = r["style_transfer"]
    assert st["regions"] and st["total"]["n"] > 0
    for s in st["regions"].values():
        assert s["before"] >= 0 and s["after"] >= 0 and s["n"] > 0
        assert s["removed"] == pytest.approx(1 - s["after"] / s["before"], abs=1e-3)
        assert s["reconstruction"] >= 0
        assert s["reachable"] == pytest.approx(1 - s["reconstruction"] / s["before"], abs=1e-3)
        if r["data"]["attributes"]:  # mgpe-synth faces: scored against the true transfer too
            assert s["true_removed"] == pytest.approx(1 - s["true_after"] / s["true_before"],
                                                      abs=1e-3)
            assert -1 < s["true_transfer_removed"] <= 1
    lo = r["locality"]
    assert lo["dilation_px"] >= 2 and lo["total"]["n"] > 0
    for s in lo["operations"].values():
        assert 0 <= s["generator_change"] <= 1 and 0 <= s["reconstruction_change"] <= 1
        # the engine keeps unedited pixels: the blend never reaches past the measured dilation
        assert s["outside_change"] == 0.0, (lo["operations"], lo["dilation_px"])
    assert lo["total"]["generator_change"] > 0  # the raw output does change them
    assert r["fid"] == {"skipped": "FID skipped: no Inception weights (--fid-weights)"}
    assert r["seconds"] > 0
    se = r["seams"]
    assert se["operations"] and se["total"]["n"] == sum(s["n"] for s in se["operations"].values())
    assert 0 < se["total"]["n_within"] == sum(s["n_within"] for s in se["operations"].values())
    assert all((s["within_component_delta_e"] is None) == (s["n_within"] == 0)
               and (s["within_component_delta_e"] or 0) >= 0 for s in se["operations"].values())
    art = r["artifacts"]
    assert set(art) == {"hair", "skin"}
    for a in art.values():
        assert a["n"] <= n
        if a["n"]:
            assert a["generated"] > 0 and a["real"] > 0
            assert a["ratio"] == pytest.approx(a["generated"] / a["real"], rel=1e-3)


def test_evaluate_api(tiny_home, synth_folder):
    from mgpe_core.evaluate import evaluate, headline, json_report

    calls = []

    def progress(k=1):
        calls.append(k)

    r = evaluate("tiny", synth_folder, n=4, seed=0, device="cpu", progress=progress)
    assert len(r["_examples"]) >= 6  # one picture row per operation that ran
    r = json_report(r)
    _check_report(r, 4)
    assert r["data"]["split"] == "test" and r["data"]["attributes"] is True
    mf = r["mask_fidelity"]
    for s in (mf["parser_on_real"], mf["reconstruction"], mf["total"],
              *mf["operations"].values()):
        assert 0 <= s["mean_iou"] <= 1 and 0 <= s["pixel_accuracy"] <= 1
    assert {"swap-mouth", "swap-eyes", "edit-mask"} <= set(mf["operations"])
    assert mf["total"]["n"] == sum(s["n"] for s in mf["operations"].values())
    assert sum(calls) > 0
    flat = headline(r)
    assert flat["psnr"] == r["reconstruction"]["psnr"] and "mask_miou" in flat
    assert flat["hair_artifact_ratio"] == r["artifacts"]["hair"]["ratio"]


def test_tone_matching_moves_only_what_users_see(tiny_home, synth_folder, capsys):
    """--no-colour-match: the same raw outputs (mask fidelity, reconstruction), other blended
    results (the seams), and the report says which blend it scored."""
    from mgpe_core.evaluate import evaluate, json_report, report_markdown

    reports = {m: json_report(evaluate("tiny", synth_folder, n=4, ops=["edit-mask"],
                                       match_colour=m)) for m in (True, False)}
    on, off = reports[True], reports[False]
    assert on["match_colour"] is True and off["match_colour"] is False
    assert on["mask_fidelity"] == off["mask_fidelity"]
    assert on["reconstruction"] == off["reconstruction"]
    assert on["seams"]["operations"]["edit-mask"] != off["seams"]["operations"]["edit-mask"]
    assert "| blend | tone matched to the photo" in report_markdown(on, examples=None)
    assert "| blend | plain, without tone matching" in report_markdown(off, examples=None)
    code, stdout, err = run(capsys, "eval", "--model", "tiny", "--data", str(synth_folder),
                            "--n", "2", "--ops", "edit-mask", "--no-colour-match", "--json")
    assert code == 0, err
    assert json.loads(stdout)["match_colour"] is False


def test_cli_report_files(tiny_home, synth_folder, tmp_path, capsys):
    from mgpe_core.io import read_image

    out = tmp_path / "R"
    code, stdout, err = run(capsys, "eval", "--model", "tiny", "--data", str(synth_folder),
                            "--n", "4", "--json", "--out", str(out))
    assert code == 0, err
    r = json.loads(stdout)
    for key in ("model", "n", "resolution", "data", "reconstruction", "mask_fidelity",
                "style_transfer", "locality", "fid", "seconds", "skipped", "notes"):
        assert key in r, key
    _check_report(r, 4)
    assert json.loads((out / "report.json").read_text()) == r
    md = (out / "report.md").read_text()
    assert "# mgpe eval: tiny" in md and "![examples](examples.png)" in md
    assert "| PSNR (dB) | SSIM | face PSNR | background PSNR | n |" in md and "FID skipped" in md
    assert "## Periodic artifacts" in md and "| skin |" in md and "## Seams" in md
    assert ("| operation | excess delta E | against the truth | a perfect edit | n | within a "
            "component | n |") in md
    total = r["seams"]["total"]
    seams = md.split("## Seams")[1].split("\n## ")[0]
    row = next(line for line in seams.splitlines() if line.startswith("| **all edits** |"))
    assert row.split(" | ")[1:4] == [f"{total[k]:.2f}" if total[k] is not None else "—"
                                     for k in ("excess_delta_e", "truth_excess_delta_e",
                                               "perfect_excess_delta_e")]
    grid = read_image(out / "examples.png")
    assert grid.shape[1] > 4 * 128 and grid.shape[0] > 6 * 128  # 4 columns, a row per op


def test_no_parser_resized_and_converted_data(tiny_home, tmp_path):
    """A celebamask-19 folder at 80 px, a model without parser: resized, converted, and the
    mask-fidelity section says why it is missing instead of failing."""
    from mgpe_core.evaluate import evaluate, json_report
    from mgpe_core.testing import make_prepared_folder

    make_prepared_folder(tmp_path / "d", count=4, size=80, schema_name="celebamask-19",
                         n_test=2)
    r = json_report(evaluate("tiny-noparser", tmp_path / "d", n=3))
    assert r["n"] == 2 and r["data"]["attributes"] is False
    assert "no parser" in r["mask_fidelity"]["skipped"]
    assert any("resized" in note for note in r["notes"])
    assert any("converted" in note for note in r["notes"])
    assert np.isfinite(r["reconstruction"]["psnr"])


def test_default_data_is_generated_once(tiny_home):
    from mgpe_core.evaluate import SYNTH_SEED, default_data_dir, evaluate, generate_test_set

    r = evaluate("tiny", None, n=2)
    folder = default_data_dir(64, 2)
    assert r["data"]["path"] == str(folder) and r["data"]["split"] == "all"
    assert r["data"]["attributes"] is True and str(SYNTH_SEED) in r["data"]["source"]
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert generate_test_set(64, 2) == folder  # reused, not rendered again
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp


def test_bad_input(tiny_home, tmp_path, capsys):
    from mgpe_core.evaluate import evaluate

    code, _, err = run(capsys, "eval", "--model", "tiny", "--data", str(tmp_path / "nope"))
    assert code == 1 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "eval", "--model", "tiny", "--data", str(tmp_path / "empty"))
    assert code == 1 and "manifest.json" in err
    code, _, err = run(capsys, "eval", "--model", "tinny", "--data", str(tmp_path))
    assert code == 2 and "Did you mean" in err and "tiny" in err
    with pytest.raises(DatasetError):
        evaluate("tiny", tmp_path / "empty", n=2)
    with pytest.raises(UsageError):
        evaluate("tiny", tmp_path / "empty", n=0)
