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
