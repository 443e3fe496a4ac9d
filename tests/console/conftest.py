"""Fixtures for the console's browser tests: a real dsbackup server on port 0 (the SDK tests'
server: fresh data directory, a Local root, one directory source; here with a scheduler that
ticks every second) and Debian's Chromium driven headless by Playwright. No browser is downloaded: Playwright starts
$DSBACKUP_CHROMIUM, else /usr/bin/chromium. Without it the tests are skipped, except under
CI=true, where they fail. Screenshots go to target/console-screenshots/.
"""
import importlib.util
import json
import os
import pathlib
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "console-screenshots"
CHROMIUM = os.environ.get("DSBACKUP_CHROMIUM", "/usr/bin/chromium")
# What the machine notes say Debian's Chromium needs as root on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The SDK tests' server fixture starts dsbackup the same way: load it under its own name.
_spec = importlib.util.spec_from_file_location("sdk_conftest", ROOT / "tests" / "sdk" / "conftest.py")
sdk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sdk)
OWNER_EMAIL, OWNER_PASSWORD, OWNER_KEY = sdk.OWNER_EMAIL, sdk.OWNER_PASSWORD, sdk.OWNER_KEY


def console_config(base):
    """The SDK tests' Local root and directory source, with a scheduler ticking every second."""
    return "scheduler_period_secs = 1\nscheduler_retry_secs = 1\n" + sdk.backup_config(base)


class Server(sdk.Server):
    def __init__(self):
        super().__init__(config=console_config)
        self.backups = self.dir / "backups"

    def api(self, method, path, body=None):
        """Calls the API as the owner (API key); the `response` of the envelope."""
        req = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {OWNER_KEY}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req) as res:
            return json.loads(res.read()).get("response")


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One signed-out page on the console, shared by a module's tests in order."""
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.on("dialog", lambda d: d.accept())
    pg.goto(server.url + "/")
    yield pg
    ctx.close()


def shot(page, name, **kw):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, **kw)
