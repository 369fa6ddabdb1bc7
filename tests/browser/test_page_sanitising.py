"""Whatever the model emits, no script runs; markdown still renders."""

from tests.bedrock_server import Stream
from tests.browser.conftest import screenshot, send, wait_status

HOSTILE = [
    "Here is **bold** text and `inline code`.\n\n",
    '<img src=x onerror="window.__pwned = \'img\'">\n\n',
    "<script>window.__pwned = 'script'</script>\n\n",
    "[click me](javascript:window.__pwned='link') and ",
    '<a href="javascript:window.__pwned=\'a\'" onclick="window.__pwned=\'onclick\'">raw link</a>\n\n',
    '<svg onload="window.__pwned=\'svg\'"></svg>\n\n',
    "```python\nprint('hello')\n```\n",
]


def test_model_output_cannot_run_script_but_markdown_renders(page, bedrock_server):
    page.evaluate("window.__pwned = undefined")
    bedrock_server.queue(Stream(deltas=HOSTILE, delay=0.05))
    send(page, "Say something dangerous")
    wait_status(page, "complete")
    answer = page.locator("article.turn").last.locator(".turn-answer")
    for link in answer.locator("a").all():  # clicking what is left must not run anything either
        link.click(modifiers=["Control"], no_wait_after=True)
    page.wait_for_timeout(300)
    screenshot(page, "chat-sanitised")

    assert page.evaluate("window.__pwned") is None
    assert answer.locator("strong", has_text="bold").count() == 1
    assert answer.locator("pre code").count() == 1 and "print('hello')" in answer.locator("pre code").inner_text()
    assert answer.locator("script, img[onerror], svg[onload], [onclick]").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0
