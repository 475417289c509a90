"""Debian's chromium, headless, driven by Playwright over the app served on localhost: what the browser tests
(test_browser.py, test_screens.py) and the documentation's pictures (docs/screenshots.py) share."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator

from werkzeug.serving import make_server

from tests.factories import PASSWORD

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def executable() -> str | None:
    """Debian's chromium (``make chromium`` installs it), or ``None`` when it is not installed."""
    return shutil.which("chromium")


@contextlib.contextmanager
def headless(path: str) -> Iterator:
    """The chromium at ``path``, launched headless by Playwright; closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """The app served on a free port of 127.0.0.1 by a thread of this process; yields its address."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    follow(page, "button[type=submit]")


def pick(page, field: str, typed: str, suggestion: str) -> None:
    """Type ``typed`` into the picker ``field`` (its id) and choose, with the keyboard, its suggestion that says
    ``suggestion``: the arrows down to it, then Enter.

    The list must stay closed once the suggestions asked as it was typed in have come, also when the choice was made
    from those the field showed as it was focused, before them.
    """
    from playwright.sync_api import expect

    typing = answered_as_typed(page, field)
    page.fill(f"#{field}", typed)
    options = page.locator(f"#{field}-options [role=option]")
    expect(options.filter(has_text=suggestion)).to_be_visible()
    shown = options.all_inner_texts()
    for _ in range(next(n for n, text in enumerate(shown) if suggestion in text) + 1):
        page.press(f"#{field}", "ArrowDown")
    page.press(f"#{field}", "Enter")
    typing.evaluate("typing => typing.answered")
    expect(page.locator(f"#{field}-options")).to_be_hidden()


def answered_as_typed(page, field: str):
    """A handle whose ``answered`` settles once the picker ``field`` has shown the suggestions asked as it was typed
    in (not those asked as it was focused): ``handle.evaluate("typing => typing.answered")`` waits for them."""
    return page.evaluate_handle(
        """field => ({answered: new Promise(done => document.addEventListener("htmx:afterSwap", function answer(event) {
             const asked = event.detail.requestConfig;
             if (asked?.elt?.id !== field || asked.triggeringEvent?.type !== "input") return;
             document.removeEventListener("htmx:afterSwap", answer);
             done();
           }))})""",
        field,
    )


def follow(page, selector: str) -> None:
    """Click what navigates, and wait until the new page's scripts have run (``load`` follows deferred scripts).

    A click returns once the navigation starts; acting on the new page before its scripts have
    attached their listeners would lose the change they react to.
    """
    with page.expect_navigation(wait_until="load"):
        page.click(selector)
