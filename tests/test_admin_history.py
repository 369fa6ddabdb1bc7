"""What staff find in the message history: columns, filters, search, sorting and the full message page."""

import re
from datetime import datetime, timezone as dt_timezone

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=dt_timezone.utc)


def make(user, prompt, *, conversation=None, **fields):
    conversation = conversation or Conversation.objects.create(user=user, title=prompt[:30])
    values = {"status": "complete", "model_key": "claude", "model_id": "anthropic.claude", "provider": "bedrock-converse",
              "client_request_id": f"{Message.objects.count()}-{prompt[:40]}"} | fields
    return Message.objects.create(conversation=conversation, user=user, prompt=prompt, **values)


@pytest.fixture
def history(alice, bob):
    return {
        "fast": make(alice, "Explain photosynthesis", response="Plants turn light into sugar.", input_tokens=20,
                     output_tokens=100, ttft_ms=200, duration_ms=1200, created=at("2025-03-01")),
        "slow": make(alice, "Write a haiku about rain", response="Soft rain on the roof", input_tokens=10,
                     output_tokens=20, ttft_ms=500, duration_ms=4500, model_key="local", provider="local",
                     created=at("2025-03-05")),
        "failed": make(bob, "Summarise the news", status="error", error_code="throttled",
                       error_detail="The model is busy; try again in a minute.", created=at("2025-03-09")),
        "streaming": make(bob, "Tell me a long story", status="streaming", response="Once upon", created=at("2025-03-10")),
    }


def rows(html: str) -> list[str]:
    """The prompts shown in the changelist, top to bottom."""
    prompts = ("Explain photosynthesis", "Write a haiku about rain", "Summarise the news", "Tell me a long story")
    found = [(html.index(p), p) for p in prompts if p in html]
    return [p for _, p in sorted(found)]


def listing(client, **params):
    page = client.get("/admin/chat/message/", params)
    assert page.status_code == 200
    return rows(page.content.decode())


def test_list_shows_the_review_columns(client, staff, history):
    client.force_login(staff)
    html = client.get("/admin/chat/message/").content.decode()
    for heading in ("User", "Conversation", "Model", "Status", "Prompt", "Answer", "Input tokens", "Output tokens",
                    "TTFT", "Tokens/s", "Duration", "Created"):
        assert f">{heading}<" in html or f">{heading}</a>" in html, heading
    # 100 tokens in 1.0 s of generation (1200 ms - 200 ms to the first token); 20 tokens in 4.0 s.
    assert ">100.0<" in html and ">5.0<" in html
    assert "200 ms" in html and "1.20 s" in html
    assert 'status-badge status-error">error' in html and 'status-badge status-streaming">streaming' in html
    assert "Plants turn light into sugar." in html
    assert listing(client) == ["Tell me a long story", "Summarise the news", "Write a haiku about rain", "Explain photosynthesis"]


def test_previews_are_short_and_the_page_holds_the_whole_text(client, staff, alice):
    client.force_login(staff)
    long_prompt = "Tell me everything about " + "volcanoes " * 40 + "THE-END"
    message = make(alice, long_prompt, response="Lava " * 100 + "FINAL-WORD")
    html = client.get("/admin/chat/message/").content.decode()
    assert "THE-END" not in html and "FINAL-WORD" not in html and "Tell me everything about volcanoes" in html
    detail = client.get(f"/admin/chat/message/{message.pk}/change/").content.decode()
    assert "THE-END" in detail and "FINAL-WORD" in detail


def test_sorting_by_tokens_per_second_is_done_by_the_database(client, staff, history):
    client.force_login(staff)
    html = client.get("/admin/chat/message/").content.decode()
    link = re.search(r'<a href="(\?o=[^"]+)">Tokens/s</a>', html)
    assert link, "the tokens/s column is sortable"
    column = link[1].split("=")[1].split(".")[0]
    ascending = rows(client.get("/admin/chat/message/", {"o": column}).content.decode())
    descending = rows(client.get("/admin/chat/message/", {"o": f"-{column}"}).content.decode())
    measured = ["Write a haiku about rain", "Explain photosynthesis"]  # 5.0/s, 100.0/s
    assert [p for p in ascending if p in measured] == measured
    assert [p for p in descending if p in measured] == measured[::-1]


def test_search_covers_prompts_answers_and_usernames(client, staff, history):
    client.force_login(staff)
    assert listing(client, q="haiku") == ["Write a haiku about rain"]
    assert listing(client, q="sugar") == ["Explain photosynthesis"]
    assert listing(client, q="bob") == ["Tell me a long story", "Summarise the news"]


@pytest.mark.parametrize("params, expected", [
    ({"status__exact": "error"}, ["Summarise the news"]),
    ({"model_key": "local"}, ["Write a haiku about rain"]),
    ({"error_code": "throttled"}, ["Summarise the news"]),
    ({"created_from": "2025-03-05"}, ["Tell me a long story", "Summarise the news", "Write a haiku about rain"]),
    ({"created_to": "2025-03-05"}, ["Write a haiku about rain", "Explain photosynthesis"]),
    ({"created_from": "2025-03-02", "created_to": "2025-03-09"}, ["Summarise the news", "Write a haiku about rain"]),
    ({"created__year": "2025", "created__month": "3", "created__day": "9"}, ["Summarise the news"]),
])
def test_filters(client, staff, history, params, expected):
    client.force_login(staff)
    assert listing(client, **params) == expected


