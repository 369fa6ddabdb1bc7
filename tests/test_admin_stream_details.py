"""What staff see of the rest of a stream (protocol v1.1) on the message page and in the history list:
reasoning, citations, the guardrail's assessment, cost, cache and timing figures; blocked answers and stop
reasons as filters."""

from decimal import Decimal

import pytest
from django.db import connection

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

REASONING = "The user asks about **tides**.\n\n<script>alert('thinking')</script>\nThe moon pulls the sea."
SIGNATURE = "EqQBCkYIARgCIkDsig-9f8e7d"
REDACTED = b"\x00opaque-redacted-reasoning\xff"
CITATIONS = [
    {"title": "Tides <b>explained</b>", "source": "https://ocean.example/tides?x=1&y=2", "location": "page 3",
     "text": "The moon's gravity raises two bulges of water."},
    {"title": "", "source": "javascript:alert(1)", "location": "https://ocean.example/spring#tides", "text": ""},
    {"title": "Local notes", "source": "s3://bucket/notes.pdf", "location": "characters 10–52", "text": "=cmd|' /C calc'!A0"},
]
GUARDRAIL = {
    "action": "GUARDRAIL_INTERVENED",
    "reason": "Denied topic <violence>",
    "assessments": [
        {"policy": "contentPolicy", "type": "VIOLENCE", "action": "BLOCKED", "confidence": "HIGH"},
        {"policy": "topicPolicy", "type": "Weapons", "action": "BLOCKED", "confidence": None},
    ],
}


def make(user, prompt, **fields):
    conversation = Conversation.objects.create(user=user, title=prompt[:30])
    values = {"status": "complete", "model_key": "claude", "model_id": "anthropic.claude", "provider": "bedrock-converse",
              "client_request_id": f"{Message.objects.count()}", "stop_reason": "end_turn"} | fields
    return Message.objects.create(conversation=conversation, user=user, prompt=prompt, **values)


@pytest.fixture
def thoughtful(alice):
    return make(
        alice, "Why are there tides?", response="Mostly the moon.", reasoning=REASONING,
        reasoning_signature=SIGNATURE, reasoning_redacted=REDACTED, citations=CITATIONS,
        input_tokens=120, output_tokens=300, cache_read_input_tokens=4096, cache_write_input_tokens=512,
        cost=Decimal("0.00123000"), currency="USD", ttft_ms=180, answer_ms=2040, server_latency_ms=1812,
        duration_ms=5000, invoked_model="anthropic.claude-3-haiku-20240307-v1:0",
    )


@pytest.fixture
def blocked(bob):
    return make(bob, "How do I hurt someone?", status="blocked", stop_reason="guardrail_intervened", guardrail=GUARDRAIL,
                response="Sorry, the model cannot answer this question.")


