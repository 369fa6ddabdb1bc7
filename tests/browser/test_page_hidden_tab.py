"""A tab in the background does the minimum: it collects the answer's text without putting it on the page, still
ends correctly (its badge says Done when `done` comes), and shows the whole answer once it is visible again.
Headless Chromium keeps every tab visible, so the page is told it is hidden the way a browser tells it:
document.visibilityState and a `visibilitychange` event."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, message_id, send, wait_status

DELTAS = [f"word{i} " for i in range(40)] + ["\n\n```python\nprint('done')\n```\n"]

SET_VISIBILITY = """(state) => {
    if (state === 'hidden') {
        Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
        Object.defineProperty(document, 'hidden', { value: true, configurable: true });
    } else {
        delete document.visibilityState;  // the real (prototype) getters again: visible
        delete document.hidden;
    }
    document.dispatchEvent(new Event('visibilitychange'));
}"""

COUNT_ANSWER_CHANGES = """() => {
    window.__answerChanges = 0;
    new MutationObserver((records) => {
        if (records.some((r) => (r.target.closest?.('.turn-answer') ?? r.target.parentElement?.closest('.turn-answer')))) {
            window.__answerChanges += 1;
        }
    }).observe(document.querySelector('#turns'), { subtree: true, childList: true, characterData: true });
}"""


def test_hidden_tab_collects_text_ends_and_catches_up(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=DELTAS, delay=0.02))
    page.evaluate(SET_VISIBILITY, "hidden")
    page.evaluate(COUNT_ANSWER_CHANGES)
    send(page, "Answer while I look elsewhere")
    wait_status(page, "complete")
    # Ended correctly while hidden: the badge and figures are there, the answer was never painted.
    turn = page.locator("article.turn").last
    assert turn.locator(".badge-complete").count() == 1
    assert page.evaluate("window.__answerChanges") == 0
    assert answer_text(page) == ""

    page.evaluate(SET_VISIBILITY, "visible")
    saved = live_app.saved(message_id(page))
    page.wait_for_function("() => document.querySelector('article.turn:last-child .code-block') !== null")
    assert answer_text(page).startswith("word0 word1") and "word39" in answer_text(page)
    assert turn.locator(".code-block code").inner_text().strip() == "print('done')"
    assert " ".join(saved["response"].split()).startswith(answer_text(page)[:100])
