"""The page's conversation endpoints: a user sees, renames and deletes only their own conversations."""

import json

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices(alice):
    older = Conversation.objects.create(user=alice, title="Older")
    newer = Conversation.objects.create(user=alice, title="Newer")
    for n, status in enumerate(["complete", "streaming"]):
        Message.objects.create(conversation=newer, user=alice, prompt=f"q{n}", response=f"a{n}", status=status,
                               model_key="local", model_id="x", provider="local", client_request_id=f"r{n}",
                               input_tokens=3, output_tokens=n)
    Conversation.objects.filter(pk=older.pk).update(updated=older.updated.replace(year=2020))
    return older, newer


def test_logged_out_gets_401(client):
    for url in ("/api/conversations/", "/api/conversations/1/", "/api/models/"):
        assert client.get(url).status_code == 401


def test_list_is_newest_first_and_only_mine(client, alice, bob, alices):
    Conversation.objects.create(user=bob, title="Bob's")
    client.force_login(alice)
    titles = [c["title"] for c in client.get("/api/conversations/").json()["conversations"]]
    assert titles == ["Newer", "Older"]


def test_conversation_has_its_turns_in_order(client, alice, alices):
    _, newer = alices
    client.force_login(alice)
    data = client.get(f"/api/conversations/{newer.pk}/").json()
    assert [(m["prompt"], m["status"]) for m in data["messages"]] == [("q0", "complete"), ("q1", "streaming")]
    assert data["messages"][0]["usage"] == {"input_tokens": 3, "output_tokens": 0, "cache_read_input_tokens": None,
                                            "cache_write_input_tokens": None}
    assert data["messages"][0]["client_request_id"] == "r0"


def test_a_turn_carries_what_the_done_frame_carried(client, alice, alices):
    """A reloaded page shows a finished answer's reasoning, block, sources and cost as it showed them live."""
    _, newer = alices
    guardrail = {"action": "GUARDRAIL_INTERVENED", "reason": "Guardrail blocked.", "assessments": []}
    citations = [{"title": "Handbook", "source": "s3://hr/handbook.pdf", "location": "page 3", "text": "25 days"}]
    newer.messages.filter(prompt="q0").update(
        status="blocked", stop_reason="guardrail_intervened", reasoning="First, the rules.", guardrail=guardrail,
        citations=citations, cost="0.00612000", currency="USD", cache_read_input_tokens=1000, answer_ms=900,
        invoked_model="us.anthropic.claude-3-5-haiku-20241022-v1:0")
    client.force_login(alice)
    blocked, streaming = client.get(f"/api/conversations/{newer.pk}/").json()["messages"]
    assert blocked["reasoning"] == "First, the rules."
    assert (blocked["status"], blocked["guardrail"], blocked["citations"]) == ("blocked", guardrail, citations)
    assert blocked["cost"] == {"amount": "0.00612", "currency": "USD"}
    assert blocked["usage"]["cache_read_input_tokens"] == 1000 and blocked["metrics"]["answer_ms"] == 900
    assert blocked["invoked_model"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert (streaming["reasoning"], streaming["guardrail"], streaming["citations"], streaming["cost"],
            streaming["invoked_model"]) == ("", None, [], None, "")  # empty when they do not apply


def test_rename(client, alice, alices):
    older, _ = alices
    client.force_login(alice)
    response = client.patch(f"/api/conversations/{older.pk}/", json.dumps({"title": "  Renamed\nnicely "}),
                            content_type="application/json")
    assert response.status_code == 200 and response.json()["title"] == "Renamed nicely"
    bad = client.patch(f"/api/conversations/{older.pk}/", json.dumps({"title": ""}), content_type="application/json")
    assert bad.status_code == 400 and "title" in bad.json()["error"]
    older.refresh_from_db()
    assert older.title == "Renamed nicely"


def test_delete_hides_it_from_the_user_but_keeps_the_record_for_staff(client, alice, alices):
    older, _ = alices
    client.force_login(alice)
    assert client.delete(f"/api/conversations/{older.pk}/").status_code == 204
    assert [c["title"] for c in client.get("/api/conversations/").json()["conversations"]] == ["Newer"]
    assert client.get(f"/api/conversations/{older.pk}/").status_code == 404
    assert Conversation.objects.get(pk=older.pk).deleted_at is not None


def test_another_users_conversation_is_404_for_every_method(client, bob, alices):
    older, _ = alices
    client.force_login(bob)
    assert client.get(f"/api/conversations/{older.pk}/").status_code == 404
    assert client.patch(f"/api/conversations/{older.pk}/", json.dumps({"title": "mine"}),
                        content_type="application/json").status_code == 404
    assert client.delete(f"/api/conversations/{older.pk}/").status_code == 404
    older.refresh_from_db()
    assert older.title == "Older" and older.deleted_at is None


def test_changes_need_the_csrf_token(alice, alices):
    from django.test import Client

    older, _ = alices
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.delete(f"/api/conversations/{older.pk}/").status_code == 403