def page(client, message) -> str:
    response = client.get(f"/admin/chat/message/{message.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, heading: str) -> str:
    """The fieldset whose heading is `heading`, as HTML."""
    start = html.index(f">{heading}</h2>")
    return html[start:html.index("</fieldset>", start)]


def test_reasoning_is_collapsed_and_shown_as_text(client, staff, thoughtful):
    client.force_login(staff)
    html = page(client, thoughtful)
    reasoning = section(html, "Reasoning")
    assert '<details class="reasoning-views"><summary>Show the reasoning (90 characters)</summary>' in reasoning
    assert "<details open" not in reasoning
    assert ('<pre class="history-text" id="reasoning-raw">The user asks about **tides**.\n\n'
            "&lt;script&gt;alert(&#x27;thinking&#x27;)&lt;/script&gt;\nThe moon pulls the sea.</pre>") in reasoning
    assert '<section class="reasoning-rendered" hidden>' in reasoning and 'id="reasoning-rendered"' in reasoning
    assert "<script>alert('thinking')" not in html
    # After the answer, before the model and parameters.
    assert html.index('id="answer-raw"') < html.index('id="reasoning-raw"') < html.index(">Model and parameters</h2>")


def test_signature_and_redacted_reasoning_are_noted_not_dumped(client, staff, thoughtful):
    client.force_login(staff)
    html = page(client, thoughtful)
    assert (f"Signature present ({len(SIGNATURE)} characters). Redacted reasoning present ({len(REDACTED)} bytes, "
            "encrypted by the provider). Kept to send back to the model unchanged; not shown.") in html
    assert SIGNATURE not in html and "opaque-redacted-reasoning" not in html


def test_citations_show_each_source_with_only_web_links_live(client, staff, thoughtful):
    client.force_login(staff)
    citations = section(page(client, thoughtful), "Citations")
    assert citations.count("<li>") == 3
    assert '<strong class="citation-title">Tides &lt;b&gt;explained&lt;/b&gt;</strong>' in citations
    assert ('Source: <a href="https://ocean.example/tides?x=1&amp;y=2" target="_blank" rel="noopener noreferrer">'
            "https://ocean.example/tides?x=1&amp;y=2</a>") in citations
    assert "Location: page 3" in citations
    assert '<pre class="history-text citation-text">The moon&#x27;s gravity raises two bulges of water.</pre>' in citations
    # A javascript: or s3: source is text; a URL location is a link; missing parts are said to be missing.
    assert "Source: javascript:alert(1)" in citations and 'href="javascript' not in citations
    assert "Source: s3://bucket/notes.pdf" in citations and 'href="s3:' not in citations
    assert 'Location: <a href="https://ocean.example/spring#tides" target="_blank" rel="noopener noreferrer">' in citations
    assert "(untitled)" in citations and "(no cited text)" in citations
    assert citations.count("<a ") == 2


def test_cost_cache_timing_and_invoked_model(client, staff, thoughtful):
    client.force_login(staff)
    html = page(client, thoughtful)
    usage = section(html, "Usage and cost")
    for label, value in (("Cache read input tokens", "4096"), ("Cache write input tokens", "512"), ("Cost", "0.00123 USD")):
        assert label in usage and f'<div class="readonly">{value}</div>' in usage, label
    timing = section(html, "Timing")
    for label, value in (("Time to first answer token", "2,040 ms"), ("Server latency (Bedrock&#x27;s own)", "1,812 ms"),
                         ("TTFT", "180 ms")):
        assert label in timing and f'<div class="readonly">{value}</div>' in timing, label
    model = section(html, "Model and parameters")
    assert "Invoked model" in model and "anthropic.claude-3-haiku-20240307-v1:0" in model
    assert '<div class="readonly">end_turn (finished)</div>' in section(html, "Outcome")


def test_blocked_message_shows_the_guardrail_assessment(client, staff, blocked):
    client.force_login(staff)
    html = page(client, blocked)
    assert 'status-badge status-blocked">blocked' in html
    assert '<div class="readonly">guardrail_intervened (blocked by a guardrail)</div>' in html
    guardrail = section(html, "Guardrail")
    assert "Action: <strong>GUARDRAIL_INTERVENED</strong>" in guardrail
    assert "Reason: Denied topic &lt;violence&gt;" in guardrail
    assert "<th>Policy</th><th>Type</th><th>Action</th><th>Confidence</th>" in guardrail
    assert "<tr><td>contentPolicy</td><td>VIOLENCE</td><td>BLOCKED</td><td>HIGH</td></tr>" in guardrail
    assert "<tr><td>topicPolicy</td><td>Weapons</td><td>BLOCKED</td><td>—</td></tr>" in guardrail


def test_content_filtered_without_a_trace_says_so(client, staff, bob):
    message = make(bob, "Something filtered", status="blocked", stop_reason="content_filtered")
    client.force_login(staff)
    guardrail = section(page(client, message), "Guardrail")
    assert "no guardrail trace" in guardrail
    assert "blocked by the content filter" in page(client, message)


def test_a_plain_answer_has_no_empty_stream_sections(client, staff, alice):
    message = make(alice, "Plain question", response="Plain answer.", input_tokens=3, output_tokens=4)
    client.force_login(staff)
    html = page(client, message)
    for heading in ("Reasoning", "Citations", "Guardrail"):
        assert f">{heading}</h2>" not in html, heading
    assert "— (not recorded: the model had no prices, or the answer predates stored costs)" in section(html, "Usage and cost")
    assert "— (the model asked for)" in html


def listed(client, **params) -> str:
    response = client.get("/admin/chat/message/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_blocked_answers_are_a_status_filter(client, staff, thoughtful, blocked):
    client.force_login(staff)
    html = listed(client)
    assert '<a href="?status__exact=blocked">Blocked</a>' in html
    html = listed(client, status__exact="blocked")
    assert "How do I hurt someone?" in html and "Why are there tides?" not in html
    assert 'status-badge status-blocked">blocked' in html


def test_stop_reason_filter_offers_the_reasons_in_the_history(client, staff, alice, thoughtful, blocked):
    make(alice, "Write a long essay", stop_reason="max_tokens", response="It was the best of")
    client.force_login(staff)
    html = listed(client)
    options = html[html.index("By stop reason"):]
    options = options[:options.index("</details>")]
    assert '<a href="?stop_reason=end_turn">end_turn (finished)</a>' in options
    assert '<a href="?stop_reason=max_tokens">max_tokens (cut short (max tokens))</a>' in options
    assert '<a href="?stop_reason=guardrail_intervened">guardrail_intervened (blocked by a guardrail)</a>' in options
    assert "model_context_window_exceeded" not in options  # in no message, so not offered
    html = listed(client, stop_reason="max_tokens")
    assert "Write a long essay" in html and "Why are there tides?" not in html and "How do I hurt someone?" not in html


def test_list_has_a_cost_column(client, staff, thoughtful, blocked):
    client.force_login(staff)
    html = listed(client)
    assert ">Cost</a>" in html
    assert '<td class="field-cost_column">0.00123 USD</td>' in html
    assert '<td class="field-cost_column">—</td>' in html


def test_a_lone_surrogate_in_a_citation_or_trace_is_shown_as_its_escape(client, staff, bob):
    """SQLite's JSON columns can hold one (kept as its escape); the page still renders."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's jsonb refuses a lone surrogate")
    message = make(bob, "Odd text", status="blocked", stop_reason="guardrail_intervened",
                   citations=[{"title": "half \ud800 a pair", "source": "", "location": "", "text": "\udc00"}],
                   guardrail={"action": "GUARDRAIL_INTERVENED", "reason": "odd \ud83d", "assessments": []})
    client.force_login(staff)
    html = page(client, message)
    assert "half \\ud800 a pair" in html and "\\udc00" in html and "Reason: odd \\ud83d" in html
