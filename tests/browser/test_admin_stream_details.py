"""The admin message page in a real browser: the reasoning is collapsed until a reviewer opens it, and then
rendered by the chat page's own markdown module (raw HTML in it shown as text); citations link only to web
pages; a blocked answer shows its guardrail assessment."""

import json

from tests.browser.conftest import screenshot, staff_page
from tests.servers import manage

REASONING = ("Let me think about **tides**.\n\n- the moon\n- the sun\n\n"
             '<img src=x onerror="window.__pwned = 1"> <a class="button default" href="javascript:alert(1)">Approve</a>')
CITATIONS = [
    {"title": "Tides explained", "source": "https://ocean.example/tides", "location": "page 3",
     "text": "The moon's gravity raises two bulges of water."},
    {"title": "Unsafe", "source": "javascript:window.__pwned = 2", "location": "chunk 2", "text": "—"},
]
GUARDRAIL = {"action": "GUARDRAIL_INTERVENED", "reason": "Denied topic", "assessments": [
    {"policy": "contentPolicy", "type": "VIOLENCE", "action": "BLOCKED", "confidence": "HIGH"}]}


def saved_message(live_app, **fields) -> int:
    """A message with these fields, saved straight into the live app's database; its id."""
    script = (
        "import json, decimal; from django.contrib.auth import get_user_model; from chat.models import Conversation, Message;"
        "user, _ = get_user_model().objects.get_or_create(username='reviewed-user');"
        "conversation = Conversation.objects.create(user=user, title='Tides');"
        f"fields = json.loads({json.dumps(json.dumps(fields))});"
        "fields['cost'] = decimal.Decimal(fields['cost']) if fields.get('cost') else None;"
        "message = Message.objects.create(conversation=conversation, user=user, model_key='claude', model_id='anthropic.claude',"
        " provider='bedrock-converse', client_request_id=str(Message.objects.count()), **fields);"
        "print(message.pk)"
    )
    return int(manage(live_app.env, "shell", "-c", script).strip().splitlines()[-1])


def test_reasoning_opens_rendered_and_citations_link_only_to_the_web(browser, live_app):
    pk = saved_message(live_app, prompt="Why are there tides?", response="Mostly **the moon**.", status="complete",
                       stop_reason="end_turn", reasoning=REASONING, reasoning_signature="sig-123", citations=CITATIONS,
                       input_tokens=120, output_tokens=30, cache_read_input_tokens=4096, cost="0.00123", currency="USD",
                       answer_ms=2040, server_latency_ms=1812)
    context, admin, errors = staff_page(browser, live_app, f"/admin/chat/message/{pk}/change/")
    try:
        admin.wait_for_selector("section.answer-rendered", state="visible")
        details = admin.locator("details.reasoning-views")
        assert details.evaluate("d => d.open") is False
        assert not admin.locator("#reasoning-rendered").is_visible()  # collapsed by default
        admin.click("details.reasoning-views > summary")
        admin.wait_for_selector("#reasoning-rendered strong", state="visible")
        rendered = admin.locator("#reasoning-rendered")
        assert rendered.locator("strong").text_content() == "tides"
        assert rendered.locator("li").all_text_contents() == ["the moon", "the sun"]
        assert rendered.locator("img, a.button, [onerror]").count() == 0
        assert '<a class="button default" href="javascript:alert(1)">Approve</a>' in rendered.text_content()
        assert admin.locator("#reasoning-raw").text_content() == REASONING
        links = admin.locator("ol.citations a")
        assert links.count() == 1 and links.get_attribute("href") == "https://ocean.example/tides"
        assert links.get_attribute("rel") == "noopener noreferrer"
        assert "Source: javascript:window.__pwned = 2" in admin.locator("ol.citations").inner_text()
        screenshot(admin, "admin-message-reasoning")
        assert admin.evaluate("window.__pwned") is None
    finally:
        context.close()
    assert errors == []


def test_blocked_answer_shows_its_guardrail_assessment(browser, live_app):
    pk = saved_message(live_app, prompt="How do I hurt someone?", response="Sorry, the model cannot answer this question.",
                       status="blocked", stop_reason="guardrail_intervened", guardrail=GUARDRAIL)
    context, admin, errors = staff_page(browser, live_app, f"/admin/chat/message/{pk}/change/")
    try:
        assert admin.locator(".status-badge.status-blocked").first.inner_text() == "blocked"
        assessment = admin.locator("table.guardrail-assessments")
        assert assessment.locator("tbody td").all_text_contents() == ["contentPolicy", "VIOLENCE", "BLOCKED", "HIGH"]
        assert "Action: GUARDRAIL_INTERVENED" in admin.locator(".guardrail-action").inner_text()
        screenshot(admin, "admin-message-blocked")
    finally:
        context.close()
    assert errors == []
