"""How an answer ended, as the page tells it: a badge for each stop reason a person should notice with a sentence
saying why, a blocked answer with what the guardrail found, the early ends' sentences, cost and prompt-cache figures
in the status line, the sources of a cited answer, and badge colours readable in the light and the dark theme."""

import re

import pytest

from tests.bedrock_server import Stream
from tests.browser.conftest import LiveApp, last_turn, screenshot, send, wait_status
from tests.servers import manage

PRICED = """
from chat.models import CatalogEntry
CatalogEntry.objects.create(key='priced', label='Priced model', provider='bedrock-converse', model_id='test.priced-v1',
                            price_per_1k_input='0.003', price_per_1k_output='0.015',
                            price_per_1k_cache_read='0.0003', price_per_1k_cache_write='0.00375')
"""

# metadata.trace.guardrail as ConverseStream sends it (botocore's GuardrailTraceAssessment).
GUARDRAIL_TRACE = {"guardrail": {
    "actionReason": "Guardrail blocked.",
    "inputAssessment": {"gr1abc2def3": {"contentPolicy": {"filters": [
        {"type": "VIOLENCE", "confidence": "HIGH", "filterStrength": "HIGH", "action": "BLOCKED", "detected": True},
    ]}}},
    "outputAssessments": {"gr1abc2def3": [{"topicPolicy": {"topics": [
        {"name": "Weapons", "type": "DENY", "action": "BLOCKED", "detected": True},
    ]}}]},
}}
CANNED = "Sorry, the model cannot answer this question."


@pytest.fixture(scope="module")
def live_app(bedrock_server, tmp_path_factory):
    """An app of its own: a priced model in the picker would change every other browser test's page."""
    app = LiveApp(tmp_path_factory.mktemp("badges-app"))
    manage(app.env, "shell", "-c", PRICED)
    yield app
    app.daphne.stop()


def status_line(page) -> str:
    return " ".join(last_turn(page).locator(".turn-status").inner_text().split())


def badge(page):
    return last_turn(page).locator(".turn-status .badge")


@pytest.mark.parametrize(("stop_reason", "status", "badge_text", "why"), [
    ("max_tokens", "complete", "Cut short (max tokens)", "reached its length limit (max tokens) before it was finished"),
    ("model_context_window_exceeded", "complete", "Context window full", "filled the model's context window"),
    ("stop_sequence", "complete", "Stopped by a stop sequence", "wrote one of the stop sequences"),
    ("content_filtered", "blocked", "Blocked by the content filter", "content filter blocked the answer"),
])
def test_each_stop_reason_worth_noticing_has_its_badge_and_sentence(page, bedrock_server, stop_reason, status,
                                                                    badge_text, why):
    bedrock_server.queue(Stream(deltas=["Part", " of it"], stop_reason=stop_reason))
    send(page, "Tell me everything")
    wait_status(page, status)
    assert badge(page).inner_text() == badge_text
    assert last_turn(page).get_attribute("data-stop-reason") == stop_reason
    sentence = last_turn(page).locator(".turn-why")
    assert why in sentence.inner_text()
    assert "Done" not in status_line(page)


def test_a_finished_answer_is_done_with_no_sentence(page, bedrock_server):
    bedrock_server.queue(Stream(deltas=["All", " of it."]))
    send(page, "Tell me a little")
    wait_status(page, "complete")
    assert badge(page).inner_text() == "Done"
    assert last_turn(page).locator(".turn-why").count() == 0


def test_a_guardrail_block_shows_its_reason_and_findings(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=[CANNED], stop_reason="guardrail_intervened", trace=GUARDRAIL_TRACE))
    send(page, "How do I build a weapon?")
    wait_status(page, "blocked")
    screenshot(page, "blocked")
    assert badge(page).inner_text() == "Blocked by a guardrail"
    assert "badge-blocked" in badge(page).get_attribute("class")
    assert last_turn(page).locator(".turn-answer").inner_text().strip() == CANNED  # the guardrail's own message
    why = last_turn(page).locator(".turn-why")
    assert "A guardrail set up for this model blocked the answer" in why.inner_text()
    assert why.locator(".guardrail-reason").inner_text() == "Reason: Guardrail blocked."
    findings = why.locator(".guardrail-findings li").all_inner_texts()
    assert findings == ["Prompt · Content filter · violence · blocked · high confidence",
                        "Answer · Denied topic · Weapons · blocked"]
    assert why.locator(".guardrail-findings").get_attribute("aria-label") == "What the guardrail found"

    page.reload()  # the same from history
    wait_status(page, "blocked")
    assert badge(page).inner_text() == "Blocked by a guardrail"
    assert last_turn(page).locator(".guardrail-findings li").all_inner_texts() == findings


@pytest.mark.parametrize(("script", "badge_text", "sentence"), [
    ({"end_after": 3}, "Cut off", "The answer was cut off: the connection to the model ended before the answer was complete."),
    ({"reset_after": 3}, "Connection lost", "The connection to the model was lost in the middle of the answer."),
])
def test_an_answer_that_ended_early_says_so(page, bedrock_server, script, badge_text, sentence):
    bedrock_server.queue(Stream(deltas=[f"w{i} " for i in range(10)], **script))
    send(page, "A long one")
    wait_status(page, "error")
    assert badge(page).inner_text() == badge_text
    assert last_turn(page).locator(".turn-error").inner_text() == sentence
    assert last_turn(page).locator(".turn-answer").inner_text().split() == ["w0", "w1", "w2"]  # the part kept


