"""One renderer for users and staff: an answer with raw HTML in it looks the same on the chat page and on the
admin message page. Markdown is rendered; the HTML is shown as text, so nothing in it can pose as the page."""

from tests.bedrock_server import Stream
from tests.browser.conftest import message_id, screenshot, send, staff_page, wait_status

RAW_HTML = [
    '<a class="button default" href="https://evil.example">Approve</a>',
    "<details open><summary>Open me</summary>hidden until opened</details>",
    '<img src=x onerror="window.__pwned = 1">',
    '<p id="content-main">Posing as part of the page</p>',
]
ANSWER = [
    "## Release plan\n\nSee [the docs](https://example.com/docs) first.\n\n",
    "| step | state |\n|---|---|\n| build | done |\n| deploy | waiting |\n\n",
    "```python\nprint('ship it')\n```\n\n",
    *(html + "\n\n" for html in RAW_HTML),
    "Thanks.",
]

# What a reader gets from a rendered answer; `html` proves both pages put the very same markup there.
DESCRIBE = """root => ({
  html: root.innerHTML,
  text: root.textContent,
  headings: [...root.querySelectorAll('h2')].map(e => e.textContent),
  headers: [...root.querySelectorAll('table th')].map(e => e.textContent),
  cells: [...root.querySelectorAll('table td')].map(e => e.textContent),
  code: [...root.querySelectorAll('pre code')].map(e => [e.className, e.textContent]),
  highlighted: root.querySelectorAll('pre code span[class^="hljs-"]').length,
  links: [...root.querySelectorAll('a')].map(a => a.getAttribute('href')),
  live: [...root.querySelectorAll('a.button, details, summary, img, script, [id], [onerror]')].map(e => e.outerHTML),
})"""


def test_answer_with_raw_html_renders_the_same_for_staff_as_for_the_user(page, browser, live_app, bedrock_server):
    page.evaluate("window.__pwned = undefined")
    bedrock_server.queue(Stream(deltas=ANSWER, delay=0.02))
    send(page, "Plan the release")
    wait_status(page, "complete")
    saved = live_app.saved(message_id(page))
    assert saved["response"] == "".join(ANSWER)
    on_chat = page.locator("article.turn").last.locator(".turn-answer").evaluate(DESCRIBE)
    screenshot(page, "chat-raw-html")

    context, admin, errors = staff_page(browser, live_app, f"/admin/chat/message/{saved['id']}/change/")
    try:
        admin.wait_for_selector("section.answer-rendered", state="visible")
        on_admin = admin.locator("#answer-rendered").evaluate(DESCRIBE)
        assert admin.locator("#answer-raw").text_content() == saved["response"]  # the raw text stays beside it
        screenshot(admin, "admin-raw-html")
        assert admin.evaluate("window.__pwned") is None
    finally:
        context.close()
    assert errors == []

    assert on_admin == on_chat
    assert on_chat["headings"] == ["Release plan"]
    assert on_chat["headers"] == ["step", "state"] and on_chat["cells"] == ["build", "done", "deploy", "waiting"]
    assert on_chat["code"] == [["language-python hljs", "print('ship it')"]] and on_chat["highlighted"] > 0
    assert on_chat["links"] == ["https://example.com/docs"]
    assert on_chat["live"] == []  # no button-looking link, no <details>, no image, no model-chosen id
    for html in RAW_HTML:
        assert html in on_chat["text"]
    assert page.evaluate("window.__pwned") is None
