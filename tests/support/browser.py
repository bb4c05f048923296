"""A real headless Chromium driven by selenium (Debian's `chromium` and `chromium-driver`), and a
swipe drawn on the demo page with W3C pointer actions. No driver download: the Debian driver
is named explicitly, so selenium's manager never goes to the network."""

from __future__ import annotations

import shutil

INSTALL = "sudo apt-get install -y chromium chromium-driver"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def browser_missing() -> str | None:
    """Why no browser test can run here (None when Chromium and its driver are installed)."""
    if not any(shutil.which(b) for b in CHROMIUM) or not shutil.which("chromedriver"):
        return f"the browser test needs Chromium and chromedriver: {INSTALL}"
    return None


def start_chromium(width: int = 1000, height: int = 960):
    """A headless Chromium, quiet and offline apart from the pages it is sent to."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    binary = next(shutil.which(b) for b in CHROMIUM if shutil.which(b))
    opts.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=opts)


def draw_swipe(driver, word: str, per_segment: int = 6, step_ms: int = 12) -> None:
    """Press on the demo's keyboard at the word's first key, move through every key centre in small
    steps, lift: what a mouse swipe sends (pointerdown, pointermoves, pointerup)."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, "keyboard")
    keys = [driver.execute_script("return window.swipeDemo.keyCentre(arguments[0])", c) for c in word]
    if not all(keys):
        raise ValueError(f"the page's layout has no key for some letter of {word!r}")
    w, h = keys[0]["width"], keys[0]["height"]
    offset = lambda x, y: (int(round(x - w / 2)), int(round(y - h / 2)))  # noqa: E731  from the canvas centre
    path = []
    for a, b in zip(keys[:-1], keys[1:]):
        path += [(a["x"] + f * (b["x"] - a["x"]), a["y"] + f * (b["y"] - a["y"])) for f in
                 [i / per_segment for i in range(per_segment)]]
    path.append((keys[-1]["x"], keys[-1]["y"]))
    actions = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_MOUSE, "mouse"), duration=step_ms)
    actions.pointer_action.move_to(canvas, *offset(*path[0]))
    actions.pointer_action.pointer_down()
    for x, y in path[1:]:
        actions.pointer_action.move_to(canvas, *offset(x, y))
    actions.pointer_action.pointer_up()
    actions.perform()