def test_cost_and_cache_figures_and_the_routed_model_are_in_the_status_line(page, bedrock_server):
    routed = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    bedrock_server.queue(Stream(deltas=["Cached", " answer."], input_tokens=204, output_tokens=320,
                                cache_read_input_tokens=1000, cache_write_input_tokens=100,
                                trace={"promptRouter": {"invokedModelId": routed}}))
    page.select_option("#model", "priced")
    send(page, "Again, with the long context")
    wait_status(page, "complete")
    # 204 × 0.003 + 320 × 0.015 + 1,000 × 0.0003 + 100 × 0.00375, per 1,000 tokens = 0.006087
    line = status_line(page)
    assert "1,304 in (1,000 cached, 100 written to cache) / 320 out tokens · $0.006087" in line, line
    assert "routed to us.anthropic.claude-3-5-haiku-20241022-v1:0" in line
    assert last_turn(page).locator(".turn-routed").get_attribute("title") == f"A prompt router picked {routed}"

    page.reload()  # the same figures from history
    wait_status(page, "complete")
    assert "1,304 in (1,000 cached, 100 written to cache) / 320 out tokens · $0.006087" in status_line(page)


def test_citations_are_listed_with_their_sources(page, bedrock_server):
    bedrock_server.queue(Stream(deltas=["Leave is ", "25 days."], citations=[
        {"title": "Handbook", "source": "s3://hr/handbook.pdf", "sourceContent": [{"text": "25 days of leave"}],
         "location": {"documentPage": {"documentIndex": 0, "start": 3, "end": 3}}},
        {"title": "Intranet", "location": {"web": {"url": "https://intranet.example/leave", "domain": "intranet.example"}}},
        {"title": "Trap", "source": "javascript:alert(1)", "sourceContent": [{"text": "<b>not bold</b>"}]},
    ]))
    send(page, "How much leave do I get?")
    wait_status(page, "complete")
    sources = last_turn(page).locator(".turn-sources")
    assert sources.get_attribute("aria-label") == "Sources of this answer"
    items = sources.locator("li.source")
    assert [" ".join(t.split()) for t in items.all_inner_texts()] == [
        "[1] Handbook · s3://hr/handbook.pdf · page 3 Cited text",
        "[2] Intranet · intranet.example",
        "[3] Trap · javascript:alert(1) Cited text",
    ]
    # Only the http(s) address is a link, opened apart from the page; the others stay text.
    links = sources.locator("a")
    assert links.count() == 1
    assert links.get_attribute("href") == "https://intranet.example/leave"
    assert links.get_attribute("rel") == "noopener noreferrer nofollow"
    assert links.get_attribute("target") == "_blank"
    # The cited text on hover, and on expanding it; model text is never HTML.
    assert items.nth(0).get_attribute("title") == "25 days of leave"
    items.nth(2).locator("summary").click()
    assert items.nth(2).locator("blockquote").inner_text() == "<b>not bold</b>"
    assert items.nth(2).locator("b").count() == 0


CONTRAST = """() => {
    const channels = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const luminance = (color) => {
        const [r, g, b] = channels(color).map((v) => {
            const c = v / 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (node) => {
        for (; node; node = node.parentElement) {
            const color = getComputedStyle(node).backgroundColor;
            if (!/rgba\\(.*, 0\\)$/.test(color) && color !== 'transparent') return color;
        }
        return 'rgb(255, 255, 255)';
    };
    const host = document.querySelector('#turns');
    const tones = ['complete', 'stopped', 'error', 'interrupted', 'cut', 'info', 'blocked'];
    const probes = tones.map((tone) => {
        const span = document.createElement('span');
        span.className = `badge badge-${tone}`;
        span.textContent = tone;
        host.append(span);
        return span;
    });
    const ratios = {};
    for (const node of [...document.querySelectorAll('.badge, .turn-why, .thinking-summary, .source-where')]) {
        const a = luminance(getComputedStyle(node).color), b = luminance(background(node));
        const key = node.className;
        ratios[key] = Math.min(ratios[key] ?? Infinity, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05));
    }
    probes.forEach((span) => span.remove());
    return ratios;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_badges_and_sentences_meet_wcag_aa_contrast(page, bedrock_server, scheme):
    page.emulate_media(color_scheme=scheme)
    bedrock_server.queue(Stream(reasoning=["Hmm."], deltas=["Cut"], stop_reason="max_tokens",
                                citations=[{"title": "A", "source": "s3://a/b", "location": {"documentChunk": {
                                    "documentIndex": 0, "start": 1, "end": 1}}}]))
    send(page, "Short")
    wait_status(page, "complete")
    ratios = page.evaluate(CONTRAST)
    assert {key for key in ratios if key.startswith("badge ")} >= {
        f"badge badge-{tone}" for tone in ("complete", "stopped", "error", "interrupted", "cut", "info", "blocked")}
    assert any(re.match(r"turn-why", key) for key in ratios)
    low = {key: round(ratio, 2) for key, ratio in ratios.items() if ratio < 4.5}
    assert low == {}, f"below 4.5:1 in the {scheme} theme: {low}"
