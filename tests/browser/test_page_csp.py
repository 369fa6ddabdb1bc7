"""In real Chromium, the Content-Security-Policy blocks nothing the pages need (the socket included) and
does block a script injected into the page."""

import uuid

from tests.bedrock_server import Stream
from tests.browser.conftest import message_id, send, staff_page, wait_status


def csp_violations(page) -> list[str]:
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return violations


def test_chat_page_streams_markdown_with_nothing_blocked(page, bedrock_server):
    violations = csp_violations(page)
    page.reload()  # from the start, now that violations are being listened for
    page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'connected'")
    bedrock_server.queue(Stream(deltas=["# Title\n\n", "Some **bold** text and code:\n\n", "```python\nprint('hi')\n```\n"]))
    send(page, "Show me markdown")
    wait_status(page, "complete")
    answer = page.locator("article.turn").last.locator(".turn-answer")
    assert answer.locator("h1").inner_text() == "Title" and answer.locator("strong").inner_text() == "bold"
    assert answer.locator("pre code .hljs-built_in, pre code [class^=hljs-]").count() > 0  # highlighted
    assert violations == []


def test_an_injected_inline_script_is_blocked(browser, live_app):
    # A page of its own (not the `page` fixture): the violation it provokes is the console error it expects.
    context, page, errors = staff_page(browser, live_app, "/")
    page.wait_for_selector("#prompt")
    violations = csp_violations(page)
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.__injected = true';
        document.body.append(script);
    }""")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__injected") is None
    assert any("script-src" in text for text in violations), violations
    assert len(errors) == 1 and "script-src" in errors[0], errors  # that violation, and nothing else
    context.close()


def test_admin_pages_have_nothing_blocked(browser, live_app):
    context, page, errors = staff_page(browser, live_app, "/admin/")
    violations = csp_violations(page)
    for path in ("/admin/", "/admin/chat/message/", "/admin/chat/message/dashboard/", "/admin/chat/conversation/",
                 "/admin/chat/catalogentry/add/", "/admin/axes/accessattempt/", "/admin/auth/user/"):
        page.goto(f"{live_app.url}{path}")
        page.wait_for_load_state("load")
    # The nonce'd <style> blocks apply: the dashboard's own, and the history styles it includes.
    page.goto(f"{live_app.url}/admin/chat/message/dashboard/")
    assert page.evaluate("() => getComputedStyle(document.querySelector('.summary')).display") == "grid"
    assert page.evaluate("() => getComputedStyle(document.querySelector('#scope.quiet-note')).fontSize") == "13px"
    assert violations == [] and errors == []
    context.close()


def test_lockout_page_has_nothing_blocked(browser, live_app):
    context = browser.new_context()
    page = context.new_page()
    violations = csp_violations(page)
    username = f"nobody{uuid.uuid4().hex[:8]}"
    for _ in range(5):
        page.goto(f"{live_app.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Too many failed logins"
    assert "Try again in 15 minutes" in page.locator("main").inner_text()
    assert violations == []
    context.close()


def test_admin_message_page_renders_the_answer_with_nothing_blocked(page, browser, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=["Some **bold** words\n\n", "```python\nprint('ok')\n```\n"]))
    send(page, "Render me for staff")
    wait_status(page, "complete")
    path = f"/admin/chat/message/{message_id(page)}/change/"
    context, admin, errors = staff_page(browser, live_app, path)
    try:
        admin.wait_for_selector("section.answer-rendered", state="visible")
        assert admin.locator("#answer-rendered strong", has_text="bold").count() == 1
        assert admin.locator("#answer-rendered pre code span[class^='hljs-']").count() > 0
    finally:
        context.close()
    assert errors == []  # a blocked script or style is a console error
