"""`mgpe demo`: every figure written, the page links them, the eye-mask variant is compared."""

import json
import re

from mgpe_cli.main import main
from mgpe_core.io import read_image


def test_demo_writes_figures_and_index(tiny_home, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--model", "tiny", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["figures"] == ["mask_to_face.png", "component_edits.png",
                                  "style_transfer.png", "eye_mask_variant.png"]
    page = (out / "index.html").read_text()
    assert re.findall(r'src="([a-z_]+\.png)"', page) == summary["figures"]
    component = read_image(out / "component_edits.png")
    assert component.shape[1] >= 3 * 128 and component.shape[0] >= 6 * 128  # six edits
    assert read_image(out / "mask_to_face.png").shape[1] >= 8 * 128  # photo, mask, 6 faces


def test_demo_without_variant_skips_that_figure(tiny_home, tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "d"), "--model", "tiny-eyemask", "--json"]) == 0
    assert "eye_mask_variant.png" not in json.loads(capsys.readouterr().out)["figures"]


def test_close_up_shows_the_edited_window_before_and_after_magnified():
    import numpy as np

    from mgpe_plugins.demo_command import close_up

    before = np.zeros((128, 128, 3), np.uint8)
    after = before.copy()
    region = np.zeros((128, 128), bool)
    region[90:100, 20:40] = True  # a small edit low on the left
    after[region] = (200, 10, 10)
    tile = close_up(before, after, region, 128)
    assert tile.shape == (128, 128, 3)
    top, bottom = tile[:64].astype(int), tile[64:].astype(int)
    assert top.max() == 0  # before: untouched
    red = (bottom[..., 0] == 200).mean()
    assert 0.1 < red < 0.9  # the edit is in the window, with context around it
    assert (bottom[..., 0] == 200).sum() >= 4 * region.sum()  # at least 2x in each direction
    # a photo bigger than the model's square is compared at the square's resolution
    big = np.zeros((256, 256, 3), np.uint8)
    big_region = np.kron(region, np.ones((2, 2), bool))
    assert np.array_equal(close_up(big, after, big_region, 128), tile)
    assert close_up(before, after, np.zeros_like(region), 128) is None
