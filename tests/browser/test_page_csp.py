"""Every script of ours is a file: the chat page and the admin message page work under a Content-Security-Policy
that forbids inline script (`script-src 'self'`, no 'unsafe-inline'), with no violation reported."""

import pytest

from tests.bedrock_server import Stream
from tests.browser.conftest import message_id, send, staff_page, wait_status
from tests.browser.csp_settings import CSP
from tests.servers import Daphne


@pytest.fixture(scope="module")
def strict_app(live_app, tmp_path_factory):
    """A second daphne on the same database and secret key (so the same logins), sending the policy."""
    env = live_app.env | {"DJANGO_SETTINGS_MODULE": "tests.browser.csp_settings"}
    daphne = Daphne(env, tmp_path_factory.mktemp("strict-app") / "daphne.log").start()
    yield daphne.url
    daphne.stop()


def test_chat_and_admin_pages_run_with_no_inline_script_allowed(page, browser, live_app, strict_app, bedrock_server):
    response = page.goto(f"{strict_app}/")  # still logged in: the session is in the shared database
    assert response.header_value("content-security-policy") == CSP
    page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'connected'")
    bedrock_server.queue(Stream(deltas=["Some **bold** words\n\n", "```python\nprint('ok')\n```\n"]))
    send(page, "Under a strict policy")
    wait_status(page, "complete")
    answer = page.locator("article.turn").last.locator(".turn-answer")
    assert answer.locator("strong", has_text="bold").count() == 1
    assert answer.locator("pre code span[class^='hljs-']").count() > 0  # the vendored scripts ran too
    # A violation is a console error: the `page` fixture fails the test on any.

    path = f"/admin/chat/message/{message_id(page)}/change/"
    context, admin, errors = staff_page(browser, live_app, path)
    try:
        assert admin.goto(f"{strict_app}{path}").header_value("content-security-policy") == CSP
        admin.wait_for_selector("section.answer-rendered", state="visible")
        assert admin.locator("#answer-rendered strong", has_text="bold").count() == 1
    finally:
        context.close()
    assert errors == []
