"""The Ray Serve application on the session's Ray: the HTTP API, a replica restart, a bounded
load test, and the demo page in a real headless Chromium."""

import json
import os
import re
import time
import urllib.error
import urllib.request

import pytest

from swipe.keyboard import load_layouts
from swipe.serve.load import load_test
from swipe.serve.service import ServeConfig
from swipe.serve.users import UserWordsConfig
from tests.support.browser import browser_missing, draw_swipe, start_chromium
from tests.support.s3 import free_port
from tests.support.swipes import ideal_swipe

from conftest import ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def app(ray_session, tmp_path_factory):
    from ray import serve

    from swipe.serve.app import start

    cfg = ServeConfig(port=free_port(), cpus_per_replica=0.25,
                      users=UserWordsConfig(store=str(tmp_path_factory.mktemp("users"))))
    cwd = os.getcwd()
    os.chdir(ROOT)  # the config's paths are relative to the repository
    try:
        url = start(cfg, name="swipe-test")
    finally:
        os.chdir(cwd)
    yield url
    serve.shutdown()


def _call(url, path, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def qwerty():
    return load_layouts(ROOT / "data/layouts/qwerty_english.json")["qwerty_english"]


def test_the_api_decodes_lists_and_refuses_with_reasons(app, qwerty):
    status, options = _call(app, "/api/options")
    assert status == 200 and options["default_model"] == "en-small" and "qwerty_english" in options["layouts"]
    assert set(options["decoders"]) == {"beam", "greedy", "template", "fused"} and options["lexicon_words"] > 300_000
    status, grid = _call(app, "/api/layouts/qwerty_english")
    assert status == 200 and len(grid["keys"]) == 27
    for decoder in options["decoders"]:
        status, out = _call(app, "/api/decode", ideal_swipe(qwerty, "people") | {"layout": "qwerty_english",
                                                                                   "decoder": decoder, "beam_size": 4})
        assert status == 200 and out["candidates"][0]["word"] == "people", (decoder, out)
        assert len(out["candidates"][0]["attention"]) == len("people")
    assert _call(app, "/api/decode", {"x": [1, 2], "y": [1], "t": [0, 1]}) == (
        422, {"detail": "x, y and t must have one value per point: got 2, 1, 2"})
    assert _call(app, "/api/layouts/dvorak")[0] == 404
    assert _call(app, "/api/users/ann/words", {"words": ["naïve"]})[0] == 422
    assert _call(app, "/api/users/ann/words", {"nope": 1})[0] == 400
    status, out = _call(app, "/api/decode", {"x": [0.25] * 300_000, "y": [0.25], "t": [0]})  # 1.5 MB, never parsed
    assert status == 413 and "at most 1000000" in out["detail"]


def _replicas() -> dict[str, str]:
    """The application's live replica actors: id → name (in Serve's namespace)."""
    import ray
    from ray.util.state import list_actors

    # this session's Ray by its address: another Ray on the machine (a user's job) must not confuse it
    address = ray.get_runtime_context().gcs_address
    return {a.actor_id: a.name for a in list_actors(address, filters=[("state", "=", "ALIVE")], limit=1000)
            if a.class_name.startswith("ServeReplica:swipe-test:")}


def test_personal_words_survive_a_replica_restart(app, qwerty):
    import ray

    req = ideal_swipe(qwerty, "quibbix") | {"layout": "qwerty_english", "user": "kim"}
    assert "quibbix" not in [c["word"] for c in _call(app, "/api/decode", req)[1]["candidates"]]
    assert _call(app, "/api/users/kim/words", {"words": ["quibbix"]}) == (
        200, {"user": "kim", "added": ["quibbix"], "words": 1})
    assert _call(app, "/api/decode", req)[1]["candidates"][0]["word"] == "quibbix"  # at once, no retraining
    ((before, name),) = _replicas().items()
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
    deadline = time.monotonic() + 120
    while True:  # Serve replaces the replica; requests fail until the new one is up
        status, out = _call(app, "/api/decode", req)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200 and out["candidates"][0]["word"] == "quibbix" and out["candidates"][0]["personal"]
    assert _replicas() and before not in _replicas()  # a new replica read the words from the store


def test_a_bounded_load_test_has_no_errors(app):
    rows = [json.loads(line) for line in (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_text().splitlines()[:20]]
    bodies = [{"x": r["curve"]["x"], "y": r["curve"]["y"], "t": r["curve"]["t"], "layout": r["curve"]["grid_name"]}
              for r in rows]
    result = load_test(app, bodies, requests=40, concurrency=4)
    print("\nload test:", result.figures())
    assert result.errors == 0, result.error_examples
    assert result.figures()["p50_ms"] > 0 and len(result.latencies_ms) == 40


def test_the_demo_decodes_a_swipe_in_chromium(app):
    why = browser_missing()
    if why and os.environ.get("SWIPE_BROWSER_REQUIRED"):
        pytest.fail(f"SWIPE_BROWSER_REQUIRED is set (.ci/run installed the browser), yet {why}")
    if why:
        pytest.skip(why)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_chromium()
    try:
        driver.get(app + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        draw_swipe(driver, "people")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#candidates li[data-word]")))
        words = [li.get_attribute("data-word") for li in driver.find_elements(By.CSS_SELECTOR, "#candidates li")]
        assert "people" in words, words
        # each browser its own user (a shared "demo" let one visitor's words reach the next)
        user = driver.find_element(By.ID, "user").get_attribute("value")
        assert re.fullmatch(r"b-[0-9a-f]{16}", user), user
        # a personal word, added on the page, then swiped
        driver.find_element(By.ID, "new-word").send_keys("zorblat")
        driver.find_element(By.ID, "add-word").click()
        wait.until(lambda d: "zorblat" in d.find_element(By.ID, "my-words").text)
        draw_swipe(driver, "zorblat")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#candidates li[data-word="zorblat"].personal')))
        driver.find_elements(By.CSS_SELECTOR, "#letters button")[3].click()  # the 'b': its attention drawn
        shot = driver.get_screenshot_as_png()
        assert shot[:4] == b"\x89PNG"
        if os.environ.get("SWIPE_SCREENSHOT"):  # the README's picture: SWIPE_SCREENSHOT=docs/demo.png
            (ROOT / os.environ["SWIPE_SCREENSHOT"]).write_bytes(shot)
    finally:
        driver.quit()
