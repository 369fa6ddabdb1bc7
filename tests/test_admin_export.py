"""Staff export history as CSV or JSON Lines: the selected rows, or everything the list's filters match."""

import csv
import io
import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.test import AsyncClient

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

TRICKY_PROMPT = 'Prices, "quoted"\nand a second line'
FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]


@pytest.fixture
def history(alice, bob):
    conversation = Conversation.objects.create(user=alice, title="Spreadsheets, \"quotes\"")
    rows = [
        Message.objects.create(
            conversation=conversation, user=alice, prompt=TRICKY_PROMPT, response="Answer with, commas",
            status="complete", model_key="claude", model_id="anthropic.claude", provider="bedrock-converse",
            client_request_id="r1", params={"temperature": 0.5, "system": "Be brief"}, input_tokens=10, output_tokens=50,
            ttft_ms=250, duration_ms=2250, upstream_request_id="req-abc", client_ip="198.51.100.7", user_agent="UA/1",
        )
    ]
    for n, formula in enumerate(FORMULAS):
        rows.append(Message.objects.create(
            conversation=conversation, user=alice, prompt=formula, response=formula, status="complete", model_key="local",
            model_id="local", provider="local", client_request_id=f"f{n}", error_detail=formula,
        ))
    other = Conversation.objects.create(user=bob, title="Bob's")
    rows.append(Message.objects.create(
        conversation=other, user=bob, prompt="Bob asks", status="error", error_code="throttled", model_key="claude",
        model_id="anthropic.claude", provider="bedrock-converse", client_request_id="b1",
    ))
    return rows


def read_csv(response) -> list[dict]:
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="messages-')
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body, newline="")))


def read_jsonl(response) -> list[dict]:
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("application/jsonl")
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def export_selected(client, fmt, messages):
    return client.post("/admin/chat/message/", {"action": f"export_{fmt}", "_selected_action": [m.pk for m in messages]})


def test_csv_of_selected_rows_round_trips_commas_quotes_and_newlines(client, staff, history):
    client.force_login(staff)
    rows = read_csv(export_selected(client, "csv", [history[0], history[-1]]))
    assert [row["id"] for row in rows] == [str(history[-1].pk), str(history[0].pk)]  # the list's order: newest first
    tricky = rows[1]
    assert tricky["prompt"] == TRICKY_PROMPT
    assert tricky["response"] == "Answer with, commas"
    assert tricky["conversation_title"] == 'Spreadsheets, "quotes"'
    assert tricky["user"] == "alice" and tricky["model_key"] == "claude" and tricky["status"] == "complete"
    assert tricky["input_tokens"] == "10" and tricky["output_tokens"] == "50" and tricky["ttft_ms"] == "250"
    assert tricky["tokens_per_second"] == "25.0"
    assert json.loads(tricky["params"]) == {"temperature": 0.5, "system": "Be brief"}
    assert tricky["upstream_request_id"] == "req-abc" and tricky["client_ip"] == "198.51.100.7"
    assert rows[0]["error_code"] == "throttled" and rows[0]["input_tokens"] == ""


def test_csv_neutralises_formulas(client, staff, history):
    client.force_login(staff)
    rows = read_csv(export_selected(client, "csv", history[1:-1]))
    assert sorted(row["prompt"] for row in rows) == sorted("'" + formula for formula in FORMULAS)
    for row in rows:
        assert row["response"] == row["prompt"] == row["error_detail"]
        assert row["response"][0] == "'"


def test_raw_csv_quotes_what_needs_quoting(client, staff, history):
    client.force_login(staff)
    body = b"".join(export_selected(client, "csv", [history[0]]).streaming_content).decode()
    assert '"Prices, ""quoted""\nand a second line"' in body
    assert ',"Answer with, commas",' in body


def test_jsonl_of_selected_rows_keeps_the_text_as_is(client, staff, history):
    client.force_login(staff)
    rows = read_jsonl(export_selected(client, "jsonl", history[:2]))
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {history[0].pk, history[1].pk}
    assert by_id[history[0].pk]["prompt"] == TRICKY_PROMPT
    assert by_id[history[0].pk]["params"] == {"temperature": 0.5, "system": "Be brief"}
    assert by_id[history[0].pk]["tokens_per_second"] == 25.0
    assert by_id[history[1].pk]["prompt"] == FORMULAS[0]  # JSON is data, not a spreadsheet: no apostrophe


def test_changelist_export_links_keep_the_filters_and_search(client, staff, history):
    client.force_login(staff)
    html = client.get("/admin/chat/message/", {"model_key": "claude", "q": "asks"}).content.decode()
    assert 'href="/admin/chat/message/export.csv?model_key=claude&amp;q=asks"' in html
    assert 'href="/admin/chat/message/export.jsonl?model_key=claude&amp;q=asks"' in html
    rows = read_jsonl(client.get("/admin/chat/message/export.jsonl", {"model_key": "claude", "q": "asks"}))
    assert [row["prompt"] for row in rows] == ["Bob asks"]
    rows = read_csv(client.get("/admin/chat/message/export.csv", {"model_key": "local"}))
    assert len(rows) == len(FORMULAS) and {row["model_key"] for row in rows} == {"local"}
    everything = read_csv(client.get("/admin/chat/message/export.csv"))
    assert len(everything) == Message.objects.count() == len(history)


