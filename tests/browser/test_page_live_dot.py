"""Nothing on the page pulses while an answer's text streams in: an endless pulse keeps the browser drawing every frame,
and each delta would wait for its turn. alice's live dot pulses while she waits, holds still while the words arrive,
and pulses again when the model goes quiet mid-answer; a sidebar dot of an answer running elsewhere does the same."""

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


# Whether the sidebar's dot of a conversation whose answer runs out of sight pulses now.
SIDEBAR_DOT_PULSES = """() => document.getAnimations().some((a) => a.playState === 'running'
    && a.effect?.pseudoElement === '::after' && a.effect.target.closest('.conversation-item[data-streaming="true"]'))"""


def test_sidebar_dot_of_an_answer_running_elsewhere_holds_still_while_the_open_answer_streams(
        page, live_app, bedrock_server):
    elsewhere = Stream(deltas=["Still", " going"], hold_after=1)
    bedrock_server.queue(elsewhere)
    send(page, "A long one, in the first conversation")
    page.wait_for_function("() => document.querySelector('article.turn:last-child .turn-answer').textContent"
                           ".includes('Still')")

    # alice opens a new conversation: the first answer runs on out of sight, its sidebar dot pulsing.
    page.click("#new-conversation")
    page.wait_for_function(f"() => ({SIDEBAR_DOT_PULSES})()", timeout=5_000)

    # While the new answer's words arrive, that dot holds still; once they stop for a second it pulses again.
    bedrock_server.queue(Stream(deltas=[f"word{i} " for i in range(40)], delay=0.03))
    send(page, "A second question, here")
    page.wait_for_function("() => document.querySelector('article.turn:last-child .turn-answer').textContent"
                           ".includes('word5')")
    assert page.evaluate(SIDEBAR_DOT_PULSES) is False
    wait_status(page, "complete")
    page.wait_for_function(f"() => ({SIDEBAR_DOT_PULSES})()", timeout=3_000)
    elsewhere.release.set()
