"""The web labeling page in a real headless Chromium, with serve and the web worker on real
Kafka and Redis: keyboard answers, an undo and a skip reach the service and are learned;
each class keeps its number key on every item, nothing is pre-selected, and a class the
model has never seen is written only once confirmed (a typo, cancelled, never is).
Screenshots of the page and of the confirmation go to .artifacts/."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_support import missing
from tests.integration.deployment import ROOT, Deployment, free_port, wait_for

TOKEN = "browser-test-token-7f3a"
ARTIFACTS = ROOT / ".artifacts"


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None  # type: ignore[assignment]
    if webdriver is None or not chromium or not driver:
        missing(
            "needs chromium, chromedriver (apt-get install chromium chromium-driver) and "
            "selenium; scripts/services tools installs them"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1000,900")
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def _shown(browser: Any) -> str | None:
    # Read in the page in one go: the page re-renders while the test looks.
    shown = browser.execute_script(
        "const s = document.querySelector('#item strong'); return s ? s.textContent : null;"
    )
    return None if shown is None else str(shown)


def _press(browser: Any, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).send_keys(keys).perform()


def _keys(browser: Any) -> dict[str, str]:
    """The page's class buttons: class -> its number key."""
    pairs = browser.execute_script(
        "return [...document.querySelectorAll('#choices button')]"
        ".map((b) => [b.dataset.label, b.querySelector('kbd').textContent]);"
    )
    return {str(label): str(key) for label, key in pairs}


def _confirming(browser: Any) -> bool:
    return bool(browser.execute_script("return !document.getElementById('confirm').hidden;"))


def _answer(browser: Any, label: str) -> None:
    """Answer the shown item by keyboard: its class's number key, or type it (and confirm
    a class the page does not have yet)."""
    from selenium.webdriver.common.by import By

    keys = _keys(browser)
    if label in keys:
        _press(browser, keys[label])
        return
    box = browser.find_element(By.ID, "label")
    box.clear()
    box.send_keys(label + "\n")
    wait_for(lambda: _confirming(browser), 10, what=f"the confirmation of new class {label}")
    _press(browser, "a")


def _next(browser: Any, after: str | None) -> str:
    wait_for(lambda: _shown(browser) not in (None, after), 30, what="the next item")
    shown = _shown(browser)
    assert shown is not None
    return shown


def test_label_by_keyboard_undo_and_skip_in_a_real_browser(
    deployment: Deployment, tmp_path: Path, browser: Any
) -> None:
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "0.2"
    truth_file = tmp_path / "truth.csv"
    deployment.produce_stream("synth:sea-drift", 300, truth_file)
    truth = dict(row.split(",") for row in truth_file.read_text().splitlines()[1:])
    serve = deployment.serve()
    wait_for(lambda: deployment.store().queue_depth() >= 10, 60, what="items queued")
    port = free_port()
    env = deployment.env(
        STREAM_AL_WORKER__NAME="web",
        STREAM_AL_WORKER__WEB_TOKEN=TOKEN,
        STREAM_AL_WORKER__WEB_PORT=str(port),
        STREAM_AL_WORKER__UNDO_SECONDS="3",
    )
    deployment._start(["worker", "--oracle", "web"], "worker-web", env, None)
    state = f"http://127.0.0.1:{port}/api/state"

    def answers(token: str | None) -> int:
        request = urllib.request.Request(state)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)
        except OSError:
            return 0

    wait_for(lambda: answers(TOKEN) == 200, 60, what="the labeling page")
    assert answers(None) == 401 and answers("not-the-token") == 401

    browser.get(f"http://127.0.0.1:{port}/?token={TOKEN}")
    wrong = {"True": "False", "False": "True"}
    first = _next(browser, None)
    _nothing_selected(browser)
    _typo_is_confirmed_or_cancelled(browser)
    _answer(browser, truth[first])
    second = _next(browser, first)
    _answer(browser, wrong[truth[second]])  # a slip...
    third = _next(browser, second)
    _press(browser, "u")  # ...taken back
    wait_for(lambda: _shown(browser) == second, 30, what="the undone item again")
    _answer(browser, truth[second])
    assert _next(browser, second) == third
    keys = _keys(browser)
    assert set(keys) == {"True", "False"}  # both classes have their key now
    _answer(browser, truth[third])
    skipped = _next(browser, third)
    _press(browser, "s")
    fourth = _next(browser, skipped)
    assert _keys(browser) == keys  # the same key for each class, item after item
    _nothing_selected(browser)
    _answer(browser, truth[fourth])
    fifth = _next(browser, fourth)
    assert _keys(browser) == keys
    _answer(browser, truth[fifth])
    _next(browser, fifth)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-labeling-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000

    answered = {first, second, third, fourth, fifth}
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="learned") >= len(answered),
        30,
        what="the five labels learned",
    )
    log = [json.loads(e.label) for e in deployment.store().read_train_log(None, 10_000)]
    by_web = {label["id"]: label for label in log if label["annotator"] == "web"}
    assert set(by_web) == answered  # the skipped one never labeled, the slip never written
    for item_id, label in by_web.items():
        assert str(label["label"]) == truth[item_id]  # "maybe" never written


def _nothing_selected(browser: Any) -> None:
    active = browser.execute_script("return document.activeElement.tagName;")
    assert active == "BODY", f"{active} is pre-selected"


def _typo_is_confirmed_or_cancelled(browser: Any) -> None:
    """A typed class the model has never seen asks for a confirmation; Esc cancels it and
    nothing is written (the item stays)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shown = _shown(browser)
    box = browser.find_element(By.ID, "label")
    box.send_keys("maybe\n")
    wait_for(lambda: _confirming(browser), 10, what="the new-class confirmation")
    text = browser.find_element(By.ID, "confirm-text").text
    assert "'maybe' is a class the model has never seen" in text
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-new-class-confirmation.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    _press(browser, "1")  # a number key does not answer while the confirmation is open
    _press(browser, Keys.ESCAPE)
    wait_for(lambda: not _confirming(browser), 10, what="the confirmation cancelled")
    assert _shown(browser) == shown  # nothing was written