def test_user_filter_and_filter_choices(client, staff, alice, history):
    client.force_login(staff)
    assert listing(client, user__id__exact=alice.pk) == ["Write a haiku about rain", "Explain photosynthesis"]
    html = client.get("/admin/chat/message/").content.decode()
    for choice in ("?status__exact=error", "?model_key=local", "?error_code=throttled", 'name="created_from"',
                   'name="created_to"', f"?user__id__exact={alice.pk}"):
        assert choice in html, choice


def test_date_range_form_keeps_the_other_filters(client, staff, history):
    client.force_login(staff)
    html = client.get("/admin/chat/message/", {"status__exact": "complete", "q": "e"}).content.decode()
    form = html[html.index('class="date-range-filter"'):]
    form = form[: form.index("</form>")]
    assert '<input type="hidden" name="status__exact" value="complete">' in form
    assert '<input type="hidden" name="q" value="e">' in form


def test_a_bad_date_does_not_filter_silently(client, staff, history):
    client.force_login(staff)
    page = client.get("/admin/chat/message/", {"created_from": "yesterday"})
    assert page.status_code == 302 and "e=1" in page["Location"]


def test_message_page_shows_everything_about_the_turn(client, staff, alice):
    message = make(
        alice, "Compare <b>tea</b> & coffee", response="## Tea\n\n- calmer\n\n<script>alert(1)</script>",
        params={"temperature": 0.2, "max_tokens": 500, "system": "You are a terse barista."},
        input_tokens=12, output_tokens=40, ttft_ms=300, duration_ms=2300, stop_reason="end_turn",
        error_code="", client_request_id="c0ffee-42", upstream_request_id="bedrock-req-7f3a",
        client_ip="203.0.113.9", user_agent="Mozilla/5.0 (X11; Linux) Firefox/128.0",
    )
    client.force_login(staff)
    html = client.get(f"/admin/chat/message/{message.pk}/change/").content.decode()
    for expected in (
        "Compare &lt;b&gt;tea&lt;/b&gt; &amp; coffee",  # the prompt, as text
        '<pre class="history-text" id="answer-raw">## Tea\n\n- calmer\n\n&lt;script&gt;alert(1)&lt;/script&gt;</pre>',
        "You are a terse barista.", "&quot;temperature&quot;: 0.2", "&quot;max_tokens&quot;: 500",
        "end_turn", "c0ffee-42", "bedrock-req-7f3a", "203.0.113.9", "Firefox/128.0", "20.0", "300 ms",
        "anthropic.claude", "bedrock-converse",
    ):
        assert expected in html, expected
    assert "<script>alert(1)</script>" not in html
    assert "&quot;system&quot;" not in html  # shown once, as the system prompt, not again among the parameters


def test_message_page_shows_the_error(client, staff, history):
    client.force_login(staff)
    html = client.get(f"/admin/chat/message/{history['failed'].pk}/change/").content.decode()
    assert "throttled" in html and "The model is busy; try again in a minute." in html


def test_answer_has_a_hidden_rendered_view_beside_the_raw_text(client, staff, history):
    """The chat page's markdown module renders into the hidden section; the raw text is always shown."""
    client.force_login(staff)
    html = client.get(f"/admin/chat/message/{history['fast'].pk}/change/").content.decode()
    assert '<section class="answer-rendered" hidden>' in html and 'id="answer-rendered"' in html
    assert '<pre class="history-text" id="answer-raw">Plants turn light into sugar.</pre>' in html
    assert "No rendered view" not in html


def test_answer_is_rendered_by_the_chat_pages_own_markdown_module(client, staff, history):
    """The rendered view is the chat page's markdown.js (tests/browser/test_admin_rendering.py renders it in a real
    browser); the template loads it as files only, with no inline script for a Content-Security-Policy to forbid."""
    client.force_login(staff)
    html = client.get(f"/admin/chat/message/{history['fast'].pk}/change/").content.decode()
    assert '<script type="module" src="/static/chat/admin-message.js"></script>' in html
    for vendored in ("chat/vendor/marked/marked.umd.js", "chat/vendor/dompurify/purify.min.js", "chat/markdown.css"):
        assert f"/static/{vendored}" in html
    assert 'id="answer-rendered"' in html and "Plants turn light into sugar." in html
    inline = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag and "application/json" not in tag]
    assert inline == []


def test_dashboard_is_linked_from_the_admin_index_and_the_history(client, staff, history):
    client.force_login(staff)
    assert 'href="/admin/chat/message/dashboard/"' in client.get("/admin/").content.decode()
    assert 'href="/admin/chat/message/dashboard/"' in client.get("/admin/chat/message/").content.decode()
    assert 'href="/admin/chat/message/dashboard/"' not in client.get("/admin/auth/").content.decode()
