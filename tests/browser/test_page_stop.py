"""Stop mid-answer: the page shows `stopped`, and the partial text is still there after a reload."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, message_id, send, wait_status


def test_stop_keeps_the_partial_answer_across_a_reload(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=[f"part{i} " for i in range(200)], delay=0.05))
    send(page, "Talk for a long time")
    page.wait_for_function("() => document.querySelector('article.turn .turn-answer')?.innerText.includes('part5')")
    page.click("#stop")
    wait_status(page, "stopped", timeout=5_000)
    assert page.locator("article.turn").last.locator(".badge-stopped").count() == 1
    partial = answer_text(page)
    saved = live_app.saved(message_id(page))
    assert saved["status"] == "stopped" and " ".join(saved["response"].split()) == partial
    assert "part5" in partial and "part199" not in partial
    assert page.is_visible("#go") and not page.is_visible("#stop")

    page.reload()
    wait_status(page, "stopped", timeout=10_000)
    assert answer_text(page) == partial
