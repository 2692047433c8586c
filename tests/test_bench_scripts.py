"""Smoke tests of the benchmark scripts that mirror `mgpe edit` on photos, at tiny sizes: the
stages of bench/bench_photo_edit.py write what the command writes, and bench/bench_parsers.py
scores and draws its figure."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from mgpe_cli.main import main
from mgpe_core.io import read_image

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_script(name: str):
    """The script as a module; the environment it sets for its own process is put back."""
    saved = dict(os.environ)
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return module


@pytest.mark.slow  # two model loads and the face models: ~5-7 s on two cores
def test_photo_edit_stages_write_what_the_command_writes(mp, astronaut, tmp_path):
    bench = load_script("bench_photo_edit")
    photo = tmp_path / "photo.jpg"
    bench.make_photo(photo, (600, 800), scale=1.0)
    times = bench.Pipeline().run(photo, tmp_path / "stages.jpg")
    assert set(times) == set(bench.STAGES)
    assert main(["edit", "swap-mouth", str(photo), "--reference", bench.REFERENCE,
                 "--model", bench.MODEL, "-o", str(tmp_path / "cli.jpg")]) == 0
    assert np.array_equal(read_image(tmp_path / "stages.jpg"), read_image(tmp_path / "cli.jpg"))


def test_parser_scores_count_only_valid_pixels():
    bench = load_script("bench_parsers")
    truth = np.array([[0, 1], [1, 2]], np.uint8)
    pred = np.array([[0, 1], [2, 2]], np.uint8)
    valid = np.array([[True, True], [False, True]])
    s = bench.scores(pred, truth, valid, ("background", "skin", "hair", "nose"))
    assert s == {"background": 1.0, "skin": 1.0, "hair": 1.0, "mean": 1.0, "accuracy": 1.0}
    s = bench.scores(pred, truth, np.ones((2, 2), bool), ("background", "skin", "hair"))
    assert s["skin"] == 0.5 and s["hair"] == 0.5 and s["accuracy"] == 0.75


def test_parsers_bench_on_the_helen_pictures(mp, tmp_path, monkeypatch, capsys):
    helen = load_script("bench_parsers").HELEN
    if not any(helen.glob("demo-*")):
        pytest.skip(f"the Helen test pictures are not here ({helen})")
    bench = load_script("bench_parsers")
    figure = tmp_path / "fig.png"
    monkeypatch.setattr("sys.argv", ["bench_parsers.py", "--repeat", "1", "--figure",
                                     str(figure)])
    bench.main()
    out = capsys.readouterr().out
    assert "| mean IoU |" in out and figure.exists()
    assert read_image(figure).shape[1] > 4 * bench.TILE
