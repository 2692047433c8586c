"""`mgpe serve` in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium against the real server with the built-in model.

Load the page, open a sample, paint a stroke of hair over the forehead, see the result change,
undo (the mask is back), download the result, the mask and the edit JSON, run an operation with
four style photos (a row of results), and take a screenshot of the editor. With
``MGPE_UPDATE_SCREENSHOTS=1`` the screenshots are also written to ``docs/images/serve/`` (what
``docs/serve.md`` and the README show).

Skips without chromium, chromedriver or selenium, except under CI=true, where a missing piece
is a failure (``.ci/run`` installs them). Selenium is pointed at the system browser and driver:
Selenium Manager never downloads anything.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = os.environ.get("MGPE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MGPE_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "images" / "serve"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,800")


def require_browser():
    """Skip without a browser to drive, except under CI=true (there it fails)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (the dev extra)")
    if not missing:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"missing {', '.join(missing)} but CI=true: .ci/run installs Debian's "
                    "chromium and chromium-driver; ./dev setup installs selenium")
    pytest.skip(f"needs {', '.join(missing)} (apt-get install chromium chromium-driver; "
                "pip install selenium)")


def _get(url: str, timeout: float = 10) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read(), r.headers.get("Content-Type", "")


@pytest.fixture(scope="module")
def server():
    """The real app (``create_app()``: the built-in model) served by uvicorn on a free port in
    a background thread; or MGPE_SERVE_TEST_URL, a server already running (e.g. ``mgpe serve``)."""
    url = os.environ.get("MGPE_SERVE_TEST_URL")
    if url:
        yield url.rstrip("/")
        return
    require_browser()  # no point in starting the server for nothing
    try:
        import uvicorn
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("uvicorn is missing but CI=true: install mgpe[serve] (./dev setup)")
        pytest.skip("needs the serve extra: pip install 'mgpe[serve]'")

    from mgpe_plugins.serve.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the mgpe serve app did not start in 60 s")
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def browser(tmp_path):
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="mgpe-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": str(downloads)})
        driver.downloads = downloads
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- helpers that read the page ----------------------------------------------------------------

RESULT_PIXELS = """
const img = document.getElementById('result-img');
if (!img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
c.getContext('2d').drawImage(img, 0, 0);
return c.toDataURL('image/png');
"""


def _image(data_url: str) -> np.ndarray:
    import base64

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def _result(driver) -> tuple[str, str | None]:
    """(result id, result pixels as a data URL) of the result pane."""
    return (driver.find_element("id", "result-img").get_attribute("data-result") or "",
            driver.execute_script(RESULT_PIXELS))


def _mask_ids(driver) -> np.ndarray:
    ids, w, h = driver.execute_script(
        "const p = state.current; return [Array.from(p.ids), p.W, p.H];")
    return np.asarray(ids, np.uint8).reshape(h, w)


def _wait(driver, condition, what, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))
    except Exception:
        toasts = [t.text for t in driver.find_elements("css selector", ".toast")]
        pytest.fail(f"timed out waiting for {what}; messages on the page: {toasts}; "
                    f"console errors: {_severe_logs(driver)}")


def _wait_new_result(driver, old_rid):
    def ready(d):
        rid, pixels = _result(d)
        return (rid, pixels) if rid and rid != old_rid and pixels and \
            d.find_element("id", "busy").get_attribute("hidden") is not None else False
    return _wait(driver, ready, "a new result")


