"""A logged-in user sends a prompt and watches the answer grow, then sees it done with its figures."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, message_id, screenshot, send, wait_status

WORDS = [f"word{i} " for i in range(30)]

RECORD_STATES = """() => {
    window.__states = [];
    const record = () => {
        const answers = document.querySelectorAll('article.turn .turn-answer');
        const text = answers.length ? answers[answers.length - 1].innerText.trim() : '';
        if (text && window.__states[window.__states.length - 1] !== text) window.__states.push(text);
    };
    new MutationObserver(record).observe(document.querySelector('#turns'), {subtree: true, childList: true, characterData: true});
}"""


def test_answer_grows_in_steps_then_matches_what_was_saved(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=WORDS, delay=0.06))
    page.evaluate(RECORD_STATES)
    send(page, "Stream me some words")
    wait_status(page, "streaming")
    page.wait_for_function("() => (window.__states || []).length >= 5")
    screenshot(page, "chat-mid-stream")
    wait_status(page, "complete")
    screenshot(page, "chat-done")

    states = page.evaluate("window.__states")
    intermediate = [s for s in states if s != "".join(WORDS).strip()]
    assert len(intermediate) >= 3, states  # the text grew in steps, not all at the end
    assert all(later.startswith(earlier) for earlier, later in zip(intermediate, intermediate[1:]))
    saved = live_app.saved(message_id(page))
    assert saved["status"] == "complete"
    assert answer_text(page) == " ".join(saved["response"].split())
    metrics = page.locator("article.turn").last.locator(".turn-metrics").inner_text()
    assert "30 out" in metrics and "first token" in metrics
    assert page.locator("article.turn").last.locator(".badge-complete").count() == 1