def test_export_under_asgi_streams_without_reading_everything_first(staff, history):
    """Under daphne the rows are read chunk by chunk from an asynchronous iterator."""

    async def export():
        client = AsyncClient()
        await client.aforce_login(staff)
        response = await client.get("/admin/chat/message/export.csv", {"user__id__exact": history[-1].user_id})
        assert response.streaming and response.is_async
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    body = async_to_sync(export)()
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    assert [row["prompt"] for row in rows] == ["Bob asks"]


def test_export_is_for_staff_only(client, alice, django_user_model, history):
    assert client.get("/admin/chat/message/export.csv")["Location"].startswith("/admin/login/")
    client.force_login(alice)
    for url in ("/admin/chat/message/export.csv", "/admin/chat/message/export.jsonl"):
        page = client.get(url)
        assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    page = client.post("/admin/chat/message/", {"action": "export_csv", "_selected_action": [history[0].pk]})
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")

    clerk = django_user_model.objects.create_user("clerk", password="clerk-password-1", is_staff=True)
    client.force_login(clerk)
    assert client.get("/admin/chat/message/export.csv").status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_message"))
    assert client.get("/admin/chat/message/export.csv").status_code == 200


@pytest.fixture
def streamed(alice):
    """An answer with everything protocol v1.1 keeps: reasoning (starting like a formula), citations, a guardrail
    trace, cache tokens, cost, timings and the model a prompt router picked."""
    conversation = Conversation.objects.create(user=alice, title="Stream details")
    return Message.objects.create(
        conversation=conversation, user=alice, prompt="Why?", response="Because.", status="blocked",
        model_key="router", model_id="arn:aws:bedrock:us-east-1:123:default-prompt-router/anthropic.claude:1",
        provider="bedrock-converse", client_request_id="s1", stop_reason="guardrail_intervened",
        reasoning="=1+2 is what I computed,\nthen \"quoted\"", reasoning_signature="sig-not-exported",
        citations=[{"title": "Doc", "source": "https://docs.example/a", "location": "page 2", "text": "cited"}],
        guardrail={"action": "GUARDRAIL_INTERVENED", "reason": "", "assessments": [
            {"policy": "contentPolicy", "type": "HATE", "action": "BLOCKED", "confidence": "HIGH"}]},
        input_tokens=10, output_tokens=20, cache_read_input_tokens=3000, cache_write_input_tokens=0,
        cost=Decimal("0.00000001"), currency="USD", ttft_ms=100, answer_ms=900, duration_ms=1900, server_latency_ms=1700,
        invoked_model="-anthropic.claude-3-haiku",
    )


def test_csv_has_the_stream_details_with_text_neutralised(client, staff, streamed):
    client.force_login(staff)
    [row] = read_csv(export_selected(client, "csv", [streamed]))
    assert row["reasoning"] == "'=1+2 is what I computed,\nthen \"quoted\""  # a formula no spreadsheet runs
    assert row["invoked_model"] == "'-anthropic.claude-3-haiku"
    assert json.loads(row["citations"]) == streamed.citations
    assert json.loads(row["guardrail"]) == streamed.guardrail
    assert (row["cache_read_input_tokens"], row["cache_write_input_tokens"]) == ("3000", "0")
    assert (row["cost"], row["currency"]) == ("0.00000001", "USD")  # fixed-point, not 1E-8
    assert (row["ttft_ms"], row["answer_ms"], row["server_latency_ms"]) == ("100", "900", "1700")
    assert row["status"] == "blocked" and row["stop_reason"] == "guardrail_intervened"
    assert "sig-not-exported" not in json.dumps(row)


def test_jsonl_has_the_stream_details_as_data(client, staff, streamed, history):
    client.force_login(staff)
    rows = {row["id"]: row for row in read_jsonl(export_selected(client, "jsonl", [streamed, history[0]]))}
    row = rows[streamed.pk]
    assert row["reasoning"] == "=1+2 is what I computed,\nthen \"quoted\""
    assert row["citations"] == streamed.citations and row["guardrail"] == streamed.guardrail
    assert row["cost"] == "0.00000001" and row["currency"] == "USD"  # an exact decimal string, as in the protocol
    assert (row["cache_read_input_tokens"], row["answer_ms"], row["server_latency_ms"]) == (3000, 900, 1700)
    assert row["invoked_model"] == "-anthropic.claude-3-haiku"
    older = rows[history[0].pk]  # an answer from before protocol v1.1
    assert (older["reasoning"], older["citations"], older["guardrail"], older["cost"], older["currency"]) == ("", [], None, None, "")