def _screenshot(driver, tmp_path, name):
    path = tmp_path / name
    driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
    with Image.open(path) as im:
        assert im.size == (1280, 800)
    if os.environ.get("MGPE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / name)


def _severe_logs(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# -- the test ----------------------------------------------------------------------------------

def test_paint_render_undo_download(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    d.get(server + "/")
    _wait(d, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"),
          "the page to load /api/info")
    info = json.loads(_get(server + "/api/info")[0])
    classes = {c["name"]: c["id"] for c in info["schema"]["classes"]}
    assert len(d.find_elements(By.CSS_SELECTOR, "#palette .swatch")) == len(classes)
    ops = [e.get_attribute("data-op") for e in d.find_elements(By.CSS_SELECTOR, "#ops-list .op")]
    assert ops == [op["name"] for op in info["operations"]]

    # Open a built-in sample: its mask is loaded and a first result (the reconstruction) shown.
    d.find_element(By.CSS_SELECTOR, "#empty-samples [data-sample='0']").click()
    rid0, pixels0 = _wait_new_result(d, "")
    before = _mask_ids(d)
    h, w = before.shape

    # Paint a stroke of hair across the forehead (hair key: its swatch; then a big brush).
    d.find_element(By.CSS_SELECTOR, f".swatch[data-id='{classes['hair']}']").click()
    d.execute_script("setBrushSize(14)")
    canvas = d.find_element(By.ID, "mask-canvas")
    size = canvas.size["width"]
    y = int(size * (0.35 - 0.5))  # offsets from the canvas centre: a fringe over the forehead
    (ActionChains(d).move_to_element_with_offset(canvas, int(-0.22 * size), y).click_and_hold()
     .move_by_offset(int(0.22 * size), 0).move_by_offset(int(0.22 * size), 0).release()
     .perform())
    painted = _mask_ids(d)
    changed = painted != before
    assert changed.sum() > 50, "the stroke did not change the mask"
    assert set(np.unique(painted[changed])) == {classes["hair"]}
    rows = np.nonzero(changed)[0]
    assert 0.15 * h < rows.mean() < 0.45 * h  # over the forehead
    rid1, pixels1 = _wait_new_result(d, rid0)
    assert pixels1 != pixels0
    a, b = _image(pixels0).astype(int), _image(pixels1).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() > 20, "the result did not change"
    _screenshot(d, tmp_path, "editor.png")

    # Downloads of this result: full-size picture, the mask (id PNG naming its schema), JSON.
    href = d.find_element(By.ID, "dl-result").get_attribute("href")
    data, ctype = _get(href)
    assert ctype.startswith("image/png") and data.startswith(b"\x89PNG")
    photo = Image.open(io.BytesIO(_get(server + d.execute_script(
        "return photoUrl(state.current.pid, 'photo.png')"))[0]))
    assert Image.open(io.BytesIO(data)).size == photo.size
    replay = json.loads(_get(d.find_element(By.ID, "dl-json").get_attribute("href"))[0])
    assert isinstance(replay, dict) and replay.get("mgpe_edit") == 1
    bundle, _ = _get(d.find_element(By.ID, "dl-zip").get_attribute("href"))
    assert "edit.json" in zipfile.ZipFile(io.BytesIO(bundle)).namelist()
    d.find_element(By.ID, "dl-mask").click()
    mask_file = _wait(d, lambda d: next(iter(d.downloads.glob("*.mask.png")), None),
                      "the mask download", timeout=10)
    time.sleep(0.2)
    with Image.open(mask_file) as m:
        assert m.mode == "L" and m.size == (w, h)
        assert m.info.get("mgpe-schema") == info["schema"]["name"]
        assert np.array_equal(np.asarray(m), painted)

    # Undo (Ctrl+Z): the mask is back to the photo's own, and the result is re-rendered.
    ActionChains(d).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert np.array_equal(_mask_ids(d), before)
    rid2, pixels2 = _wait_new_result(d, rid1)
    assert pixels2 != pixels1
    # Redo (Ctrl+Y) brings the stroke back.
    ActionChains(d).key_down(Keys.CONTROL).send_keys("y").key_up(Keys.CONTROL).perform()
    assert np.array_equal(_mask_ids(d), painted)
    rid3, _ = _wait_new_result(d, rid2)

    # Before / after flip (Space) shows the original photo.
    d.find_element(By.TAG_NAME, "body").send_keys(" ")
    assert d.find_element(By.ID, "before-img").is_displayed()
    assert not d.find_element(By.ID, "result-img").is_displayed()
    d.find_element(By.TAG_NAME, "body").send_keys(" ")
    assert d.find_element(By.ID, "result-img").is_displayed()

    # mask-to-face with two style samples: a row of two results.
    op = d.find_element(By.CSS_SELECTOR, "#ops-list .op[data-op='mask-to-face']")
    op.find_element(By.TAG_NAME, "summary").click()
    for spec in ("sample:3", "sample:5", "sample:7", "sample:9"):
        op.find_element(By.CSS_SELECTOR, f".photo-picker input[value='{spec}'] + img").click()
    op.find_element(By.CSS_SELECTOR, "button.primary").click()
    _wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results-row .thumb")) == 4,
          "four mask-to-face results")
    rid4, _ = _wait_new_result(d, rid3)
    _screenshot(d, tmp_path, "mask-to-face.png")

    assert not d.find_elements(By.CSS_SELECTOR, ".toast.error"), \
        [t.text for t in d.find_elements(By.CSS_SELECTOR, ".toast.error")]
    assert _severe_logs(d) == []
