"""A reasoning model thinks, then answers: the Thinking section streams live above the answer before any answer text,
folds away by itself once the answer starts, opens again on a click (and stays as the reader left it), comes back
after a reload in the middle of the reasoning and keeps growing, and is there for a finished answer from history."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, last_turn, message_id, screenshot, send, wait_status

REASONING = [f"step{i} " for i in range(24)]
ANSWER = [f"word{i} " for i in range(30)]

# Samples the newest turn on every change of the page: its reasoning, answer, whether Thinking is open, live figures.
RECORD_STATES = """() => {
    window.__states = [];
    const record = () => {
        const turns = document.querySelectorAll('article.turn');
        const turn = turns[turns.length - 1];
        if (!turn) return;
        const thinking = turn.querySelector('.turn-thinking');
        const state = {
            reasoning: thinking ? thinking.querySelector('.thinking-text').textContent : '',
            answer: turn.querySelector('.turn-answer').innerText.trim(),
            open: thinking ? thinking.open : null,
            live: turn.querySelector('.turn-live-metrics')?.textContent ?? '',
        };
        const last = window.__states[window.__states.length - 1];
        if (!last || last.reasoning !== state.reasoning || last.answer !== state.answer || last.open !== state.open
            || last.live !== state.live) window.__states.push(state);
    };
    new MutationObserver(record).observe(document.querySelector('#turns'),
        {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def thinking(page):
    return last_turn(page).locator(".turn-thinking")


def thinking_text(page) -> str:
    return thinking(page).locator(".thinking-text").text_content()


def is_open(page) -> bool:
    return thinking(page).evaluate("node => node.open")


def test_thinking_streams_before_the_answer_then_folds_away_and_opens_on_a_click(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(reasoning=REASONING, deltas=ANSWER, delay=0.06))  # ~1.4 s of thinking, ~1.8 s of answer
    page.evaluate(RECORD_STATES)
    send(page, "What is 1001 made of?")
    page.wait_for_function("() => (document.querySelector('article.turn .thinking-text')?.textContent || '')"
                           ".includes('step6')")
    screenshot(page, "reasoning-live")
    # The reader reopens it while the answer streams: it stays open to the end, whatever the page would do.
    page.wait_for_function("() => document.querySelector('article.turn .turn-answer')?.innerText.includes('word3')")
    assert not is_open(page)
    screenshot(page, "reasoning-folded")
    thinking(page).locator("summary").click()
    assert is_open(page)
    wait_status(page, "complete")

    states = page.evaluate("window.__states")
    thinking_only = [s for s in states if s["reasoning"] and not s["answer"]]
    # The reasoning grew in several steps before any answer text appeared, with Thinking open and the live line
    # saying so.
    assert len({s["reasoning"] for s in thinking_only}) >= 3, states
    assert all(s["open"] for s in thinking_only)
    assert any("thinking…" in s["live"] for s in thinking_only)
    assert all(b["reasoning"].startswith(a["reasoning"]) for a, b in zip(thinking_only, thinking_only[1:]))
    # Once the answer started it folded by itself, and the live line turned to the answer's pace.
    first_answer = next(i for i, s in enumerate(states) if s["answer"])
    assert states[first_answer]["reasoning"] == "".join(REASONING)
    assert states[first_answer]["open"] is False
    assert any("tok/s" in s["live"] for s in states[first_answer:])

    assert is_open(page)  # as the reader left it, even after `done`
    screenshot(page, "reasoning-reopened")
    saved = live_app.saved(message_id(page))
    assert saved["reasoning"] == "".join(REASONING) == thinking_text(page)
    assert answer_text(page) == " ".join("".join(ANSWER).split())
    label = thinking(page).locator("summary").inner_text()
    assert label.startswith("Thought for "), label

    # From the keyboard: the toggle is a focusable control that Enter closes.
    summary = thinking(page).locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    assert not is_open(page)

    # Opened again from history: the reasoning is there, folded above the answer.
    page.reload()
    wait_status(page, "complete")
    page.wait_for_function("() => document.querySelector('article.turn .thinking-text')?.textContent.length > 0")
    assert thinking_text(page) == "".join(REASONING)
    assert not is_open(page)
    assert thinking(page).locator("summary").inner_text() == label  # the server's figures, the same words


def test_reload_in_the_middle_of_the_reasoning_keeps_it_and_it_keeps_growing(page, live_app, bedrock_server):
    reasoning = [f"r{i} " for i in range(70)]
    bedrock_server.queue(Stream(reasoning=reasoning, deltas=["Done", " thinking."], delay=0.05))  # 3.5 s of thinking
    send(page, "Think for a while")
    page.wait_for_function("() => (document.querySelector('article.turn .thinking-text')?.textContent || '')"
                           ".includes('r15 ')")
    page.reload()
    page.wait_for_function("() => (document.querySelector('article.turn .thinking-text')?.textContent || '')"
                           ".includes('r15 ')", timeout=10_000)
    assert last_turn(page).get_attribute("data-status") == "streaming"
    assert is_open(page)  # only reasoning so far: open
    assert answer_text(page) == ""
    shown_after_reload = thinking_text(page)
    screenshot(page, "reasoning-after-reload")
    page.wait_for_function("() => document.querySelector('article.turn .thinking-text').textContent.includes('r60 ')")
    assert thinking_text(page).startswith(shown_after_reload)  # it grew on from where it was
    wait_status(page, "complete")
    assert thinking_text(page) == "".join(reasoning)  # every piece once: no gap, no duplicate
    assert answer_text(page) == "Done thinking."
    assert not is_open(page)
    assert live_app.saved(message_id(page))["reasoning"] == "".join(reasoning)
