"""`mgpe serve`'s HTTP API, in process (Starlette's TestClient) with the built-in model: every
endpoint, every bad request, session expiry and memory bounds, concurrent clients, render
coalescing, server errors, and the same pixels as `mgpe edit`."""

import base64
import io
import json
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

try:
    import python_multipart  # noqa: F401
    import starlette  # noqa: F401
    from starlette.testclient import TestClient
except ImportError:
    if os.environ.get("CI") == "true":  # a missing extra fails there, as mediapipe does
        raise
    pytest.skip("needs the serve extra: pip install 'mgpe[serve]'", allow_module_level=True)

from conftest import builtin_schema

from mgpe_plugins.serve.app import INTERNAL, create_app
from mgpe_plugins.serve.studio import Studio

SCHEMA = builtin_schema()  # the default model's: what the studio serves
MODEL_SCHEMA = SCHEMA.name
HAIR = SCHEMA.index("hair")


@pytest.fixture(scope="module")
def studio():
    s = Studio()
    s.editor()  # the networks once for the module
    return s


@pytest.fixture
def client(studio, tmp_path):
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>mgpe</title>")
    (static / "js" / "app.js").write_text("console.log(1)")
    with TestClient(create_app(studio=studio, static_dir=static)) as c:
        yield c


def new_session(c):
    r = c.post("/api/sessions")
    assert r.status_code == 200
    return r.json()["session"]


def add_sample(c, sid, n=0):
    r = c.post(f"/api/sessions/{sid}/photos", json={"sample": n})
    assert r.status_code == 200, r.text
    return r.json()


def png_bytes(arr, **info):
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    for k, v in info.items():
        meta.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", pnginfo=meta)
    return buf.getvalue()


def b64(data):
    return base64.b64encode(data).decode()


def pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def painted(c, sid, pid, k=0):
    """The photo's mask with a stroke of hair (differs with ``k``), as base64 PNG."""
    lab = pixels(c.get(f"/api/sessions/{sid}/photos/{pid}/mask.png").content).copy()
    lab[150 + 4 * k:160 + 4 * k, 90:130] = HAIR
    return lab, b64(png_bytes(lab))


# -- endpoints ------------------------------------------------------------------------------


def test_info(client):
    info = client.get("/api/info").json()
    assert info["model"] == {"name": "mgpe-synth-128", "resolution": 128, "variant": None}
    assert info["schema"]["name"] == MODEL_SCHEMA
    assert info["schema"]["classes"][HAIR]["name"] == "hair"
    assert len(info["schema"]["classes"][HAIR]["color"]) == 3
    assert info["components"] == ["l_eye", "r_eye", "mouth", "skin", "hair"]
    ops = {o["name"]: o for o in info["operations"]}
    assert {"bangs", "swap-mouth", "style", "mask-to-face", "edit-mask"} <= set(ops)
    opts = {o["name"]: o for o in ops["bangs"]["options"]}
    assert opts["mode"]["kind"] == "choice" and opts["mode"]["choices"] == ["add", "remove"]
    assert opts["mode"]["required"] and opts["mode"]["flag"] == "--mode"
    assert opts["reference"]["kind"] == "photo" and opts["depth"]["kind"] == "float"
    # an option without a default says null (never click's "unset" marker as text)
    assert opts["reference"]["default"] is None and opts["mode"]["default"] is None
    assert "Sentinel" not in json.dumps(info)
    assert {o["name"]: o["kind"] for o in ops["mask-to-face"]["options"]}["styles"] == "photos"
    assert info["samples"][0] == {"spec": "sample:0", "url": "/api/samples/0.png"}
    assert info["limits"]["upload_bytes"] == 25 * 1024 * 1024
    assert isinstance(info["photos_extra"], bool)


def test_page_static_files_and_samples(client):
    assert client.get("/").text.startswith("<!doctype html>")
    assert client.get("/static/js/app.js").text == "console.log(1)"
    for bad in ("/static/js", "/static/js/", "/static/../app.py", "/static/%2e%2e/app.py",
                "/static/js/%2e%2e/%2e%2e/app.py", "/static/.hidden", "/static/nope.js"):
        r = client.get(bad)
        assert r.status_code == 404 and "error" in r.json(), bad
    r = client.get("/api/samples/3.png")
    assert r.status_code == 200 and pixels(r.content).shape == (256, 256, 3)
    for bad in ("99.png", "x.png", "3.jpg"):
        assert client.get(f"/api/samples/{bad}").status_code == 404


