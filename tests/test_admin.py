"""Staff review every prompt and answer in admin; nobody can edit them there."""

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(alice, bob):
    first = Conversation.objects.create(user=alice, title="Volcanoes")
    Message.objects.create(
        conversation=first, user=alice, prompt="Why do volcanoes erupt?", response="Magma pressure.",
        status="complete", model_key="m", model_id="m", provider="bedrock-converse", client_request_id="1",
        input_tokens=9, output_tokens=3, ttft_ms=210, duration_ms=900,
    )
    second = Conversation.objects.create(user=bob, title="Tides")
    return Message.objects.create(
        conversation=second, user=bob, prompt="What causes tides?", response="The moon",
        status="stopped", model_key="m", model_id="m", provider="bedrock-converse", client_request_id="2",
    )


def test_staff_sees_every_message_with_its_details(client, staff, history):
    client.force_login(staff)
    page = client.get("/admin/chat/message/")
    assert page.status_code == 200
    html = page.content.decode()
    for expected in ("Why do volcanoes erupt?", "What causes tides?", "alice", "bob", "210", "stopped"):
        assert expected in html


def test_staff_can_search_prompts_answers_and_users(client, staff, history):
    client.force_login(staff)
    by_answer = client.get("/admin/chat/message/", {"q": "magma"}).content.decode()
    assert "Why do volcanoes erupt?" in by_answer and "What causes tides?" not in by_answer
    by_user = client.get("/admin/chat/message/", {"q": "bob"}).content.decode()
    assert "What causes tides?" in by_user and "Why do volcanoes erupt?" not in by_user


def test_staff_can_filter_by_status(client, staff, history):
    client.force_login(staff)
    html = client.get("/admin/chat/message/", {"status__exact": "stopped"}).content.decode()
    assert "What causes tides?" in html and "Why do volcanoes erupt?" not in html


def test_nothing_can_be_added_or_edited(client, staff, history):
    client.force_login(staff)
    assert client.get("/admin/chat/message/add/").status_code == 403
    detail = client.get(f"/admin/chat/message/{history.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    client.post(f"/admin/chat/message/{history.pk}/change/", {"prompt": "tampered", "status": "complete"})
    history.refresh_from_db()
    assert history.prompt == "What causes tides?" and history.status == "stopped"
    assert client.get("/admin/chat/conversation/add/").status_code == 403
    assert client.get(f"/admin/chat/message/{history.pk}/delete/").status_code == 403
    assert Message.objects.filter(pk=history.pk).exists()


def test_non_staff_are_sent_to_login(client, alice, history):
    client.force_login(alice)
    page = client.get("/admin/chat/message/")
    assert page.status_code == 302 and "/admin/login/" in page["Location"]
