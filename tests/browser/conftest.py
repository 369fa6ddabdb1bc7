"""Real headless Chromium (Debian's, driven by Playwright) against a real daphne and the Bedrock test server."""

import sqlite3
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import TEST_MODEL_ID
from tests.servers import PROJECT, Daphne, app_env, manage

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT / "screenshots"  # git-ignored; look at them after a run


class LiveApp:
    def __init__(self, tmp: Path):
        self.db = tmp / "db.sqlite3"
        self.env = app_env(DATABASE_URL=f"sqlite:///{self.db}", DATA_DIR=str(tmp), BEDROCK_MODEL_ID=TEST_MODEL_ID,
                           REDIS_URL="", LOG_LEVEL="WARNING")
        manage(self.env, "migrate", "--noinput")
        self.daphne = Daphne(self.env, tmp / "daphne.log").start()
        self.url = self.daphne.url

    def new_user(self, staff: bool = False) -> tuple[str, str]:
        username, password = f"user{uuid.uuid4().hex[:8]}", "a-long-password-7"
        manage(self.env, "shell", "-c",
               f"from django.contrib.auth import get_user_model; "
               f"get_user_model().objects.create_user('{username}', password='{password}', "
               f"is_staff={staff}, is_superuser={staff})")
        return username, password

    def saved(self, message_id: int) -> dict:
        with sqlite3.connect(self.db) as db:
            db.row_factory = sqlite3.Row
            return dict(db.execute("SELECT * FROM chat_message WHERE id = ?", (message_id,)).fetchone())


@pytest.fixture(scope="session")
def live_app(bedrock_server, tmp_path_factory):
    app = LiveApp(tmp_path_factory.mktemp("live-app"))
    yield app
    app.daphne.stop()


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    # while it is open, and the async tests that run after the browser tests need the thread free.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield browser
        browser.close()


def console_error(message, errors: list):
    """Console errors count as page errors: a module that fails to load (a wrong import path) shows only there."""
    if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):  # Django's admin names no icon
        errors.append(message.text)


def watched_page(browser, **context_options):
    """A new context's page whose JavaScript errors (page errors and console errors) are collected:
    (context, page, errors)."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: console_error(message, errors))
    return context, page, errors


@pytest.fixture
def page(browser, live_app, bedrock_server):
    """A logged-in page, through the real login form, for a new user."""
    bedrock_server.reset()
    context, page, errors = watched_page(browser, viewport={"width": 1200, "height": 800})
    username, password = live_app.new_user()
    page.goto(f"{live_app.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_selector("#prompt")
    page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'connected'")  # a function: CSP forbids eval
    page.expected_errors = []  # a test that provokes one (a refused upload's 4xx is logged) names it here
    yield page
    context.close()
    errors = [e for e in errors if not any(expected in e for expected in page.expected_errors)]
    assert errors == [], f"JavaScript errors on the page: {errors}"


def staff_page(browser, live_app, path: str):
    """A new staff member's page at `path`, logged in through the admin's own login form: (context, page, errors)."""
    username, password = live_app.new_user(staff=True)
    context, page, errors = watched_page(browser, viewport={"width": 1200, "height": 900})
    page.goto(f"{live_app.url}/admin/login/?next={path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{path}")
    return context, page, errors


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def send(page, text: str):
    page.fill("#prompt", text)
    page.click("#go")


def last_turn(page):
    return page.locator("article.turn").last


def wait_status(page, status: str, timeout: float = 30_000):
    """Wait until the newest turn shows this status (complete, stopped, error, streaming…)."""
    page.wait_for_function(
        "status => { const turns = document.querySelectorAll('article.turn');"
        " return turns.length > 0 && turns[turns.length - 1].dataset.status === status; }",
        arg=status, timeout=timeout,
    )


def message_id(page) -> int:
    page.wait_for_function("() => { const t = document.querySelectorAll('article.turn');"
                           " return t.length && t[t.length - 1].dataset.messageId; }")
    return int(last_turn(page).get_attribute("data-message-id"))


def answer_text(page) -> str:
    return " ".join(last_turn(page).locator(".turn-answer").inner_text().split())
