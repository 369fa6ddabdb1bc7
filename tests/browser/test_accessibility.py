"""axe-core finds no serious or critical accessibility violation on the login page, the chat page while an answer
streams and after it is done, and the admin message page, at desktop and at phone width, in the light and the dark
theme."""

import pytest

from tests.bedrock_server import Stream
from tests.browser.accessibility import assert_accessible, serious_violations
from tests.browser.conftest import console_error, message_id, screenshot, send, staff_page, wait_status

WIDTHS = {"desktop": {"width": 1200, "height": 800}, "phone": {"width": 390, "height": 844}}

# An answer with what the page draws around text: headings, a list, a table, a code block (with its Copy
# button), reasoning (the Thinking section) and cited sources.
ANSWER = [
    "## Plan\n\n", "1. Build\n2. Ship\n\n", "| step | state |\n|---|---|\n| build | done |\n\n",
    "```python\nprint('ship it')\n```\n\n", *(f"word{i} " for i in range(40)),
]
CITATIONS = [{"title": "Handbook", "source": "s3://hr/handbook.pdf", "sourceContent": [{"text": "25 days"}],
              "location": {"documentPage": {"documentIndex": 0, "start": 3, "end": 3}}},
             {"title": "Intranet", "location": {"web": {"url": "https://intranet.example/leave"}}}]


@pytest.fixture(params=["light", "dark"])
def scheme(request):
    return request.param


@pytest.mark.parametrize("width", WIDTHS)
def test_login_page(browser, live_app, width, scheme):
    context = browser.new_context(viewport=WIDTHS[width], color_scheme=scheme)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: console_error(message, errors))
    try:
        page.goto(f"{live_app.url}/")
        page.wait_for_selector("#id_username")
        assert_accessible(page)
        page.fill("#id_username", "nobody")  # the refused login's error message too
        page.fill("#id_password", "wrong-password-1")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_selector(".errornote, .form-error, [role=alert]")
        assert_accessible(page)
    finally:
        context.close()
    assert errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_chat_page_mid_answer_and_after_done(page, bedrock_server, width, scheme):
    page.set_viewport_size(WIDTHS[width])
    page.emulate_media(color_scheme=scheme)
    # Held mid-answer (after the reasoning, the table, the code block and a few words) until axe has run.
    stream = Stream(reasoning=["Let me think."], deltas=ANSWER, citations=CITATIONS, stop_reason="max_tokens",
                    hold_after=10)
    bedrock_server.queue(stream)
    send(page, "Plan the release")
    try:
        page.wait_for_function("() => /word4/.test(document.querySelector('article.turn:last-of-type .turn-answer')"
                               "?.textContent)")
        assert page.locator("article.turn").last.get_attribute("data-status") == "streaming"
        screenshot(page, f"a11y-chat-mid-{width}-{scheme}")
        mid_answer = serious_violations(page)
    finally:
        stream.release.set()
    assert not mid_answer, "axe-core found, mid-answer:\n" + "\n".join(mid_answer)

    wait_status(page, "complete")
    page.wait_for_selector("article.turn .turn-sources")
    screenshot(page, f"a11y-chat-done-{width}-{scheme}")
    assert_accessible(page)


def test_chat_page_drawer_open_at_phone_width(page):
    page.set_viewport_size(WIDTHS["phone"])
    page.click("#sidebar-toggle")
    page.wait_for_selector("#sidebar", state="visible")
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_message_page(page, browser, live_app, bedrock_server, width, scheme):
    bedrock_server.queue(Stream(reasoning=["Hmm."], deltas=ANSWER[:4], citations=CITATIONS))
    send(page, "Plan the release")
    wait_status(page, "complete")
    path = f"/admin/chat/message/{message_id(page)}/change/"
    context, admin, errors = staff_page(browser, live_app, path)
    try:
        admin.set_viewport_size(WIDTHS[width])
        admin.emulate_media(color_scheme=scheme)
        admin.wait_for_selector("section.answer-rendered", state="visible")
        assert_accessible(admin)
    finally:
        context.close()
    assert errors == []