def test_photo_files_render_and_results(client):
    sid = new_session(client)
    ph = add_sample(client, sid, 0)
    assert ph["faces"] == [] and ph["size"] == 128 and ph["mask_size"] == [256, 256]
    pid = ph["photo"]
    base = f"/api/sessions/{sid}/photos/{pid}"
    assert pixels(client.get(f"{base}/photo.png").content).shape == (256, 256, 3)
    assert pixels(client.get(f"{base}/face.png").content).shape == (256, 256, 3)
    mask = Image.open(io.BytesIO(client.get(f"{base}/mask.png").content))
    assert mask.mode == "L" and mask.info["mgpe-schema"] == MODEL_SCHEMA
    assert pixels(client.get(f"{base}/mask-color.png").content).shape == (256, 256, 3)
    assert client.get(f"{base}/secret.png").status_code == 404
    lab, mask64 = painted(client, sid, pid)
    r = client.post(f"/api/sessions/{sid}/render", json={"photo": pid, "mask": mask64,
                                                         "view": "face"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert pixels(r.content).shape == (128, 128, 3)
    rid = r.headers["x-mgpe-result"]
    # the painted mask became the photo's current mask
    assert np.array_equal(pixels(client.get(f"{base}/mask.png").content), lab)
    res = f"/api/sessions/{sid}/results/{rid}"
    assert pixels(client.get(f"{res}/image.png").content).shape == (256, 256, 3)
    assert np.array_equal(pixels(client.get(f"{res}/face.png").content), pixels(r.content))
    assert np.array_equal(pixels(client.get(f"{res}/mask.png").content), lab)
    record = client.get(f"{res}/edit.json").json()
    assert record["mgpe_edit"] == 1 and record["op"] is None
    assert record["start_mask"] == "start.mask.png"
    assert client.get(record["files"]["start.mask.png"]).status_code == 200
    assert client.get(f"{res}/replay.zip").headers["content-type"] == "application/zip"
    # a style from another photo of the session, and from a sample
    other = add_sample(client, sid, 5)["photo"]
    r = client.post(f"/api/sessions/{sid}/render", json={
        "photo": pid, "styles": {"hair": other, "mouth": "sample:4"}, "view": "photo"})
    assert r.status_code == 200 and pixels(r.content).shape == (256, 256, 3)
    # an edit; its result's mask becomes the current mask on request
    r = client.post(f"/api/sessions/{sid}/edit", json={
        "op": "bangs", "photo": pid, "options": {"mode": "add", "depth": 0.7}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["results"]) == 1 and out["replay"].endswith("/edit.json")
    rid = out["results"][0]["result"]
    for key in ("image", "face", "mask"):
        assert client.get(out["results"][0][key]).status_code == 200
    r = client.post(f"{base}/mask", json={"result": rid})
    assert r.status_code == 200
    assert np.array_equal(pixels(client.get(f"{base}/mask.png").content),
                          pixels(client.get(out["results"][0]["mask"]).content))
    r = client.post(f"{base}/mask", json={"mask": mask64})
    assert r.status_code == 200
    # several results: one face per style photo
    r = client.post(f"/api/sessions/{sid}/edit", json={
        "op": "mask-to-face", "photo": pid, "options": {"styles": ["sample:1", other]},
        "view": "face"})
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    assert client.delete(f"/api/sessions/{sid}").json() == {"deleted": sid}
    assert client.get(f"{base}/mask.png").status_code == 404


def test_edit_gives_the_pixels_of_mgpe_edit(client, tmp_path, capsys):
    from mgpe_cli.main import main

    sid = new_session(client)
    pid = add_sample(client, sid, 0)["photo"]
    r = client.post(f"/api/sessions/{sid}/edit", json={
        "op": "swap-mouth", "photo": pid, "options": {"reference": "sample:4"}})
    assert r.status_code == 200, r.text
    served = pixels(client.get(r.json()["results"][0]["image"]).content)
    assert main(["edit", "swap-mouth", "sample:0", "--reference", "sample:4",
                 "-o", str(tmp_path / "cli.png")]) == 0
    capsys.readouterr()
    cli = np.asarray(Image.open(tmp_path / "cli.png"))
    assert served.shape == cli.shape
    assert np.abs(served.astype(int) - cli.astype(int)).max() <= 1


# -- bad requests ---------------------------------------------------------------------------


def test_bad_requests(client, monkeypatch):
    sid = new_session(client)
    pid = add_sample(client, sid, 0)["photo"]
    api = f"/api/sessions/{sid}"

    def err(r, status):
        assert r.status_code == status, (r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error"} and "Traceback" not in body["error"]
        return body["error"]

    # unknown session, photo, result
    err(client.post("/api/sessions/nope/photos", json={"sample": 0}), 404)
    err(client.get(f"{api}/photos/nope/mask.png"), 404)
    err(client.get(f"{api}/results/nope/image.png"), 404)
    err(client.delete("/api/sessions/nope"), 404)
    # bad JSON, missing / mistyped fields
    assert "JSON" in err(client.post(f"{api}/render", content=b"{nope",
                                     headers={"content-type": "application/json"}), 400)
    err(client.post(f"{api}/render", json=[1, 2]), 400)
    err(client.post(f"{api}/render", json={}), 400)
    err(client.post(f"{api}/render", json={"photo": 3}), 400)
    err(client.post(f"{api}/render", json={"photo": pid, "view": "side"}), 400)
    err(client.post(f"{api}/photos", json={"sample": 99}), 400)
    # operations and options
    assert "Did you mean: bangs" in err(client.post(f"{api}/edit", json={
        "op": "bangz", "photo": pid}), 404)
    assert "'sideways'" in err(client.post(f"{api}/edit", json={
        "op": "bangs", "photo": pid, "options": {"mode": "sideways"}}), 400)
    assert "Did you mean: depth" in err(client.post(f"{api}/edit", json={
        "op": "bangs", "photo": pid, "options": {"mode": "add", "dept": 1}}), 400)
    assert "--depth" in err(client.post(f"{api}/edit", json={
        "op": "bangs", "photo": pid, "options": {"mode": "add", "depth": 7}}), 400)
    assert "reads no file paths" in err(client.post(f"{api}/edit", json={
        "op": "swap-mouth", "photo": pid, "options": {"reference": "/etc/passwd"}}), 400)
    assert "reads no file paths" in err(client.post(f"{api}/edit", json={
        "op": "mask-to-face", "photo": pid, "options": {"styles": ["/etc"]}}), 400)
    err(client.post(f"{api}/render", json={"photo": pid, "styles": {"hat": pid}}), 400)
    err(client.post(f"{api}/render", json={"photo": pid, "styles": {"hair": "../x"}}), 404)
    # masks: wrong size, ids outside the schema, another schema, not base64, not a PNG
    small = np.zeros((128, 128), np.uint8)
    assert "256x256" in err(client.post(f"{api}/render", json={
        "photo": pid, "mask": b64(png_bytes(small))}), 400)
    bad_ids = np.full((256, 256), 40, np.uint8)
    assert "outside" in err(client.post(f"{api}/render", json={
        "photo": pid, "mask": b64(png_bytes(bad_ids))}), 400)
    assert "schema" in err(client.post(f"{api}/render", json={
        "photo": pid, "mask": b64(png_bytes(small + 1, **{"mgpe-schema": "celebamask-19"}))}),
        400)
    err(client.post(f"{api}/render", json={"photo": pid, "mask": "***"}), 400)
    err(client.post(f"{api}/render", json={"photo": pid, "mask": b64(b"GIF89a...")}), 400)
    # uploads: corrupt, not an image, wrong media type, too large, too many pixels
    good = png_bytes(np.full((64, 64, 3), 128, np.uint8))
    assert "not an image" in err(client.post(f"{api}/photos", files={
        "file": ("x.png", b"hello, not a picture", "image/png")}), 400)
    err(client.post(f"{api}/photos", files={"file": ("x.png", good[:60], "image/png")}), 400)
    err(client.post(f"{api}/photos", files={"file": ("x.txt", good, "text/plain")}), 415)
    err(client.post(f"{api}/photos", content=good, headers={"content-type": "image/png"}),
        415)
    err(client.post(f"{api}/photos", files={"other": ("x.png", good, "image/png")}), 400)
    small_app = create_app(studio=client.app.state.studio, upload_bytes=1000)
    with TestClient(small_app) as c2:
        sid2 = new_session(c2)
        big = png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
        assert "limit" in err(c2.post(f"/api/sessions/{sid2}/photos", files={
            "file": ("x.png", big, "image/png")}), 413)

        def chunks():  # no Content-Length: refused while streaming
            for _ in range(200):  # over the limit plus room for multipart headers
                yield b"x" * 1000

        err(c2.post(f"/api/sessions/{sid2}/photos", content=chunks(),
                    headers={"content-type": "multipart/form-data; boundary=b"}), 413)
    monkeypatch.setenv("MGPE_MAX_PIXELS", "1000")
    assert "megapixels" in err(client.post(f"{api}/photos", files={
        "file": ("x.png", good, "image/png")}), 413)
    monkeypatch.delenv("MGPE_MAX_PIXELS")
    # a photo with no face: refused (no face found, or a mask with no face)
    r = client.post(f"{api}/photos", files={"file": ("grey.png", good, "image/png")})
    assert r.status_code in (400, 422) and "face" in r.json()["error"]
    # nothing to do is said, not rendered
    err(client.post(f"{api}/edit", json={"op": "edit-mask", "photo": pid,
                                          "options": {"new_mask": pid}}), 422)


# -- sessions: expiry, bounds, concurrency, coalescing, failures ------------------------------


def test_sessions_expire_and_are_bounded(studio):
    now = [0.0]
    app = create_app(studio=studio, max_sessions=2, session_ttl=60, max_photos=2,
                     clock=lambda: now[0])
    with TestClient(app) as c:
        a = new_session(c)
        now[0] = 59
        assert c.post(f"/api/sessions/{a}/photos", json={"sample": 0}).status_code == 200
        now[0] = 118  # idle 59 s: still there
        pids = [add_sample(c, a, n)["photo"] for n in (1, 2)]
        assert c.get(f"/api/sessions/{a}/photos/{pids[0]}/mask.png").status_code == 200
        # a third photo drops the least recently used one (the first sample)
        assert len(app.state.store.get(a).photos) == 2
        c.get(f"/api/sessions/{a}/photos/{pids[0]}/mask.png")  # now pids[1] is the oldest
        add_sample(c, a, 3)
        assert c.get(f"/api/sessions/{a}/photos/{pids[1]}/mask.png").status_code == 404
        assert c.get(f"/api/sessions/{a}/photos/{pids[0]}/mask.png").status_code == 200
        # a third session drops the least recently used one
        b = new_session(c)
        c.post(f"/api/sessions/{a}/photos", json={"sample": 4})  # a is used again
        new_session(c)
        assert c.post(f"/api/sessions/{b}/photos", json={"sample": 0}).status_code == 404
        assert c.post(f"/api/sessions/{a}/photos", json={"sample": 0}).status_code == 200
        now[0] = 1000  # idle past the limit
        r = c.post(f"/api/sessions/{a}/photos", json={"sample": 0})
        assert r.status_code == 404 and "expired" in r.json()["error"]
        assert len(app.state.store) == 0


def test_eight_concurrent_clients_get_their_own_results(client, studio):
    from mgpe_core.engine import EditRequest

    n = 8
    got, errors = {}, []

    def one(k):
        try:
            sid = new_session(client)
            pid = add_sample(client, sid, k)["photo"]
            _, mask64 = painted(client, sid, pid, k)
            r = client.post(f"/api/sessions/{sid}/render",
                            json={"photo": pid, "mask": mask64, "view": "face"})
            assert r.status_code == 200, r.text
            got[k] = pixels(r.content)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(got) == n
    for k in range(n):  # each client's picture is its own photo's, with its own stroke
        p = studio.sample_photo("x", k)
        lab = p.mask.copy()
        lab[150 + 4 * k:160 + 4 * k, 90:130] = HAIR
        want = studio.run([EditRequest(p.portrait, mask=lab)], "face")[0][0]
        assert np.abs(got[k].astype(int) - want.astype(int)).max() <= 1, k


def test_renders_of_a_session_are_coalesced(client, studio, monkeypatch):
    sid = new_session(client)
    pid = add_sample(client, sid, 0)["photo"]
    real = studio.run
    started = threading.Event()

    def slow(requests, view):
        started.set()
        time.sleep(1.0)
        return real(requests, view)

    monkeypatch.setattr(studio, "run", slow)
    status = {}

    def render(name):
        r = client.post(f"/api/sessions/{sid}/render", json={"photo": pid, "view": "face"})
        status[name] = (r.status_code, r.json() if r.status_code != 200 else None)

    first = threading.Thread(target=render, args=("first",))
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=render, args=("second",))
    second.start()
    time.sleep(0.3)  # the second waits behind the first ...
    third = threading.Thread(target=render, args=("third",))
    third.start()  # ... and is replaced by the third
    for t in (first, second, third):
        t.join(60)
    assert status["first"][0] == 200 and status["third"][0] == 200
    assert status["second"] == (409, {"error": "superseded"})


def test_a_server_error_leaks_nothing_and_the_server_keeps_serving(client, studio,
                                                                      monkeypatch, caplog):
    sid = new_session(client)
    pid = add_sample(client, sid, 0)["photo"]

    def broken(requests, view):
        raise RuntimeError("secret /home/user/path")

    monkeypatch.setattr(studio, "run", broken)
    with caplog.at_level("ERROR", logger="mgpe.serve"):
        r = client.post(f"/api/sessions/{sid}/render", json={"photo": pid})
    assert r.status_code == 500 and r.json() == {"error": INTERNAL}
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "secret /home/user/path" in caplog.text  # the log has it
    monkeypatch.undo()
    r = client.post(f"/api/sessions/{sid}/render", json={"photo": pid})
    assert r.status_code == 200


# -- real photos and the command ------------------------------------------------------------


@pytest.mark.slow
def test_a_real_photo_is_framed_and_pasted_back(client, astronaut, mp):
    sid = new_session(client)
    r = client.post(f"/api/sessions/{sid}/photos",
                    files={"file": ("astronaut.png", png_bytes(astronaut), "image/png")})
    assert r.status_code == 200, r.text
    ph = r.json()
    assert ph["framed"] and ph["faces"] and ph["mask_size"] == [128, 128]
    assert (ph["width"], ph["height"]) == (512, 512)
    r = client.post(f"/api/sessions/{sid}/edit", json={
        "op": "style", "photo": ph["photo"], "options": {"source": "sample:5"}})
    assert r.status_code == 200, r.text
    full = pixels(client.get(r.json()["results"][0]["image"]).content)
    assert full.shape == astronaut.shape
    assert (full != astronaut).any(axis=2).mean() < 0.5  # only the hair region changed


def test_serve_command_without_the_extra_and_with_a_public_host(monkeypatch, capsys):
    import importlib.util

    import mgpe_plugins.serve.run as run
    from mgpe_cli.main import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'mgpe[serve]'" in err and "Traceback" not in err
    monkeypatch.setattr(importlib.util, "find_spec", real)
    calls = []
    monkeypatch.setattr(run, "serve", lambda **kw: calls.append(kw))
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert "warning" in capsys.readouterr().err and calls[0]["host"] == "0.0.0.0"
    assert main(["serve", "--port", "0"]) == 0
    assert "warning" not in capsys.readouterr().err and calls[1]["host"] == "127.0.0.1"


def test_info_json_is_plain_json(client):
    json.dumps(client.get("/api/info").json())  # every default and choice serialisable


def test_pictures_of_all_sessions_stay_within_max_bytes(studio):
    one = 256 * 256 * 4  # a sample: the photo (its crop is the same array) and its mask
    app = create_app(studio=studio, max_bytes=3 * one)
    with TestClient(app) as c:
        a, b = new_session(c), new_session(c)
        add_sample(c, a, 0)
        add_sample(c, a, 1)
        add_sample(c, b, 2)
        add_sample(c, b, 3)  # over the budget: the other session (a) goes first
        assert c.post(f"/api/sessions/{a}/photos", json={"sample": 0}).status_code == 404
        pids = [add_sample(c, b, n)["photo"] for n in (4, 5, 6, 7)]
        photos = app.state.store.get(b).photos
        assert 1 <= len(photos) <= 3 and pids[-1] in photos  # never the newest


def test_only_local_host_names_when_bound_locally(studio):
    app = create_app(studio=studio, allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"host": "evil.example:8000"}).status_code == 400


def test_an_operation_whose_options_fail_is_listed_with_its_error():
    from mgpe_core.operations import Operation
    from mgpe_plugins.serve.options import describe_operation

    class Broken(Operation):
        name, summary = "broken", "fails"

        def options(self):
            raise RuntimeError("no options today")

    d = describe_operation(Broken())
    assert d["options"] == [] and "no options today" in d["error"]
