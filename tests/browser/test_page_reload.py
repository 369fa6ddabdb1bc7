"""Reload mid-answer: the text so far comes back and the rest keeps arriving."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, message_id, send, wait_status

WORDS = [f"bit{i} " for i in range(80)]


def test_reload_mid_answer_shows_the_text_so_far_then_the_rest(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=WORDS, delay=0.05))  # 4 s
    send(page, "A long answer please")
    page.wait_for_function("() => document.querySelector('article.turn .turn-answer')?.innerText.includes('bit15')")
    page.reload()
    page.wait_for_function("() => document.querySelector('article.turn .turn-answer')?.innerText.includes('bit10')",
                           timeout=10_000)
    assert page.locator("article.turn").last.get_attribute("data-status") == "streaming"  # not finished yet
    wait_status(page, "complete")
    assert answer_text(page) == " ".join("".join(WORDS).split())
    assert live_app.saved(message_id(page))["response"] == "".join(WORDS)
