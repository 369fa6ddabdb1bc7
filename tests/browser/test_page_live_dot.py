"""The live dot pulses while alice waits for an answer, holds still while the text streams in (an endless pulse would
keep the page drawing every frame, and each delta would wait for its turn), and pulses again when the model goes
quiet mid-answer; the answer then ends as usual."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, send, wait_status

DELTAS = [f"word{i} " for i in range(30)]

# Whether the newest turn's live dot runs an animation now (a CSS animation with `animation: none` has none).
DOT_PULSES = """() => {
    const dot = [...document.querySelectorAll('article.turn')].pop()?.querySelector('.live-dot');
    return dot ? dot.getAnimations().some((a) => a.playState === 'running') : null;
}"""


def test_dot_pulses_while_waiting_holds_still_while_text_streams_and_pulses_again_when_quiet(
        page, live_app, bedrock_server):
    answer = Stream(deltas=DELTAS, first_delay=0.8, delay=0.03, hold_after=20)
    bedrock_server.queue(answer)
    send(page, "Stream slowly, then pause")

    # Waiting for the first word: the dot pulses.
    page.wait_for_function(f"() => ({DOT_PULSES})() === true")
    assert answer_text(page) == ""

    # Words arriving: still.
    page.wait_for_function("() => document.querySelector('article.turn:last-child .turn-answer').textContent"
                           ".includes('word5')")
    assert page.evaluate(DOT_PULSES) is False

    # The model holds after 20 words: within about a second the dot pulses again, the answer still running.
    page.wait_for_function("() => document.querySelector('article.turn:last-child .turn-answer').textContent"
                           ".includes('word19')")
    page.wait_for_function(f"() => ({DOT_PULSES})() === true", timeout=3_000)
    assert "word20" not in answer_text(page)

    # The rest arrives and the answer ends as usual.
    answer.release.set()
    wait_status(page, "complete")
    assert answer_text(page).split()[-1] == "word29"
    assert page.locator("article.turn:last-child .live-dot").count() == 0
