"""`mgpe edit --replay EDIT.json -o out.png`: an edit made in `mgpe serve`, downloaded with the
pictures it names (the result's replay.zip), gives the server's picture on the command line."""

import io
import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

try:
    from starlette.testclient import TestClient
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("needs the serve extra: pip install 'mgpe[serve]'", allow_module_level=True)

from mgpe_cli.main import main
from mgpe_core.labels import get_schema
from mgpe_plugins.serve.app import create_app
from mgpe_plugins.serve.studio import Studio

M11 = get_schema("mgpe-11")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(studio=Studio())) as c:
        yield c


def pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def stroke(client, sid, pid):
    import base64

    lab = pixels(client.get(f"/api/sessions/{sid}/photos/{pid}/mask.png").content).copy()
    h, w = lab.shape
    lab[int(h * .55):int(h * .6), int(w * .35):int(w * .5)] = M11.index("hair")
    buf = io.BytesIO()
    Image.fromarray(lab).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def replay(client, tmp_path, capsys, result_base, out_name="out.png"):
    """Download the result's replay.zip, replay it with the CLI, return (served, replayed)."""
    folder = tmp_path / "download"
    with zipfile.ZipFile(io.BytesIO(client.get(f"{result_base}/replay.zip").content)) as z:
        z.extractall(folder)
    record = json.loads((folder / "edit.json").read_text())
    assert record == client.get(f"{result_base}/edit.json").json()
    code = main(["edit", "--replay", str(folder / "edit.json"), "-o", str(tmp_path / out_name)])
    err = capsys.readouterr().err
    assert code == 0, err
    served = pixels(client.get(f"{result_base}/image.png").content)
    return served, np.asarray(Image.open(tmp_path / out_name)), record


def same(a, b):
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_an_edit_on_a_painted_mask_replays(client, tmp_path, capsys):
    sid = client.post("/api/sessions").json()["session"]
    pid = client.post(f"/api/sessions/{sid}/photos", json={"sample": 1}).json()["photo"]
    assert client.post(f"/api/sessions/{sid}/photos/{pid}/mask",
                       json={"mask": stroke(client, sid, pid)}).status_code == 200
    r = client.post(f"/api/sessions/{sid}/edit", json={
        "op": "bangs", "photo": pid, "options": {"mode": "add", "depth": 0.8}})
    assert r.status_code == 200, r.text
    rid = r.json()["results"][0]["result"]
    served, replayed, record = replay(client, tmp_path, capsys,
                                      f"/api/sessions/{sid}/results/{rid}")
    assert record["op"] == "bangs" and record["input"] == "sample:1"
    assert record["start_mask"] == "start.mask.png"
    same(served, replayed)


def test_a_render_with_styles_from_session_photos_replays(client, tmp_path, capsys):
    sid = client.post("/api/sessions").json()["session"]
    pid = client.post(f"/api/sessions/{sid}/photos", json={"sample": 2}).json()["photo"]
    donor = client.post(f"/api/sessions/{sid}/photos", json={"sample": 5}).json()["photo"]
    r = client.post(f"/api/sessions/{sid}/render", json={
        "photo": pid, "mask": stroke(client, sid, pid), "view": "photo",
        "styles": {"hair": donor, "mouth": "sample:7"}})
    assert r.status_code == 200, r.text
    rid = r.headers["x-mgpe-result"]
    served, replayed, record = replay(client, tmp_path, capsys,
                                      f"/api/sessions/{sid}/results/{rid}")
    assert record["op"] is None and set(record["portraits"]) == {donor}
    assert np.array_equal(served, pixels(r.content))
    same(served, replayed)


@pytest.mark.slow
def test_a_framed_photo_replays(client, tmp_path, capsys, astronaut, mp):
    sid = client.post("/api/sessions").json()["session"]
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "PNG")
    ph = client.post(f"/api/sessions/{sid}/photos",
                     files={"file": ("a.png", buf.getvalue(), "image/png")}).json()
    pid = ph["photo"]
    r = client.post(f"/api/sessions/{sid}/render", json={
        "photo": pid, "mask": stroke(client, sid, pid), "view": "photo"})
    assert r.status_code == 200, r.text
    served, replayed, record = replay(client, tmp_path, capsys,
                                      f"/api/sessions/{sid}/results/"
                                      f"{r.headers['x-mgpe-result']}")
    assert record["align"] == "face" and record["input"] == "photo.png"
    same(served, replayed)


def test_bad_replay_records(tmp_path, capsys):
    bad = tmp_path / "edit.json"
    for record, words in [
        ({"nope": 1}, "not an mgpe edit record"),
        ({"mgpe_edit": 1, "op": None, "input": "../photo.png"}, "file name beside"),
        ({"mgpe_edit": 1, "op": None, "input": "photo.png"}, "missing"),
        ({"mgpe_edit": 1, "op": "bangs", "input": "sample:0", "options": {"mood": "x"}},
         "no option"),
    ]:
        bad.write_text(json.dumps(record))
        assert main(["edit", "--replay", str(bad), "-o", str(tmp_path / "o.png")]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert main(["edit", "--replay", str(bad)]) == 2
    assert "-o" in capsys.readouterr().err
